/**
 * Which Python runs the kernels: `POLYQUANT_PYTHON` (an interpreter that already has torch, as on
 * Colab or Kaggle), else the project's `.venv` made by `scripts/setup.mjs`. The one place that
 * decides it (scripts/setup.mjs repeats the rule in plain JavaScript, since it runs before the build).
 */
import { accessSync, constants, existsSync, statSync } from "node:fs"
import { homedir } from "node:os"
import { delimiter, dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"

let root: string | undefined

/**
 * The project root: the nearest folder above this file that holds python/polyquant/api.py
 * (two levels up from src/python/ or dist/python/; further from a bundled or test build).
 */
export const projectRoot = (): string => {
  if (root !== undefined) return root
  const here = dirname(fileURLToPath(import.meta.url))
  for (let dir = here; ; dir = dirname(dir)) {
    if (existsSync(join(dir, "python", "polyquant", "api.py"))) return (root = dir)
    if (dirname(dir) === dir) return (root = resolve(here, "..", ".."))
  }
}

/** python/polyquant/api.py, the module the bridge imports. */
export const apiPath = (root: string = projectRoot()): string => join(root, "python", "polyquant", "api.py")

export const venvPython = (root: string = projectRoot()): string =>
  process.platform === "win32" ? join(root, ".venv", "Scripts", "python.exe") : join(root, ".venv", "bin", "python")

export interface Interpreter {
  readonly path: string
  /** where the choice came from, for messages */
  readonly source: "POLYQUANT_PYTHON" | "venv"
  readonly exists: boolean
  /** the command that fixes a missing interpreter */
  readonly fix: string
}

export const resolveInterpreter = (env: NodeJS.ProcessEnv = process.env, root: string = projectRoot()): Interpreter => {
  const named = env.POLYQUANT_PYTHON?.trim()
  if (named) {
    const given = named.startsWith("~/") ? join(homedir(), named.slice(2)) : named
    const found = findExecutable(given, env)
    return {
      path: found ?? given,
      source: "POLYQUANT_PYTHON",
      exists: found !== undefined,
      fix: `point POLYQUANT_PYTHON at an interpreter with torch, or unset it and run \`npm install\``
    }
  }
  const path = venvPython(root)
  return { path, source: "venv", exists: isExecutableFile(path), fix: "run `npm install` in the polyquant folder (it creates .venv)" }
}

const isExecutableFile = (path: string): boolean => {
  try {
    if (!statSync(path).isFile()) return false
    accessSync(path, constants.X_OK)
    return true
  } catch {
    return false
  }
}

/** A path as given, or a bare name (`python3`) looked up on PATH; undefined when there is none. */
export const findExecutable = (name: string, env: NodeJS.ProcessEnv = process.env): string | undefined => {
  if (name.includes("/") || name.includes("\\")) return isExecutableFile(name) ? resolve(name) : undefined
  for (const dir of (env.PATH ?? "").split(delimiter)) {
    if (dir === "") continue
    const candidate = join(dir, name)
    if (isExecutableFile(candidate)) return candidate
  }
  return undefined
}

