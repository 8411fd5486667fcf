/**
 * What a cached result depends on beyond the workflow: the libraries that computed it and the
 * device and dtype a model spec's `auto` became. A store shared between a CPU session and a GPU
 * session (a Drive-backed store on Colab) must not hand float32 CPU outputs to a float16 CUDA
 * run, nor results of torch 2.4 to torch 2.9. The facts come from the worker's `environment`
 * kernel, asked once per run; the resolution rule is python/polyquant/models/spec.py's
 * resolve_device / resolve_dtype, written again here because the key is made before Python runs.
 */
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
