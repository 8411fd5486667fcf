/**
 * The engine: runs a Plan (src/plan/types.ts) and reports every change as a RunEvent
 * (src/engine/events.ts) through `onEvent`, after writing it to the store's event log.
 *
 * Every step is a fiber that waits for its needs, then decides (needs met? `if:` true? budget
 * left? cached?) and runs. TypeScript (local) steps run concurrently; Python steps take the one
 * worker in turn (a semaphore of 1), so steps that share a model share one resident copy.
 * Statuses: pending, running, succeeded, failed, skipped, cached, deferred, interrupted.
 * A resumed run reuses what succeeded (or came from the cache) and reruns the rest; a step that
 * checkpoints gets its last stored checkpoint back at `checkpoint_path`.
 */
import { randomBytes } from "node:crypto"
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { dirname, join, resolve as resolvePath } from "node:path"
import { Deferred, Duration, Effect } from "effect"
import type { ModelSpec } from "../kernels/common.js"
import { findKernel, kernelNames } from "../kernels/catalog.js"
import type { KernelDefinition } from "../kernels/define.js"
import type { Plan, PlannedStep } from "../plan/types.js"
import { PythonRuntime, type WorkerEvent } from "../python/PythonRuntime.js"
import { describeKernelError, type KernelError as PythonKernelError } from "../python/errors.js"
import { RunBusyError, RunNotFoundError, StoreWriteError } from "../store/errors.js"
import { thisProcess } from "../store/liveness.js"
import { Store, type StoreService } from "../store/Store.js"
import type { CacheKeyParts } from "../store/RunStore.js"
import { evaluateCondition, resolveWith } from "../workflow/conditions.js"
import type { BudgetState, KernelError, RunEvent, RunStatus, StepStatus } from "./events.js"
import { StepOutputInvalidError } from "./errors.js"
import { localModelDir } from "./fingerprint.js"
import { prepareStep, stepModels, type PreparedStep } from "./prepare.js"
import { delayFor, policyFor, shouldRetry } from "./retry.js"
import { needMet, type StepOutcome, type StepsState } from "./state.js"

/** Ask a run to stop: the first request lets the running kernel checkpoint; `force` stops its worker. */
export interface StopSignal {
  readonly requested: boolean
  readonly forced: boolean
  request(options?: { force?: boolean }): void
  onRequest(listener: (force: boolean) => void): () => void
}

export const makeStopSignal = (): StopSignal => {
  const listeners = new Set<(force: boolean) => void>()
  const signal = {
    requested: false,
    forced: false,
    request(options?: { force?: boolean }) {
      const force = options?.force === true
      if (signal.requested && (!force || signal.forced)) return
      signal.requested = true
      signal.forced = signal.forced || force
      for (const l of [...listeners]) l(force)
    },
    onRequest(listener: (force: boolean) => void) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    }
  }
  return signal
}

/** A custom step written in TypeScript (the DSL's `step.custom`): an Effect over earlier outputs. */
export type LocalStep = (input: {
  readonly step: PlannedStep
  readonly with: Record<string, unknown>
  readonly steps: StepsState
}) => Effect.Effect<unknown, unknown>

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
  readonly ensureModel?: (spec: ModelSpec, onEvent: (event: WorkerEvent) => void) => Effect.Effect<unknown, unknown, PythonRuntime>
  /** the kernel catalog (tests substitute their own) */
  readonly kernels?: (name: string) => KernelDefinition | undefined
  readonly now?: () => number
  /** write the run's report once its steps are done (not when interrupted); its path goes into run-finished */
  readonly report?: (runId: string) => Promise<string | undefined>
}

export interface RunResult {
  readonly runId: string
  readonly status: RunStatus
  readonly durationMs: number
  readonly steps: Readonly<Record<string, StepOutcome>>
  readonly reportPath?: string
}

