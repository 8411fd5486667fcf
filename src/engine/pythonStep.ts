/**
 * A Python step: its models made available, its parameters and cache key prepared, its outputs
 * taken from the cache when an earlier run computed them, its budget checked, then attempts until
 * one succeeds, the run is stopped, or its retries are spent. Each attempt's status and every
 * second of wall time are recorded (the ledger); outputs are checked against the kernel's schema.
 */
import { Duration, Effect } from "effect"
import type { KernelDefinition } from "../kernels/define.js"
import type { PlannedStep } from "../plan/types.js"
import type { KernelCallError } from "../python/errors.js"
import type { Budgets } from "./budgets.js"
import type { KernelError } from "./events.js"
import type { RunContext } from "./context.js"
import { ensureModels, type EnsureModel } from "./ensureModels.js"
import { recordedError, StepOutputInvalidError, StepPrepareError, type Interrupted, type ModelUnavailableError } from "./errors.js"
import { prepareStep, stepModels, type PreparedStep } from "./prepare.js"
import { pythonAttempt } from "./pythonAttempt.js"
import { delayFor, policyFor, shouldRetry } from "./retry.js"
import { failedOutcome } from "./state.js"
import type { StopSignal } from "./StopSignal.js"

const issuesText = (issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }>): string =>
  issues.map((i) => `${i.path.length > 0 ? `outputs.${i.path.map(String).join(".")}` : "outputs"}: ${i.message}`).join("; ")

const prepare = (ctx: RunContext, step: PlannedStep, kernel: KernelDefinition, withValue: Record<string, unknown>) =>
  Effect.gen(function* () {
    const worker = ctx.workerFacts
      ? yield* ctx.workerFacts.pipe(
          Effect.mapError((e) => new StepPrepareError({ stepId: step.id, reason: `the worker's library versions and devices (for the cache key) could not be read: ${e.message}`, causeTag: e._tag }))
        )
      : undefined
    return yield* Effect.try({
      try: () => prepareStep({ step, kernel, withValue, upstream: ctx.outcomes, baseDir: ctx.baseDir, store: ctx.db, ...(worker ? { worker } : {}) }),
      catch: (error) => {
        const e = error as { _tag?: unknown; message?: unknown }
        return new StepPrepareError({ stepId: step.id, reason: String(e.message), ...(typeof e._tag === "string" ? { causeTag: e._tag } : {}) })
      }
    })
  })

/** The call ended because the run was asked to stop: forced, or the kernel stopped (or its worker died) after the request. */
const endedByStop = (stop: StopSignal, failure: KernelCallError | Interrupted): boolean =>
  failure._tag === "Interrupted" || (stop.requested && ((failure._tag === "KernelFailedError" && failure.type === "KernelStopped") || failure._tag === "KernelCrashedError"))

/** Attempts until one succeeds, the run is stopped, or the step's retries are spent. */
const attempts = (ctx: RunContext, budgets: Budgets, step: PlannedStep, kernel: KernelDefinition, prepared: PreparedStep) =>
  Effect.gen(function* () {
    const { runId, now, stop } = ctx
    const keyed = { cacheKey: prepared.key, keyParts: prepared.parts }
    let params = prepared.params
    // a resumed step numbers its attempts after the stored ones
    let attempt = ctx.previous.get(step.id)?.attempts ?? 0
    const firstAttempt = attempt + 1
    const runStart = now()
    // the budgets charge every worker's time: a sweep lent helper actors held them all along
    let workers = 1
    const charge = (durationMs: number) => budgets.charge(step, (durationMs / 1000) * workers)
    for (;;) {
      attempt += 1
      const result = yield* pythonAttempt(ctx, step, params, attempt, (n) => (workers = Math.max(workers, n)))
      const tEnd = now()
      const durationMs = tEnd - runStart
      const ended = (status: "succeeded" | "failed" | "interrupted", error?: KernelError) =>
        ctx.store.use("attemptFinished", (d) => d.attemptFinished(runId, step.id, attempt, status, error, tEnd))
      if (result._tag === "Right") {
        const parsed = kernel.outputs.safeParse(result.right)
        if (!parsed.success) {
          const error = recordedError(new StepOutputInvalidError({ stepId: step.id, kernel: kernel.name, issues: issuesText(parsed.error.issues) }))
          yield* ended("failed", error)
          yield* charge(durationMs)
          return yield* ctx.finish(step, failedOutcome(step, error), { durationMs, ...keyed })
        }
        yield* ended("succeeded")
        yield* charge(durationMs)
        return yield* ctx.finish(step, { status: "succeeded", outputs: parsed.data }, { durationMs, ...keyed, cache: { kernel: step.uses, version: kernel.version } })
      }
      const error = recordedError(result.left)
      if (endedByStop(stop, result.left)) {
        yield* ended("interrupted", error)
        yield* charge(durationMs)
        return yield* ctx.finish(step, { status: "interrupted" }, { durationMs, reason: "stopped by the user; its last checkpoint is stored", ...keyed })
      }
      yield* ended("failed", error)
      const retry = attempt - firstAttempt + 1
      if (!stop.requested && shouldRetry(step.retry, error, retry)) {
        const policy = policyFor(error.type)
        const delay = yield* delayFor(policy, retry)
        params = policy.adjust(params)
        ctx.emit({ type: "log", runId, t: now(), stepId: step.id, level: "warn", message: `attempt ${attempt} failed with ${error.type}: ${error.message.split("\n")[0]}; retrying (policy ${policy.name}) in ${Duration.toMillis(delay)} ms` })
        yield* Effect.sleep(delay)
        continue
      }
      yield* charge(durationMs)
      return yield* ctx.finish(step, failedOutcome(step, error), { durationMs, ...keyed })
    }
  })

export const pythonStep = (ctx: RunContext, budgets: Budgets, step: PlannedStep, kernel: KernelDefinition, withValue: Record<string, unknown>, ensureModel?: EnsureModel) =>
  Effect.suspend(() => {
    const { runId, now } = ctx
    const t0 = now()
    // the step's own preparation failed: continue_on_error covers it, as it covers the kernel's failures
    const failed = (error: ModelUnavailableError | StepPrepareError) => ctx.finish(step, failedOutcome(step, recordedError(error)), { durationMs: now() - t0 })
    return Effect.gen(function* () {
      if (ctx.stop.requested) return yield* ctx.finish(step, { status: "interrupted" }, { durationMs: 0, reason: "the run was stopped before this step started" })
      if (ensureModel) yield* ensureModels(ctx, step, stepModels(kernel, withValue), ensureModel)
      const prepared = yield* prepare(ctx, step, kernel, withValue)
      const keyed = { cacheKey: prepared.key, keyParts: prepared.parts }
      yield* ctx.store.use("setStepKey", (d) => d.setStepKey(runId, step.id, prepared.key, prepared.parts))
      const hit = ctx.force ? undefined : ctx.db.cacheGet(prepared.key)
      if (hit) return yield* ctx.finish(step, { status: "cached", outputs: hit.outputs }, { durationMs: now() - t0, ...keyed, reason: `outputs of run ${hit.runId} step ${hit.stepId}` })
      const deferral = budgets.deferral(step, prepared.models)
      if (deferral !== undefined) {
        ctx.emit({ type: "step-deferred", runId, t: now(), stepId: step.id, reason: deferral })
        return yield* ctx.finish(step, { status: "deferred" }, { durationMs: now() - t0, reason: deferral, ...keyed })
      }
      return yield* attempts(ctx, budgets, step, kernel, prepared)
    }).pipe(Effect.catchTags({ ModelUnavailableError: failed, StepPrepareError: failed }))
  })
