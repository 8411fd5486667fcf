/**
 * The engine: runs a Plan (src/plan/types.ts) and reports every change as a RunEvent
 * (src/engine/events.ts) through `onEvent`, after writing it to the store's event log.
 *
 * Every step is a fiber that waits for its needs, then decides (needs met? `if:` true? budget
 * left? cached?) and runs. TypeScript (local) steps run concurrently; Python steps take the one
 * worker in turn (a semaphore of 1), so steps that share a model share one resident copy. On the
 * Ray executor (`pythonConcurrency` > 1) independent Python steps run at once, each on an actor
 * the worker picks (python/polyquant/executor/pool.py); models are still made available one at a
 * time (two steps would train the same fixture twice).
 * Statuses: pending, running, succeeded, failed, skipped, cached, deferred, interrupted.
 * A resumed run reuses what succeeded (or came from the cache) and reruns the rest; a step that
 * checkpoints gets its last stored checkpoint back at `checkpoint_path`.
 *
 * This file is the schedule; the parts are beside it: openRun (the run row), gate (needs and
 * `if:`), localStep, pythonStep (cache, budget, retries) with pythonAttempt (one kernel call),
 * budgets (deferral and the ledger), StopSignal, recorder (store rows and events). A step's
 * failure is a tagged error (errors.ts) until runStep records it.
 */
import { randomBytes } from "node:crypto"
import { dirname, resolve as resolvePath } from "node:path"
import { Deferred, Effect } from "effect"
import { findKernel, kernelNames } from "../kernels/catalog.js"
import type { KernelDefinition } from "../kernels/define.js"
import type { Plan, PlannedStep } from "../plan/types.js"
import { PythonRuntime, type PythonRuntimeService } from "../python/PythonRuntime.js"
import type { KernelCallError } from "../python/errors.js"
import { Store, type StoreService } from "../store/Store.js"
import { resolveWith } from "../workflow/conditions.js"
import { makeBudgets } from "./budgets.js"
import type { RunContext } from "./context.js"
import type { EnsureModel } from "./ensureModels.js"
import { EngineDefect, KernelUnknownError, recordedError, StepPrepareError } from "./errors.js"
import type { BudgetState, RunEvent, RunStatus } from "./events.js"
import { gate } from "./gate.js"
import { localStep, type LocalStep } from "./localStep.js"
import { openRun } from "./openRun.js"
import { pythonStep } from "./pythonStep.js"
import { makeRecorder } from "./recorder.js"
import type { StepOutcome, StepsState } from "./state.js"
import { makeStopSignal, type StopSignal } from "./StopSignal.js"
import type { WorkerFacts } from "./workerFacts.js"

export { makeStopSignal, type StopSignal } from "./StopSignal.js"
export type { LocalStep } from "./localStep.js"
export type { StepOutcome, StepsState } from "./state.js"

export interface EngineOptions {
  /** a new run's id (default: time + random); ignored when resuming */
  readonly runId?: string
  /** continue this stored run instead of starting one */
  readonly resume?: string
  /** resume even when the run is stored as running on another host (whose processes this one cannot see) */
  readonly takeover?: boolean
  /** rerun steps even when the cache holds their outputs */
  readonly force?: boolean
  /** where the run happens (shown in the header; default `local`) */
  readonly platform?: string
  /** the `--set` overrides the plan was made with (stored for `resume`) */
  readonly sets?: ReadonlyArray<string>
  readonly onEvent?: (event: RunEvent) => void
  readonly stop?: StopSignal
  /** implementations of custom steps, by step id or by the id written in the workflow */
  readonly local?: Readonly<Record<string, LocalStep>>
  /** make a model available before its step (e.g. train `fixture:*`) */
  readonly ensureModel?: EnsureModel
  /** how many Python steps may run at once: 1 on the local executor (default), more on Ray */
  readonly pythonConcurrency?: number
  /** the kernel catalog (tests substitute their own) */
  readonly kernels?: (name: string) => KernelDefinition | undefined
  readonly now?: () => number
  /** write the run's report once its steps are done (not when interrupted); its path goes into run-finished */
  readonly report?: (runId: string) => Promise<string | undefined>
  /** the worker's library versions and CUDA, for cache keys (src/engine/workerFacts.ts); the CLI asks the environment kernel */
  readonly workerFacts?: (runtime: PythonRuntimeService) => Effect.Effect<WorkerFacts, KernelCallError>
}

