/**
 * `polyquant doctor [--store PATH]`: what polyquant runs on. Node, the Python interpreter (path,
 * version), torch, transformers and the other Python packages, CUDA (device name and memory) or
 * CPU, Ray (the extra; with --ray-address, the cluster's nodes, CPUs and GPUs), SQLite, the
 * fixture models and the store. Everything missing comes with the exact command
 * that fixes it; the exit code is 1 when something required is missing.
 * The Python facts come from the `environment` kernel, run through the PythonRuntime, so a
 * passing doctor means the bridge itself works.
 */
import { closeSync, existsSync, openSync, readSync, statSync } from "node:fs"
import { join, resolve } from "node:path"
import { Effect, Either } from "effect"
import { describeKernelError } from "../../python/errors.js"
import { FIXTURE_NAMES, fixtureStatus, type FixtureStatus } from "../../python/fixtures.js"
import { projectRoot, resolveInterpreter, type Interpreter } from "../../python/interpreter.js"
import { PythonRuntime, PythonRuntimeLive } from "../../python/PythonRuntime.js"
import { rayCluster, rayVersion, type RayCluster } from "../../python/extras.js"
import { EnvironmentInfo, REQUIRED_PACKAGES } from "../../kernels/internal.js"
import { ExitCode } from "../command.js"
import { parseFlagsOrReport } from "../flags.js"
import { writeProblem } from "../paths.js"
import { table } from "./index.js"

// what python/polyquant/kernels/environment.py returns: its contract (src/kernels/internal.ts)
export type { EnvironmentInfo } from "../../kernels/internal.js"

export interface DoctorFacts {
  readonly node: string
  readonly interpreter: Interpreter
  /** the environment kernel's answer, when the worker started */
  readonly environment?: EnvironmentInfo
  /** why the worker could not start or the kernel failed */
  readonly workerError?: string
  /** undefined: better-sqlite3 loads; otherwise why not */
  readonly sqliteError?: string
  readonly fixtures: ReadonlyArray<FixtureStatus>
  readonly storePath: string
  /** why the file at storePath cannot be the store (a folder, not SQLite, unreadable); see storeFileProblem */
  readonly storeProblem?: string
  /** the ray extra: its version (null: not installed), and the cluster `--ray-address` names */
  readonly ray?: { readonly version: string | null; readonly cluster?: RayCluster | string }
}

export interface Problem {
  readonly what: string
  readonly fix: string
  /** required: polyquant cannot run without it (exit 1) */
  readonly required: boolean
}

export interface Diagnosis {
  readonly lines: ReadonlyArray<string>
  readonly problems: ReadonlyArray<Problem>
  readonly ok: boolean
}

/** Python packages polyquant cannot run without (python/requirements.txt minus pytest). */
export { REQUIRED_PACKAGES } from "../../kernels/internal.js"
const MIN_NODE: readonly [number, number] = [20, 19]

export const GIB = 1024 ** 3

/** `79.6 GiB` from bytes. */
export const formatGiB = (bytes: number): string => `${(bytes / GIB).toFixed(1)} GiB`

const row = (label: string, value: string): string => `${label.padEnd(14)}${value}`

