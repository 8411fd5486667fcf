/**
 * The executor a run uses: `local` (one worker, the default) or `ray` (Ray actors driven from the
 * worker: python/polyquant/executor). The choice comes from the command line (`--executor`,
 * `--ray-address`), else from the workflow's `runtime:` block; the executor is never part of a
 * cache key, since both give the same outputs.
 */
import type { ExecutorConfig } from "../python/PythonRuntime.js"
import type { RuntimeSpec } from "../workflow/types.js"

/** `auto`, or HOST:PORT (a Ray cluster's GCS address), or ray://HOST:PORT (Ray Client). */
const RAY_ADDRESS = /^(auto|(ray:\/\/)?[A-Za-z0-9.\-_[\]:]+:\d{1,5})$/

export interface ExecutorFlags {
  readonly executor?: string
  readonly rayAddress?: string
}

/** The executor, or a message naming what is wrong and where. */
export const resolveExecutor = (flags: ExecutorFlags, runtime: RuntimeSpec | undefined): ExecutorConfig | { readonly error: string } => {
  const kind = flags.executor ?? runtime?.executor ?? (flags.rayAddress !== undefined ? "ray" : "local")
  if (kind !== "local" && kind !== "ray") return { error: `--executor must be local or ray, got '${kind}'` }
  const address = flags.rayAddress ?? runtime?.rayAddress
  if (kind === "local") {
    if (flags.rayAddress !== undefined) return { error: "--ray-address needs the Ray executor (drop --executor local, or pass --executor ray)" }
    return { kind: "local" }
  }
  if (address !== undefined && !RAY_ADDRESS.test(address)) {
    const where = flags.rayAddress !== undefined ? "--ray-address" : "runtime.ray_address"
    return { error: `${where} must be auto or HOST:PORT (e.g. 10.0.0.5:6379), got '${address}'` }
  }
  return {
    kind: "ray",
    ...(address !== undefined ? { address } : {}),
    ...(runtime?.actors !== undefined ? { actors: runtime.actors } : {}),
    ...(runtime?.threads !== undefined ? { threads: runtime.threads } : {})
  }
}

/** How many Python steps the engine lets run at once: the Ray pool queues what it cannot place. */
export const pythonConcurrencyOf = (executor: ExecutorConfig): number => (executor.kind === "ray" ? Number.POSITIVE_INFINITY : 1)
