/**
 * How a run's changes reach the store and the views: every RunEvent is appended to the store's
 * event log, then shown; a finished step is written to its row, then announced.
 */
import { Effect } from "effect"
import type { PlannedStep } from "../plan/types.js"
import type { CacheKeyParts } from "../store/RunStore.js"
import type { StoreService } from "../store/Store.js"
import type { RunEvent } from "./events.js"
import type { StepOutcome } from "./state.js"

export interface FinishFields {
  readonly durationMs: number
  /** why a step was skipped, deferred, interrupted or cached */
  readonly reason?: string
  readonly cacheKey?: string
  readonly keyParts?: CacheKeyParts
  /** store the outputs in the cache under `cacheKey`, for this kernel version */
  readonly cache?: { readonly kernel: string; readonly version: string }
}

export interface Recorder {
  readonly emit: (event: RunEvent) => void
  /** for a store write that must not stop the run: on failure, a warning event says what was lost */
  readonly warnIfLost: (what: string) => (e: { readonly message: string }) => Effect.Effect<void>
  /** write the step's final row and emit step-finished; answers the outcome */
  readonly finish: (step: PlannedStep, outcome: StepOutcome, fields: FinishFields) => Effect.Effect<StepOutcome>
}

export const makeRecorder = (input: { readonly store: StoreService; readonly runId: string; readonly now: () => number; readonly onEvent?: (event: RunEvent) => void }): Recorder => {
  const { store, runId, now } = input
  const show = (event: RunEvent): void => {
    try {
      input.onEvent?.(event)
    } catch {
      // a failing view must not stop the run
    }
  }
  const emit = (event: RunEvent): void => {
    try {
      store.db.appendEvent(event)
    } catch (error) {
      // the event log is a record, not the state: a failed append does not stop the run, but it is said
      show({ type: "log", runId, t: now(), level: "warn", message: `the event log could not store a ${event.type} event: ${(error as Error).message}` })
    }
    show(event)
  }
  const warnIfLost = (what: string) => (e: { readonly message: string }) =>
    Effect.sync(() => emit({ type: "log", runId, t: now(), level: "warn", message: `${what} could not be stored: ${e.message}` }))

  const finish = (step: PlannedStep, outcome: StepOutcome, fields: FinishFields) =>
    Effect.gen(function* () {
      const t = now()
      yield* store
        .use("stepFinished", (d) =>
          d.stepFinished(runId, step.id, {
            status: outcome.status,
            now: t,
            durationMs: fields.durationMs,
            ...(outcome.outputs !== undefined ? { outputs: outcome.outputs } : {}),
            ...(outcome.error ? { error: outcome.error } : {}),
            ...(fields.reason !== undefined ? { reason: fields.reason } : {}),
            ...(fields.cacheKey !== undefined ? { cacheKey: fields.cacheKey } : {}),
            ...(fields.keyParts !== undefined ? { keyParts: fields.keyParts } : {}),
            ...(fields.cache ? { cache: fields.cache } : {})
          })
        )
        .pipe(Effect.catchAll((e) => Effect.sync(() => emit({ type: "log", runId, t, stepId: step.id, level: "error", message: e.message }))))
      emit({
        type: "step-finished",
        runId,
        t,
        stepId: step.id,
        status: outcome.status,
        durationMs: fields.durationMs,
        ...(fields.cacheKey !== undefined ? { cacheKey: fields.cacheKey } : {}),
        ...(outcome.outputs !== undefined ? { outputs: outcome.outputs } : {}),
        ...(outcome.error ? { error: outcome.error } : {}),
        ...(fields.reason !== undefined ? { reason: fields.reason } : {})
      })
      return outcome
    })

  return { emit, warnIfLost, finish }
}