export interface RunResult {
  readonly runId: string
  readonly status: RunStatus
  readonly durationMs: number
  readonly steps: Readonly<Record<string, StepOutcome>>
  readonly reportPath?: string
  /** a resumed run that had already succeeded: nothing ran and nothing was written */
  readonly alreadyFinished?: boolean
}

export const newRunId = (now: number = Date.now()): string => {
  const d = new Date(now).toISOString() // 2026-11-26T14:03:05.123Z
  return `${d.slice(0, 10).replace(/-/g, "")}-${d.slice(11, 19).replace(/:/g, "")}-${randomBytes(2).toString("hex")}`
}

const runStartedEvent = (plan: Plan, runId: string, t: number, platform: string, resumed: boolean, budgets: BudgetState[]): RunEvent => ({
  type: "run-started",
  runId,
  t,
  workflow: plan.workflow.name,
  file: plan.workflow.file,
  platform,
  resumed,
  steps: plan.steps.map((s) => ({
    id: s.id,
    uses: s.uses,
    needs: [...s.needs],
    platform: s.platform,
    ...(s.estimateSeconds !== undefined ? { estimateSeconds: s.estimateSeconds } : {}),
    ...(s.condition ? { condition: s.condition.expression } : {})
  })),
  budgets
})

/** A stopped run is interrupted; else a failure without continue_on_error fails it. */
const runStatusOf = (stopped: boolean, outcomes: ReadonlyArray<StepOutcome>): RunStatus =>
  stopped
    ? "interrupted"
    : outcomes.some((o) => o.status === "failed" && o.continueOnError !== true)
      ? "failed"
      : outcomes.some((o) => o.status === "interrupted")
        ? "interrupted"
        : "succeeded"