export const diagnose = (facts: DoctorFacts): Diagnosis => {
  const lines: string[] = []
  const problems: Problem[] = []
  const requirements = join(projectRoot(), "python", "requirements.txt")

  const [major = 0, minor = 0] = facts.node.split(".").map(Number)
  const nodeOk = major > MIN_NODE[0] || (major === MIN_NODE[0] && minor >= MIN_NODE[1])
  lines.push(row("node", `${facts.node}${nodeOk ? "" : `  (too old: needs >= ${MIN_NODE.join(".")})`}`))
  if (!nodeOk) problems.push({ what: `Node ${facts.node} is older than ${MIN_NODE.join(".")}`, fix: "install Node 20.19 or newer (`nvm install 20`)", required: true })

  const source = facts.interpreter.source === "venv" ? "the project's .venv" : "POLYQUANT_PYTHON"
  if (!facts.interpreter.exists) {
    lines.push(row("python", `missing: ${facts.interpreter.path} (${source})`))
    problems.push({ what: `no Python interpreter at ${facts.interpreter.path} (${source})`, fix: facts.interpreter.fix, required: true })
  } else if (facts.environment === undefined) {
    lines.push(row("python", `${facts.interpreter.path} (${source}) does not start the worker`))
    problems.push({
      what: `the Python worker did not start: ${facts.workerError ?? "unknown error"}`,
      fix: facts.interpreter.source === "venv" ? "run `npm install` (it repairs .venv), then `polyquant doctor` again" : facts.interpreter.fix,
      required: true
    })
  } else {
    const env = facts.environment
    lines.push(row("python", `${env.python}  ${env.executable} (${source})`))
    const pipFix = `${facts.interpreter.source === "venv" ? "run `npm install`, or " : ""}run \`${facts.interpreter.path} -m pip install -r ${requirements}\``
    for (const name of REQUIRED_PACKAGES) {
      const version = env.packages[name] ?? null
      lines.push(row(name, version ?? "missing"))
      if (version === null) problems.push({ what: `the Python package ${name} is missing`, fix: pipFix, required: true })
    }
    if (env.cuda !== null && env.cuda.devices.length > 0) {
      for (const d of env.cuda.devices) {
        lines.push(row(d.index === 0 ? "device" : "", `cuda:${d.index} ${d.name} (${formatGiB(d.memory_bytes)})${d.index === 0 && env.cuda.version ? `, CUDA ${env.cuda.version}` : ""}`))
      }
    } else if (env.packages.torch) {
      lines.push(row("device", `CPU (${env.cpu_threads ?? "?"} torch threads; no CUDA device)`))
    } else {
      lines.push(row("device", `unknown (torch does not import${env.torch_error ? `: ${env.torch_error}` : ""})`))
    }
  }

  if (facts.ray !== undefined) {
    lines.push(row("ray", facts.ray.version ?? "not installed (the Ray executor, --executor ray, is an extra: `POLYQUANT_EXTRAS=ray npm install`)"))
    const cluster = facts.ray.cluster
    if (typeof cluster === "string") {
      lines.push(row("ray cluster", `cannot be joined: ${cluster}`))
      problems.push({ what: `the Ray cluster cannot be joined (${cluster})`, fix: "start it (`ray start --head` on the head node) or pass its address: --ray-address HOST:PORT", required: false })
    } else if (cluster !== undefined) {
      lines.push(row("ray cluster", `${cluster.address}: ${cluster.nodes} node(s), ${cluster.cpus} CPUs, ${cluster.gpus} GPUs (--executor ray makes ${cluster.gpus > 0 ? `${cluster.gpus} GPU actor(s)` : "2 CPU actors"})`))
    }
  }
  lines.push(row("sqlite", facts.sqliteError === undefined ? "better-sqlite3 loads" : `better-sqlite3 does not load: ${facts.sqliteError}`))
  if (facts.sqliteError !== undefined) problems.push({ what: "the SQLite driver (better-sqlite3) does not load", fix: "run `npm rebuild better-sqlite3` (or `npm install`)", required: true })

  facts.fixtures.forEach((f, i) => {
    lines.push(row(i === 0 ? "fixtures" : "", `fixture:${f.name} ${f.trained ? "trained" : "not trained"}  ${f.dir}`))
  })
  const untrained = facts.fixtures.filter((f) => !f.trained)
  if (untrained.length > 0) {
    problems.push({
      what: `fixture models not trained yet: ${untrained.map((f) => `fixture:${f.name}`).join(", ")} (they train on first use, about a minute each)`,
      fix: "run `polyquant fixture`",
      required: false
    })
  }

  if (facts.storeProblem !== undefined) {
    lines.push(row("store", `${facts.storePath} ${facts.storeProblem}`))
    problems.push({
      what: `the store ${facts.storePath} ${facts.storeProblem}`,
      fix: "move that file away (the next run creates a new store there), or point --store at the right file",
      required: true
    })
  } else lines.push(row("store", `${facts.storePath}${existsSync(facts.storePath) ? "" : " (created by the first run)"}`))
  return { lines, problems, ok: problems.every((p) => !p.required) }
}

