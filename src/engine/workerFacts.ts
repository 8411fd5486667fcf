/**
 * What a cached result depends on beyond the workflow: the libraries that computed it and the
 * device and dtype a model spec's `auto` became. A store shared between a CPU session and a GPU
 * session (a Drive-backed store on Colab) must not hand float32 CPU outputs to a float16 CUDA
 * run, nor results of torch 2.4 to torch 2.9. The facts come from the worker's `environment`
 * kernel, asked once per run; the resolution rule is python/polyquant/models/spec.py's
 * resolve_device / resolve_dtype, written again here because the key is made before Python runs.
 * A run whose steps all come from the cache must not start Python (well under a second of engine
 * time), so the versions are first read from the interpreter's site-packages (the dist-info folder
 * names are what importlib.metadata reports), and only where that is not conclusive is the worker asked.
 */
import { existsSync, readdirSync } from "node:fs"
import { dirname, join } from "node:path"
import { Effect } from "effect"
import { EnvironmentInfo } from "../kernels/internal.js"
import type { PythonRuntimeService } from "../python/PythonRuntime.js"
import type { KernelCallError } from "../python/errors.js"

export interface WorkerFacts {
  /** package → version (null when it does not import) for the packages that compute results */
  readonly libraries: Readonly<Record<string, string | null>>
  /** whether the worker sees a CUDA device (`device: auto` becomes cuda, `dtype: auto` float16) */
  readonly cuda: boolean
}

/** The packages whose versions enter every cache key. */
export const KEYED_LIBRARIES = ["torch", "transformers"] as const

/** Ask the worker once; the engine caches the answer for the run. */
export const workerFactsFrom = (runtime: PythonRuntimeService): Effect.Effect<WorkerFacts, KernelCallError> =>
  runtime.call("environment", { packages: [...KEYED_LIBRARIES] }).pipe(
    Effect.map((raw) => {
      const env = EnvironmentInfo.parse(raw)
      return { libraries: env.packages, cuda: (env.cuda?.devices.length ?? 0) > 0 }
    })
  )

/** The device `auto` (or a named one) resolves to on this worker, as spec.py resolves it. */
export const resolvedDevice = (device: string, facts: WorkerFacts): string => (device === "auto" ? (facts.cuda ? "cuda" : "cpu") : device)

/** The dtype `auto` resolves to for that device, as spec.py resolves it. */
export const resolvedDtype = (dtype: string, device: string): string => (dtype === "auto" ? (device.startsWith("cuda") ? "float16" : "float32") : dtype)

/** The interpreter's site-packages folders (a venv's, or a system Python's /usr/local/…/dist-packages). */
const packageDirs = (interpreter: string): string[] => {
  const prefix = dirname(dirname(interpreter)) // <prefix>/bin/python, a venv's symlink kept
  const out: string[] = []
  for (const lib of [join(prefix, "lib"), join(prefix, "local", "lib")]) {
    let entries: string[] = []
    try {
      entries = readdirSync(lib).filter((e) => /^python3\.\d+$/.test(e))
    } catch {
      continue
    }
    for (const e of entries) for (const sub of ["site-packages", "dist-packages"]) if (existsSync(join(lib, e, sub))) out.push(join(lib, e, sub))
  }
  return out
}

/**
 * The facts from files, without starting Python; undefined where they could mislead (PYTHONPATH
 * set, a package found twice or not at all): the caller then asks the worker. CUDA: a `+cpu` torch
 * never sees a device; another build sees one when the driver's device node is there and
 * CUDA_VISIBLE_DEVICES does not hide them all.
 */
export const workerFactsFromFiles = (interpreter: string, env: NodeJS.ProcessEnv = process.env): WorkerFacts | undefined => {
  if ((env["PYTHONPATH"] ?? "") !== "") return undefined
  const dirs = packageDirs(interpreter)
  const libraries: Record<string, string> = {}
  for (const name of KEYED_LIBRARIES) {
    const found = dirs.flatMap((d) => readdirSync(d).filter((e) => e.startsWith(`${name}-`) && e.endsWith(".dist-info")))
    if (found.length !== 1) return undefined
    libraries[name] = found[0]!.slice(name.length + 1, -".dist-info".length)
  }
  const torch = libraries["torch"]!
  const hidden = env["CUDA_VISIBLE_DEVICES"] !== undefined && env["CUDA_VISIBLE_DEVICES"].trim() === ""
  const cuda = !torch.includes("+cpu") && !hidden && existsSync("/dev/nvidiactl")
  return { libraries, cuda }
}

/** The facts for cache keys: from files where they are conclusive, else from the worker. */
export const workerFactsFor = (interpreter: string) => (runtime: PythonRuntimeService): Effect.Effect<WorkerFacts, KernelCallError> => {
  const fromFiles = workerFactsFromFiles(interpreter)
  return fromFiles !== undefined ? Effect.succeed(fromFiles) : workerFactsFrom(runtime)
}