/** Run (or resume) a plan. Failures are step statuses; only opening the run row can fail. */
export const runPlan = (plan: Plan, options: EngineOptions = {}) =>
  Effect.gen(function* () {
    const store = yield* Store
    const runtime = yield* PythonRuntime
    const now = options.now ?? Date.now
    const lookup = options.kernels ?? findKernel
    const stop = options.stop ?? makeStopSignal()
    const platform = options.platform ?? "local"
    const started = now()

    const run = yield* openRun(store, {
      plan,
      runId: options.runId ?? newRunId(started),
      ...(options.resume !== undefined ? { resume: options.resume } : {}),
      takeover: options.takeover === true,
      ...(options.force !== undefined ? { force: options.force } : {}),
      sets: options.sets ?? [],
      platform,
      now: started
    })
    const { runId } = run
    if (run.finished !== undefined) {
      // resuming a run that had succeeded changes nothing: its stored outcomes are the result
      const steps = Object.fromEntries([...run.previous].map(([id, s]) => [id, { status: s.status, ...(s.outputs !== undefined ? { outputs: s.outputs } : {}) } satisfies StepOutcome]))
      return { runId, status: "succeeded", durationMs: 0, steps, alreadyFinished: true } satisfies RunResult
    }
    const runDir = store.db.runDir(runId)
    const recorder = makeRecorder({ store, runId, now, ...(options.onEvent ? { onEvent: options.onEvent } : {}) })
    const { emit } = recorder
    const budgets = makeBudgets({ plan, db: store.db, store, runId, now, emit })
    emit(runStartedEvent(plan, runId, started, platform, run.resumed, budgets.states()))

    // ---- per-step state: a step's fiber awaits the deferred outcomes of its needs ----
    const done = new Map<string, Deferred.Deferred<StepOutcome>>()
    for (const s of plan.steps) done.set(s.id, yield* Deferred.make<StepOutcome>())
    const outcomes = new Map<string, StepOutcome>()
    const pythonLock = yield* Effect.makeSemaphore(Math.max(1, options.pythonConcurrency ?? 1))
    const modelLock = yield* Effect.makeSemaphore(1)
    const ensureModel: EnsureModel | undefined = options.ensureModel
      ? (spec, onEvent) => modelLock.withPermits(1)(options.ensureModel!(spec, onEvent))
      : undefined
    const stepsState = (): StepsState =>
      Object.fromEntries(
        [...outcomes].map(([id, o]) => [id, { status: o.status, uses: plan.steps.find((s) => s.id === id)?.uses ?? "", ...(o.outputs !== undefined ? { outputs: o.outputs } : {}) }])
      )
    const ctx: RunContext = {
      ...recorder,
      plan,
      runId,
      store,
      db: store.db,
      runtime,
      now,
      stop,
      force: run.force,
      baseDir: dirname(resolvePath(plan.workflow.file)),
      runDir,
      previous: run.previous,
      outcomes,
      stepsState,
      ...(options.workerFacts ? { workerFacts: yield* Effect.cached(options.workerFacts(runtime)) } : {})
    }

    /** A step that succeeded (or came from the cache) before a resume is announced, not rerun. */
    const reuseFinished = (step: PlannedStep): StepOutcome | undefined => {
      const before = run.previous.get(step.id)
      if (!before || (before.status !== "succeeded" && before.status !== "cached")) return undefined
      emit({ type: "step-finished", runId, t: now(), stepId: step.id, status: before.status, durationMs: before.durationMs ?? 0, ...(before.cacheKey ? { cacheKey: before.cacheKey } : {}), outputs: before.outputs, reason: "finished before the run was resumed" })
      return { status: before.status, outputs: before.outputs }
    }

    const inputsOf = (step: PlannedStep) =>
      Effect.try({ try: () => resolveWith(step, stepsState()), catch: (error) => new StepPrepareError({ stepId: step.id, reason: (error as Error).message }) })

    const kernelOf = (step: PlannedStep) => {
      const kernel = lookup(step.uses)
      return kernel && !kernel.local ? Effect.succeed(kernel) : Effect.fail(new KernelUnknownError({ stepId: step.id, kernel: step.uses, known: kernelNames(), custom: kernel !== undefined }))
    }

    const runStep = (step: PlannedStep): Effect.Effect<StepOutcome> =>
      Effect.gen(function* () {
        for (const need of step.needs) {
          const d = done.get(need)
          if (d) outcomes.set(need, yield* Deferred.await(d))
        }
        const reused = reuseFinished(step)
        if (reused) return reused
        if (stop.requested) return { status: "pending" } as StepOutcome
        const skipped = yield* gate(ctx, step)
        if (skipped) return skipped
        const withValue = yield* inputsOf(step)
        const impl = options.local?.[step.id] ?? options.local?.[step.baseId]
        if (impl) return yield* localStep(ctx, step, impl, withValue)
        const kernel = yield* kernelOf(step)
        return yield* pythonLock.withPermits(1)(pythonStep(ctx, budgets, step, kernel, withValue, ensureModel))
      }).pipe(
        // what the step's own parts did not record (an unresolvable `with`, an unknown kernel, a
        // store write that failed, a bug) is recorded here, the same way for every tag
        Effect.catchAllDefect((defect) => Effect.fail(new EngineDefect({ stepId: step.id, defect }))),
        Effect.catchAll((error) => ctx.finish(step, { status: "failed", error: recordedError(error) }, { durationMs: 0 })),
        Effect.tap((outcome) => Effect.sync(() => outcomes.set(step.id, outcome))),
        Effect.tap((outcome) => Deferred.succeed(done.get(step.id)!, outcome))
      )

    yield* Effect.forEach(plan.steps, runStep, { concurrency: "unbounded", discard: true })

    // ---- the run's end ----
    const steps: Record<string, StepOutcome> = {}
    for (const s of plan.steps) steps[s.id] = outcomes.get(s.id) ?? { status: "pending" }
    const status = runStatusOf(stop.requested, Object.values(steps))
    const finished = now()
    yield* store.use("setRunStatus", (d) => d.setRunStatus(runId, status, finished)).pipe(Effect.catchAll(recorder.warnIfLost(`the run's final status (${status})`)))
    let reportPath: string | undefined
    if (options.report && status !== "interrupted") {
      const report = options.report
      reportPath = yield* Effect.promise(() =>
        report(runId).catch((error: unknown) => {
          emit({ type: "log", runId, t: now(), level: "warn", message: `the report could not be written: ${error instanceof Error ? error.message : String(error)}` })
          return undefined
        })
      )
    }
    // durationMs is the engine's time; writing the report is not part of it
    emit({ type: "run-finished", runId, t: now(), status, durationMs: finished - started, ...(reportPath !== undefined ? { reportPath } : {}) })
    return { runId, status, durationMs: finished - started, steps, ...(reportPath !== undefined ? { reportPath } : {}) } satisfies RunResult
  })

/** Steps of a stored run that a resume would run again (everything not succeeded or cached). */
export const pendingOnResume = (store: StoreService, runId: string): string[] =>
  store.db
    .getSteps(runId)
    .filter((s) => s.status !== "succeeded" && s.status !== "cached")
    .map((s) => s.stepId)