export const render = (diagnosis: Diagnosis): string => {
  const out = [...diagnosis.lines]
  if (diagnosis.problems.length > 0) {
    out.push("")
    for (const p of diagnosis.problems) out.push(`${p.required ? "missing" : "note"}: ${p.what}\n  fix: ${p.fix}`)
  }
  out.push("", diagnosis.ok ? "polyquant is ready." : "polyquant cannot run until the missing parts above are fixed.")
  return out.join("\n") + "\n"
}

const SQLITE_HEADER = "SQLite format 3\0"

/**
 * Why the file at `path` cannot be a run store: a folder, an unreadable file, or a file that is
 * not SQLite (its first 16 bytes are not SQLite's header); undefined when it is missing, empty
 * (SQLite makes a database of an empty file) or a SQLite database.
 */
export const storeFileProblem = (path: string): string | undefined => {
  let fd: number | undefined
  try {
    const stat = statSync(path)
    if (stat.isDirectory()) return "is a folder, not a SQLite database file"
    if (stat.size === 0) return undefined
    fd = openSync(path, "r")
    const header = Buffer.alloc(SQLITE_HEADER.length)
    const read = readSync(fd, header, 0, header.length, 0)
    return header.subarray(0, read).toString("latin1") === SQLITE_HEADER ? undefined : "is not a SQLite database (it does not start with SQLite's header)"
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === "ENOENT") return undefined
    if (code === "ENOTDIR") return `cannot be created: ${writeProblem(path, "file") ?? "a part of its path is a file"}`
    return `cannot be read (${code ?? (error as Error).message})`
  } finally {
    if (fd !== undefined) closeSync(fd)
  }
}

/** Gather the facts: the environment kernel through the runtime in context, plus local checks. */
export const gatherFacts = (storePath: string, rayAddress?: string): Effect.Effect<DoctorFacts, never, PythonRuntime> =>
  Effect.gen(function* () {
    const interpreter = resolveInterpreter()
    let environment: EnvironmentInfo | undefined
    let workerError: string | undefined
    if (interpreter.exists) {
      const runtime = yield* PythonRuntime
      const result = yield* Effect.either(runtime.call("environment", {}))
      const parsed = Either.isRight(result) ? EnvironmentInfo.safeParse(result.right) : undefined
      if (parsed?.success === true) environment = parsed.data
      else if (parsed !== undefined) workerError = `the environment kernel's answer does not match its contract: ${parsed.error.message}`
      else if (Either.isLeft(result)) {
        const d = describeKernelError(result.left)
        workerError = `${d.type}: ${d.message}${d.logTail ? `\n${d.logTail}` : ""}`
      }
    }
    const sqliteError = yield* Effect.promise(async () => {
      try {
        const { default: Database } = await import("better-sqlite3")
        new Database(":memory:").close()
        return undefined
      } catch (error) {
        return error instanceof Error ? error.message : String(error)
      }
    })
    const storeProblem = storeFileProblem(resolve(storePath))
    const rayInstalled = interpreter.exists ? (rayVersion(interpreter.path) ?? null) : null
    const cluster = rayAddress !== undefined && rayInstalled !== null ? rayCluster(interpreter.path, rayAddress) : undefined
    return {
      node: process.versions.node,
      interpreter,
      ...(environment !== undefined ? { environment } : {}),
      ...(workerError !== undefined ? { workerError } : {}),
      ...(sqliteError !== undefined ? { sqliteError } : {}),
      fixtures: FIXTURE_NAMES.map((name) => fixtureStatus(name)),
      storePath: resolve(storePath),
      ...(storeProblem !== undefined ? { storeProblem } : {}),
      ray: { version: rayInstalled, ...(cluster !== undefined ? { cluster } : {}) }
    }
  })

export const run = async (args: ReadonlyArray<string>): Promise<number> => {
  const parsed = parseFlagsOrReport(table.doctor, args)
  if (parsed === undefined) return ExitCode.invalidInput
  const store = parsed.values.store ?? join(".polyquant", "polyquant.db")
  const facts = await Effect.runPromise(Effect.scoped(gatherFacts(store, parsed.values["ray-address"])).pipe(Effect.provide(PythonRuntimeLive())))
  const diagnosis = diagnose(facts)
  process.stdout.write(render(diagnosis))
  return diagnosis.ok ? 0 : 1
}
