/**
 * Named retry policies, chosen by the error class a failed attempt ended with. A step retries
 * only errors its `retry.on` lists (or, when `on` is empty, errors the kernel marked retryable),
 * at most `retry.max` times. A policy gives the pause before the next attempt and may adjust
 * the parameters: out of memory halves `batch_size` when the kernel has one.
 */
import { Chunk, Duration, Effect, Option, Schedule } from "effect"

export interface RetryPolicy {
  readonly name: string
  /** pauses between attempts (the n-th retry waits the n-th delay) */
  readonly schedule: Schedule.Schedule<unknown>
  /** the parameters of the next attempt */
  readonly adjust: (params: Record<string, unknown>) => Record<string, unknown>
}

const halveBatchSize = (params: Record<string, unknown>): Record<string, unknown> =>
  typeof params["batch_size"] === "number" && params["batch_size"] > 1 ? { ...params, batch_size: Math.max(1, Math.floor(params["batch_size"] / 2)) } : params

export const RetryPolicies = {
  /** CUDA/CPU out of memory: free the cache, try again with half the batch */
  outOfMemory: { name: "outOfMemory", schedule: Schedule.spaced("500 millis"), adjust: halveBatchSize },
  /** the worker died: the next attempt starts a fresh worker, after a growing pause */
  workerCrash: { name: "workerCrash", schedule: Schedule.exponential("1 second", 2), adjust: (p) => p },
  /** anything else a step chose to retry */
  transient: { name: "transient", schedule: Schedule.exponential("200 millis", 2), adjust: (p) => p }
} as const satisfies Record<string, RetryPolicy>

export const policyFor = (errorType: string): RetryPolicy =>
  errorType === "OutOfMemoryError" ? RetryPolicies.outOfMemory : errorType === "KernelCrashedError" ? RetryPolicies.workerCrash : RetryPolicies.transient

/** Whether a failed attempt is retried, given the step's `retry` block and attempts so far. */
export const shouldRetry = (retry: { readonly max: number; readonly on: ReadonlyArray<string> }, error: { type: string; retryable?: boolean }, attempt: number): boolean => {
  if (attempt > retry.max) return false
  return retry.on.length > 0 ? retry.on.includes(error.type) : error.retryable === true
}

/** The pause before retry number `n` (1-based) under a policy. */
export const delayFor = (policy: RetryPolicy, n: number): Effect.Effect<Duration.Duration> =>
  Schedule.run(Schedule.delays(policy.schedule), 0, Array.from({ length: n }, () => undefined)).pipe(
    Effect.map((delays) => Option.getOrElse(Chunk.last(delays), () => Duration.zero))
  )
