/**
 * The run store as the commands open it: a store they cannot write is named before anything
 * runs (which file or folder lacks write permission), a store that does not open is one line,
 * and a run is found by its id or a prefix of it (an ambiguous prefix names the runs it matches).
 */
import { statSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { DEFAULT_STORE_PATH, RunStore, type RunRecord } from "../store/RunStore.js"
import { RunNotFoundError, StoreOpenError } from "../store/errors.js"
import { writable } from "./paths.js"

const isDirectory = (path: string): boolean | undefined => {
  try {
    return statSync(path).isDirectory()
  } catch {
    return undefined // missing, or under a file: RunStore.open says which
  }
}

/**
 * Why the store at `path` cannot be written (a read-only database file, or a read-only folder
 * that holds it or its runs and artifacts), or undefined when nothing says so before trying.
 */
export const storeWriteProblem = (path: string): string | undefined => {
  const file = resolve(path)
  const root = dirname(file)
  if (isDirectory(root) === true && !writable(root)) return `no write permission on its folder ${root} (SQLite writes its -wal and -shm files there)`
  if (isDirectory(file) === false && !writable(file)) return "no write permission on the database file"
  for (const sub of ["runs", "artifacts"]) {
    const dir = join(root, sub)
    if (isDirectory(dir) === true && !writable(dir)) return `no write permission on its folder ${dir}`
  }
  return undefined
}

/** The line for a store that cannot be written, or undefined when it can. */
export const storeWriteError = (command: string, path: string): string | undefined => {
  const problem = storeWriteProblem(path)
  return problem === undefined ? undefined : `polyquant ${command}: the run store ${resolve(path)} is read-only: ${problem}`
}

/** Open the store for a read command; prints the error and returns undefined when it cannot. */
export const openStoreForCli = (command: string, path: string | undefined): RunStore | undefined => {
  const file = path ?? DEFAULT_STORE_PATH
  try {
    return RunStore.open(file)
  } catch (error) {
    // a read-only folder: in WAL mode SQLite writes its -shm file beside the database even to read
    const problem = storeWriteProblem(file)
    const message =
      error instanceof StoreOpenError
        ? problem !== undefined
          ? `cannot open the run store at ${error.path}: ${problem}`
          : error.message
        : String(error)
    process.stderr.write(`polyquant ${command}: ${message}\n`)
    return undefined
  }
}

/** Find a run (id or unique prefix); prints the error and returns undefined when there is none. */
export const findRunForCli = (command: string, store: RunStore, runId: string | undefined): RunRecord | undefined => {
  if (runId === undefined) {
    process.stderr.write(`polyquant ${command}: name a run (see \`polyquant runs\`)\n`)
    return undefined
  }
  try {
    return store.requireRun(runId)
  } catch (error) {
    process.stderr.write(`polyquant ${command}: ${error instanceof RunNotFoundError ? error.message : String(error)}\n`)
    return undefined
  }
}
