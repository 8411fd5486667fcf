/**
 * A custom step written in TypeScript (the DSL's `step.custom`): run in this process, concurrently
 * with other local steps, once (no retries, no cache), under the step's timeout.
 */
import { Duration, Effect } from "effect"
import type { PlannedStep } from "../plan/types.js"
import type { RunContext } from "./context.js"
import { LocalStepError, recordedError } from "./errors.js"
import { failedOutcome, type StepsState } from "./state.js"

/** A custom step's implementation: an Effect over earlier outputs. */
export type LocalStep = (input: {
  readonly step: PlannedStep
  readonly with: Record<string, unknown>
  readonly steps: StepsState
}) => Effect.Effect<unknown, unknown>

/** What a custom step failed with, as a tagged error: its own when it has a tag, else a LocalStepError. */
const taggedFailure = (step: PlannedStep, failure: unknown): { readonly _tag: string; readonly message: string } => {
  const e = (failure ?? {}) as { _tag?: unknown; message?: unknown }
  const message = typeof e.message === "string" ? e.message : String(failure)
  return typeof e._tag === "string" ? { _tag: e._tag, message } : new LocalStepError({ stepId: step.id, reason: message })
}

export const localStep = (ctx: RunContext, step: PlannedStep, impl: LocalStep, withValue: Record<string, unknown>) =>
  Effect.gen(function* () {
    const { runId, now } = ctx
    const t0 = now()
    yield* ctx.store.use("stepStarted", (d) => d.stepStarted(runId, step.id, 1, withValue, t0))
    ctx.emit({ type: "step-started", runId, t: t0, stepId: step.id, attempt: 1 })
    let effect = impl({ step, with: withValue, steps: ctx.stepsState() })
    if (step.timeoutSeconds !== undefined) {
      const timeout = new LocalStepError({ stepId: step.id, reason: `step ${step.id} ran past its timeout of ${step.timeoutSeconds} s` })
      effect = effect.pipe(Effect.timeoutFail({ duration: Duration.seconds(step.timeoutSeconds), onTimeout: () => timeout }))
    }
    const result = yield* Effect.either(effect)
    const durationMs = now() - t0
    if (result._tag === "Right") return yield* ctx.finish(step, { status: "succeeded", outputs: result.right }, { durationMs })
    return yield* ctx.finish(step, failedOutcome(step, recordedError(taggedFailure(step, result.left))), { durationMs })
  })