export const newRunId = (now: number = Date.now()): string => {
  const d = new Date(now).toISOString() // 2026-11-26T14:03:05.123Z
  return `${d.slice(0, 10).replace(/-/g, "")}-${d.slice(11, 19).replace(/:/g, "")}-${randomBytes(2).toString("hex")}`
}

const formatHours = (seconds: number): string => (seconds >= 3600 ? `${(seconds / 3600).toFixed(2)} h` : `${Math.round(seconds / 60)} min`)

const errorOf = (type: string, message: string, extra: Partial<KernelError> = {}): KernelError => ({ type, message, ...extra })

const issuesText = (issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }>): string =>
  issues.map((i) => `${i.path.length > 0 ? `outputs.${i.path.map(String).join(".")}` : "outputs"}: ${i.message}`).join("; ")

/** Run (or resume) a plan. Never fails: failures are step statuses; the store may fail to open earlier. */
export const runPlan = (plan: Plan, options: EngineOptions = {}) =>
  Effect.gen(function* () {
    const store = yield* Store
    const runtime = yield* PythonRuntime
    const now = options.now ?? Date.now
    const lookup = options.kernels ?? findKernel
    const stop = options.stop ?? makeStopSignal()
    const platform = options.platform ?? "local"
    const baseDir = dirname(resolvePath(plan.workflow.file))
    const db = store.db
    const started = now()

    // ---- the run row ----
    const resume = options.resume
    const resumedRun =
      resume !== undefined
        ? yield* Effect.try({ try: () => db.requireRun(resume), catch: (e) => (e instanceof RunNotFoundError ? e : new RunNotFoundError({ runId: resume, known: [] })) })
        : undefined
    const runId = resumedRun?.id ?? options.runId ?? newRunId(started)
    const force = options.force ?? resumedRun?.options.force ?? false
    // this process owns the run from here on; a resume refuses a run whose owner still runs it
    const owner = thisProcess()
    if (resumedRun) {
      yield* Effect.try({
        try: () => db.claimRun(runId, owner, started, { takeover: options.takeover === true }),
        catch: (e) => (e instanceof RunBusyError || e instanceof RunNotFoundError ? e : new StoreWriteError({ operation: "claimRun", reason: e instanceof Error ? e.message : String(e) }))
      })
      yield* store.use("resumeRun", (d) => {
        for (const s of plan.steps) d.ensureStep(runId, s.id, s.uses)
      })
    } else {
      yield* store.use("createRun", (d) => d.createRun({ id: runId, plan, options: { sets: [...(options.sets ?? [])], force }, platform, now: started, owner }))
    }
    const previous = new Map(resumedRun ? db.getSteps(runId).map((s) => [s.stepId, s] as const) : [])
    const runDir = db.runDir(runId)

    const show = (event: RunEvent): void => {
      try {
        options.onEvent?.(event)
      } catch {
        // a failing view must not stop the run
      }
    }
    const emit = (event: RunEvent): void => {
      try {
        db.appendEvent(event)
      } catch (error) {
        // the event log is a record, not the state: a failed append does not stop the run, but it is said
        show({ type: "log", runId, t: now(), level: "warn", message: `the event log could not store a ${event.type} event: ${(error as Error).message}` })
      }
      show(event)
    }
    /** A store write that must not stop the run: on failure, a warning event says what was lost. */
    const warnIfLost = (what: string) => (e: { readonly message: string }) =>
      Effect.sync(() => emit({ type: "log", runId, t: now(), level: "warn", message: `${what} could not be stored: ${e.message}` }))

    const budgetStates = (): BudgetState[] =>
      plan.budgets.map((b) => {
        const r = db.remainingBudget(b, now(), runId)
        return { platform: r.platform, window: r.window, limitHours: r.limitHours, usedHours: r.usedHours }
      })

    emit({
      type: "run-started",
      runId,
      t: started,
      workflow: plan.workflow.name,
      file: plan.workflow.file,
      platform,
      resumed: resumedRun !== undefined,
      steps: plan.steps.map((s) => ({
        id: s.id,
        uses: s.uses,
        needs: [...s.needs],
        platform: s.platform,
        ...(s.estimateSeconds !== undefined ? { estimateSeconds: s.estimateSeconds } : {}),
        ...(s.condition ? { condition: s.condition.expression } : {})
      })),
      budgets: budgetStates()
    })

    // ---- per-step state ----
    const done = new Map<string, Deferred.Deferred<StepOutcome>>()
    for (const s of plan.steps) done.set(s.id, yield* Deferred.make<StepOutcome>())
    const outcomes = new Map<string, StepOutcome>()
    const pythonLock = yield* Effect.makeSemaphore(1)

    const stepsState = (): StepsState => {
      const state: StepsState = {}
      for (const [id, o] of outcomes) state[id] = { status: o.status, uses: plan.steps.find((s) => s.id === id)?.uses ?? "", ...(o.outputs !== undefined ? { outputs: o.outputs } : {}) }
      return state
    }

    const finish = (step: PlannedStep, outcome: StepOutcome, fields: { durationMs: number; reason?: string; cacheKey?: string; keyParts?: CacheKeyParts; cache?: boolean }) =>
      Effect.gen(function* () {
        const t = now()
        yield* store.use("stepFinished", (d) =>
          d.stepFinished(runId, step.id, {
            status: outcome.status,
            now: t,
            durationMs: fields.durationMs,
            ...(outcome.outputs !== undefined ? { outputs: outcome.outputs } : {}),
            ...(outcome.error ? { error: outcome.error } : {}),
            ...(fields.reason !== undefined ? { reason: fields.reason } : {}),
            ...(fields.cacheKey !== undefined ? { cacheKey: fields.cacheKey } : {}),
            ...(fields.keyParts !== undefined ? { keyParts: fields.keyParts } : {}),
            ...(fields.cache ? { cache: { kernel: step.uses, version: lookup(step.uses)?.version ?? step.kernelVersion } } : {})
          })
        ).pipe(Effect.catchAll((e) => Effect.sync(() => emit({ type: "log", runId, t, stepId: step.id, level: "error", message: e.message }))))
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

    /** Budgets that cover this step's platform, and whether its estimate fits what is left. */
    const budgetCheck = (step: PlannedStep, models: ReadonlyArray<ModelSpec>): { ok: true } | { ok: false; reason: string } => {
      const budgets = plan.budgets.filter((b) => b.platform === step.platform)
      if (budgets.length === 0) return { ok: true }
      const measured = step.estimateSeconds === undefined ? db.measuredSeconds(step.uses, models[0]?.id) : undefined
      const estimate = step.estimateSeconds ?? measured
      if (estimate === undefined) return { ok: true }
      for (const b of budgets) {
        const left = db.remainingBudget(b, now(), runId).remainingHours * 3600
        if (estimate > left) {
          const source = step.estimateSeconds !== undefined ? "estimate" : "estimate (measured on earlier runs)"
          return {
            ok: false,
            reason: `platform ${b.platform}: ${source} ${formatHours(estimate)} exceeds the ${formatHours(left)} left of its ${b.gpuHours} GPU h per ${b.per} budget`
          }
        }
      }
      return { ok: true }
    }

    /** Wall time of a step that used the accelerator (or ran on a budgeted platform) goes into the ledger. */
    const charge = (step: PlannedStep, seconds: number) =>
      Effect.gen(function* () {
        const budgets = plan.budgets.filter((b) => b.platform === step.platform)
        if (!step.gpu && budgets.length === 0) return
        yield* store.use("charge", (d) => d.charge({ platform: step.platform, ...(budgets[0] ? { window: budgets[0].per } : {}), seconds, runId, stepId: step.id, t: now() }))
        if (plan.budgets.length > 0) emit({ type: "budget", runId, t: now(), budgets: budgetStates() })
      }) // a lost ledger row would let later steps overrun their budget: a failed charge fails the step

    const stepDir = (step: PlannedStep) => join(runDir, "steps", step.id.replace(/[^\w.=,-]/g, "_"))

    // ---- one attempt of a Python step ----
    const callPython = (step: PlannedStep, params: Record<string, unknown>, attempt: number) =>
      Effect.gen(function* () {
        const dir = stepDir(step)
        const paths = {
          eventsPath: join(dir, "events.jsonl"),
          checkpointPath: join(dir, "checkpoint.json"),
          stopPath: join(dir, "stop")
        }
        yield* Effect.sync(() => {
          mkdirSync(dir, { recursive: true })
          rmSync(paths.stopPath, { force: true })
          const stored = db.getCheckpoint(runId, step.id)
          if (stored !== undefined) writeFileSync(paths.checkpointPath, stored)
          else rmSync(paths.checkpointPath, { force: true })
        })
        yield* store.use("stepStarted", (d) => d.stepStarted(runId, step.id, attempt, params, now()))
        emit({ type: "step-started", runId, t: now(), stepId: step.id, attempt })
        const onWorkerEvent = (e: WorkerEvent): void => {
          const t = now()
          if (e.type === "progress") emit({ type: "step-progress", runId, t, stepId: step.id, done: e.done, total: e.total, unit: e.unit, ...(e.message ? { message: e.message } : {}) })
          else if (e.type === "partial") emit({ type: "step-partial", runId, t, stepId: step.id, result: e.result })
          else if (e.type === "log") emit({ type: "log", runId, t, stepId: step.id, level: "info", message: e.message })
          else if (e.type === "checkpoint") {
            try {
              db.saveCheckpoint(runId, step.id, readFileSync(paths.checkpointPath), t)
            } catch {
              // the file is written atomically; if it vanished, the next checkpoint will be stored
            }
            emit({ type: "step-checkpoint", runId, t, stepId: step.id })
          }
        }
        const unsubscribe = stop.onRequest(() => {
          try {
            writeFileSync(paths.stopPath, "")
          } catch {
            // the run folder is gone: the forced stop still ends the worker
          }
        })
        if (stop.requested) writeFileSync(paths.stopPath, "")
        const forced = yield* Deferred.make<void>()
        const unsubscribeForce = stop.onRequest((force) => {
          if (force) Effect.runSync(Deferred.succeed(forced, undefined))
        })
        const call = runtime.call(step.uses, params, {
          runId,
          stepId: step.id,
          ...paths,
          artifactsDir: store.artifacts.dir,
          logPath: join(runDir, "worker.log"),
          onEvent: onWorkerEvent,
          ...(step.timeoutSeconds !== undefined ? { timeoutMs: step.timeoutSeconds * 1000 } : {})
        })
        const result = yield* Effect.raceFirst(
          call.pipe(Effect.either),
          Deferred.await(forced).pipe(Effect.as({ _tag: "Left" as const, left: "forced" as const }))
        ).pipe(Effect.ensuring(Effect.sync(() => {
          unsubscribe()
          unsubscribeForce()
          // a checkpoint written just before the end is stored too
          if (existsSync(paths.checkpointPath)) {
            try {
              db.saveCheckpoint(runId, step.id, readFileSync(paths.checkpointPath), now())
            } catch {
              // see above
            }
          }
        })))
        return result as { _tag: "Right"; right: unknown } | { _tag: "Left"; left: PythonKernelError | "forced" }
      })

    // ---- a Python step, with cache, budget and retries ----
    const runPython = (step: PlannedStep, kernel: KernelDefinition, withValue: Record<string, unknown>) =>
      Effect.gen(function* () {
        const t0 = now()
        if (stop.requested) return yield* finish(step, { status: "interrupted" }, { durationMs: 0, reason: "the run was stopped before this step started" })
        // models first: a fixture must exist before it can be fingerprinted
        for (const spec of stepModels(kernel, withValue)) {
          if (options.ensureModel) {
            const dir = localModelDir(spec, baseDir)
            if (spec.id.startsWith("fixture:") && dir !== undefined && !existsSync(join(dir, "config.json"))) {
              emit({ type: "log", runId, t: now(), stepId: step.id, level: "info", message: `training ${spec.id} on first use (about a minute on two CPU cores)` })
            }
            const progress = (e: WorkerEvent): void => {
              if (e.type === "progress") emit({ type: "step-progress", runId, t: now(), stepId: step.id, done: e.done, total: e.total, unit: e.unit, message: `preparing ${spec.id}${e.message ? `: ${e.message}` : ""}` })
            }
            const ensured = yield* Effect.either(options.ensureModel(spec, progress).pipe(Effect.provideService(PythonRuntime, runtime)))
            if (ensured._tag === "Left") {
              const message = `model ${spec.id} could not be prepared: ${ensured.left instanceof Error ? ensured.left.message : String(ensured.left)}`
              return yield* finish(step, { status: "failed", error: errorOf("ModelUnavailableError", message), ...(step.continueOnError ? { continueOnError: true } : {}) }, { durationMs: now() - t0 })
            }
          }
        }
        let prepared: PreparedStep
        try {
          prepared = prepareStep({ step, kernel, withValue, upstream: outcomes, baseDir, store: db })
        } catch (error) {
          const e = error as Error & { _tag?: string }
          return yield* finish(step, { status: "failed", error: errorOf(e._tag ?? "StepPrepareError", `step ${step.id}: ${e.message}`), ...(step.continueOnError ? { continueOnError: true } : {}) }, { durationMs: now() - t0 })
        }
        yield* store.use("setStepKey", (d) => d.setStepKey(runId, step.id, prepared.key, prepared.parts))
        if (!force) {
          const hit = db.cacheGet(prepared.key)
          if (hit) {
            return yield* finish(step, { status: "cached", outputs: hit.outputs }, {
              durationMs: now() - t0,
              cacheKey: prepared.key,
              keyParts: prepared.parts,
              reason: `outputs of run ${hit.runId} step ${hit.stepId}`
            })
          }
        }
        const budget = budgetCheck(step, prepared.models)
        if (!budget.ok) {
          emit({ type: "step-deferred", runId, t: now(), stepId: step.id, reason: budget.reason })
          return yield* finish(step, { status: "deferred" }, { durationMs: now() - t0, reason: budget.reason, cacheKey: prepared.key, keyParts: prepared.parts })
        }
        let params = prepared.params
        let attempt = previous.get(step.id)?.attempts ?? 0
        let firstAttempt = attempt + 1
        const runStart = now()
        for (;;) {
          attempt += 1
          const result = yield* callPython(step, params, attempt)
          const tEnd = now()
          if (result._tag === "Right") {
            const parsed = kernel.outputs.safeParse(result.right)
            if (!parsed.success) {
              const err = new StepOutputInvalidError({ stepId: step.id, kernel: kernel.name, issues: issuesText(parsed.error.issues) })
              const error = errorOf(err._tag, err.message)
              yield* store.use("attemptFinished", (d) => d.attemptFinished(runId, step.id, attempt, "failed", error, tEnd))
              yield* charge(step, (tEnd - runStart) / 1000)
              return yield* finish(step, { status: "failed", error, ...(step.continueOnError ? { continueOnError: true } : {}) }, { durationMs: tEnd - runStart, cacheKey: prepared.key, keyParts: prepared.parts })
            }
            yield* store.use("attemptFinished", (d) => d.attemptFinished(runId, step.id, attempt, "succeeded", undefined, tEnd))
            yield* charge(step, (tEnd - runStart) / 1000)
            return yield* finish(step, { status: "succeeded", outputs: parsed.data }, { durationMs: tEnd - runStart, cacheKey: prepared.key, keyParts: prepared.parts, cache: true })
          }
          const failure = result.left
          const stopped = failure === "forced" || (stop.requested && failure._tag === "KernelFailedError" && failure.type === "KernelStopped") || (stop.requested && failure._tag === "KernelCrashedError")
          if (stopped) {
            const error = failure === "forced" ? errorOf("Interrupted", "stopped by the user (forced)") : describeKernelError(failure)
            yield* store.use("attemptFinished", (d) => d.attemptFinished(runId, step.id, attempt, "interrupted", error, tEnd))
            yield* charge(step, (tEnd - runStart) / 1000)
            return yield* finish(step, { status: "interrupted" }, { durationMs: tEnd - runStart, reason: "stopped by the user; its last checkpoint is stored", cacheKey: prepared.key, keyParts: prepared.parts })
          }
          const error = describeKernelError(failure)
          yield* store.use("attemptFinished", (d) => d.attemptFinished(runId, step.id, attempt, "failed", error, tEnd))
          if (!stop.requested && shouldRetry(step.retry, error, attempt - firstAttempt + 1)) {
            const policy = policyFor(error.type)
            const delay = yield* delayFor(policy, attempt - firstAttempt + 1)
            params = policy.adjust(params)
            emit({ type: "log", runId, t: now(), stepId: step.id, level: "warn", message: `attempt ${attempt} failed with ${error.type}: ${error.message.split("\n")[0]}; retrying (policy ${policy.name}) in ${Duration.toMillis(delay)} ms` })
            yield* Effect.sleep(delay)
            continue
          }
          yield* charge(step, (tEnd - runStart) / 1000)
          return yield* finish(step, { status: "failed", error, ...(step.continueOnError ? { continueOnError: true } : {}) }, { durationMs: tEnd - runStart, cacheKey: prepared.key, keyParts: prepared.parts })
        }
      })

    // ---- a TypeScript step ----
    const runLocal = (step: PlannedStep, impl: LocalStep, withValue: Record<string, unknown>) =>
      Effect.gen(function* () {
        const t0 = now()
        yield* store.use("stepStarted", (d) => d.stepStarted(runId, step.id, 1, withValue, t0))
        emit({ type: "step-started", runId, t: t0, stepId: step.id, attempt: 1 })
        let effect = impl({ step, with: withValue, steps: stepsState() })
        if (step.timeoutSeconds !== undefined) effect = effect.pipe(Effect.timeoutFail({ duration: Duration.seconds(step.timeoutSeconds), onTimeout: () => new Error(`step ${step.id} ran past its timeout of ${step.timeoutSeconds} s`) }))
        const result = yield* Effect.either(effect)
        const t1 = now()
        if (result._tag === "Right") {
          return yield* finish(step, { status: "succeeded", outputs: result.right }, { durationMs: t1 - t0 })
        }
        const e = result.left as { _tag?: string; message?: string }
        const error = errorOf(e._tag ?? "LocalStepError", e.message ?? String(result.left))
        return yield* finish(step, { status: "failed", error, ...(step.continueOnError ? { continueOnError: true } : {}) }, { durationMs: t1 - t0 })
      })

    // ---- deciding whether a step runs ----
    const runStep = (step: PlannedStep): Effect.Effect<StepOutcome, never> =>
      Effect.gen(function* () {
        for (const need of step.needs) {
          const d = done.get(need)
          if (d) outcomes.set(need, yield* Deferred.await(d))
        }
        const before = previous.get(step.id)
        if (before && (before.status === "succeeded" || before.status === "cached")) {
          const outcome: StepOutcome = { status: before.status, outputs: before.outputs }
          emit({ type: "step-finished", runId, t: now(), stepId: step.id, status: before.status, durationMs: before.durationMs ?? 0, ...(before.cacheKey ? { cacheKey: before.cacheKey } : {}), outputs: before.outputs, reason: "finished before the run was resumed" })
          return outcome
        }
        if (stop.requested) return { status: "pending" } as StepOutcome
        const unmet = step.needs.filter((n) => !needMet(outcomes.get(n)))
        const readsStatus = step.condition !== undefined && /\.status\b/.test(step.condition.expression)
        if (unmet.length > 0 && !readsStatus) {
          const reason = `needs ${unmet.map((n) => `${n} (${outcomes.get(n)?.status ?? "pending"})`).join(", ")} did not succeed`
          return yield* finish(step, { status: "skipped" }, { durationMs: 0, reason })
        }
        const state = stepsState()
        if (step.condition) {
          let decision: { result: boolean; values: Record<string, unknown> } | undefined
          let failure: string | undefined
          try {
            decision = evaluateCondition(step.condition, state)
          } catch (error) {
            failure = (error as Error).message
          }
          const t = now()
          const result = decision?.result ?? false
          const values = decision?.values ?? {}
          yield* store.use("recordBranch", (d) => d.recordBranch(runId, { stepId: step.id, expression: step.condition!.expression, result, values, t })).pipe(Effect.catchAll(warnIfLost(`the branch decision of step ${step.id}`)))
          emit({ type: "branch-decided", runId, t, stepId: step.id, expression: step.condition.expression, result, values })
          if (!result) {
            return yield* finish(step, { status: "skipped" }, { durationMs: 0, reason: failure ?? `condition \`${step.condition.expression}\` is false` })
          }
        }
        let withValue: Record<string, unknown>
        try {
          withValue = resolveWith(step, state)
        } catch (error) {
          return yield* finish(step, { status: "failed", error: errorOf("StepPrepareError", `step ${step.id}: ${(error as Error).message}`) }, { durationMs: 0 })
        }
        const impl = options.local?.[step.id] ?? options.local?.[step.baseId]
        if (impl) return yield* runLocal(step, impl, withValue)
        const kernel = lookup(step.uses)
        if (!kernel || kernel.local) {
          const message = kernel ? `step ${step.id}: the custom step '${step.uses}' has no TypeScript implementation in this run` : `step ${step.id} uses unknown kernel '${step.uses}'; known kernels: ${kernelNames().join(", ")}`
          return yield* finish(step, { status: "failed", error: errorOf("KernelUnknownError", message) }, { durationMs: 0 })
        }
        return yield* pythonLock.withPermits(1)(runPython(step, kernel, withValue))
      }).pipe(
        Effect.catchAllDefect((defect) =>
          finish(step, { status: "failed", error: errorOf("EngineDefect", `step ${step.id}: ${defect instanceof Error ? defect.message : String(defect)}`) }, { durationMs: 0 })
        ),
        Effect.catchAll((e) => finish(step, { status: "failed", error: errorOf(e._tag, e.message) }, { durationMs: 0 }).pipe(Effect.orElseSucceed(() => ({ status: "failed" }) as StepOutcome))),
        Effect.tap((outcome) => Effect.sync(() => outcomes.set(step.id, outcome))),
        Effect.tap((outcome) => Deferred.succeed(done.get(step.id)!, outcome))
      )

    yield* Effect.forEach(plan.steps, runStep, { concurrency: "unbounded", discard: true })

    const steps: Record<string, StepOutcome> = {}
    for (const s of plan.steps) steps[s.id] = outcomes.get(s.id) ?? { status: "pending" }
    const all = Object.values(steps)
    const status: RunStatus = stop.requested
      ? "interrupted"
      : all.some((o) => o.status === "failed" && o.continueOnError !== true)
        ? "failed"
        : all.some((o) => o.status === "interrupted")
          ? "interrupted"
          : "succeeded"
    const finished = now()
    yield* store.use("setRunStatus", (d) => d.setRunStatus(runId, status, finished)).pipe(Effect.catchAll(warnIfLost(`the run's final status (${status})`)))
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

export type { StepOutcome, StepsState } from "./state.js"

