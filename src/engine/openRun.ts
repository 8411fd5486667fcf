/**
 * The run row a plan runs under: a new one, or the stored run being resumed, claimed by this
 * process. A resume refuses (RunBusyError) a run whose owner still runs it, and fails with
 * RunNotFoundError for an id the store does not hold; nothing is written then. A run that had
 * already succeeded is returned as `finished`, and nothing is written either.
 */
import { Effect } from "effect"
import type { Plan } from "../plan/types.js"
import { RunBusyError, RunNotFoundError, StoreWriteError } from "../store/errors.js"
import { thisProcess } from "../store/liveness.js"
import type { RunRecord, StepRecord } from "../store/RunStore.js"
import type { StoreService } from "../store/Store.js"

export interface OpenedRun {
  readonly runId: string
  readonly resumed: boolean
  readonly force: boolean
  /** the resumed run's steps as stored (empty for a new run) */
  readonly previous: ReadonlyMap<string, StepRecord>
  /** a resumed run that had already succeeded: it is left exactly as it was (nothing is written) */
  readonly finished?: RunRecord
}

export interface OpenRunInput {
  readonly plan: Plan
  /** the id for a new run (a resumed one keeps its own) */
  readonly runId: string
  readonly resume?: string
  readonly takeover: boolean
  readonly force?: boolean
  readonly sets: ReadonlyArray<string>
  readonly platform: string
  readonly now: number
}

const messageOf = (e: unknown): string => (e instanceof Error ? e.message : String(e))

export const openRun = (store: StoreService, input: OpenRunInput): Effect.Effect<OpenedRun, RunNotFoundError | RunBusyError | StoreWriteError> =>
  Effect.gen(function* () {
    const { plan, resume, now } = input
    const db = store.db
    const resumedRun =
      resume !== undefined
        ? yield* Effect.try({ try: () => db.requireRun(resume), catch: (e) => (e instanceof RunNotFoundError ? e : new RunNotFoundError({ runId: resume, known: [] })) })
        : undefined
    const runId = resumedRun?.id ?? input.runId
    const force = input.force ?? resumedRun?.options.force ?? false
    if (resumedRun?.status === "succeeded") {
      // a finished run is a record: resuming it must not touch its rows, its events or its duration
      return { runId, resumed: true, force, previous: new Map(db.getSteps(runId).map((s) => [s.stepId, s] as const)), finished: resumedRun }
    }
    // this process owns the run from here on
    const owner = thisProcess()
    if (resumedRun) {
      yield* Effect.try({
        try: () => db.claimRun(runId, owner, now, { takeover: input.takeover }),
        catch: (e) => (e instanceof RunBusyError || e instanceof RunNotFoundError ? e : new StoreWriteError({ operation: "claimRun", reason: messageOf(e) }))
      })
      yield* store.use("resumeRun", (d) => {
        for (const s of plan.steps) d.ensureStep(runId, s.id, s.uses)
      })
    } else {
      yield* store.use("createRun", (d) => d.createRun({ id: runId, plan, options: { sets: [...input.sets], force }, platform: input.platform, now, owner }))
    }
    const previous = new Map(resumedRun ? db.getSteps(runId).map((s) => [s.stepId, s] as const) : [])
    return { runId, resumed: resumedRun !== undefined, force, previous }
  })
