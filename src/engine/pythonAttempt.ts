/**
 * One attempt of a Python step: its folder readied (stored checkpoint back in place), the attempt
 * recorded, the kernel called under the stop signal, and what the worker reports during the call
 * turned into RunEvents (checkpoints also into the store).
 */
import { join } from "node:path"
import { Effect, type Either } from "effect"
import type { PlannedStep } from "../plan/types.js"
import type { WorkerEvent } from "../python/PythonRuntime.js"
import type { KernelCallError } from "../python/errors.js"
import type { StoreWriteError } from "../store/errors.js"
import type { RunContext } from "./context.js"
import type { Interrupted } from "./errors.js"
import { resetStepFolder, stepDir, stepFiles, storeCheckpoint, type StepFiles } from "./stepFiles.js"
import { underStop } from "./StopSignal.js"

/** Store the kernel's checkpoint; one that cannot be stored is a warning in the run's log. */
const keepCheckpoint = (ctx: RunContext, step: PlannedStep, files: StepFiles, t: number): void => {
  const lost = storeCheckpoint(ctx.db, ctx.runId, step.id, files, t)
  if (lost !== undefined) ctx.emit({ type: "log", runId: ctx.runId, t, stepId: step.id, level: "warn", message: `the checkpoint of step ${step.id} could not be stored: ${lost}` })
}

/**
 * The step's stored checkpoint for the kernel to resume from. A corrupt one is said in a warning,
 * discarded (else every later resume would fail on it too), and the step starts from the beginning.
 */
const storedCheckpoint = (ctx: RunContext, step: PlannedStep): Buffer | undefined => {
  const stored = ctx.db.getCheckpoint(ctx.runId, step.id)
  if (stored === undefined) return undefined
  if ("data" in stored) return stored.data
  let kept = ""
  try {
    ctx.db.deleteCheckpoint(ctx.runId, step.id)
  } catch (error) {
    kept = `; removing it from the store failed (${(error as Error).message}), so the next resume will say this again`
  }
  ctx.emit({ type: "log", runId: ctx.runId, t: ctx.now(), stepId: step.id, level: "warn", message: `the stored checkpoint of step ${step.id} is corrupt (${stored.corrupt}); it was discarded, and the step starts from the beginning${kept}` })
  return undefined
}

const workerEventHandler = (ctx: RunContext, step: PlannedStep, files: StepFiles) => (e: WorkerEvent): void => {
  const { runId, now, emit } = ctx
  const t = now()
  if (e.type === "progress") emit({ type: "step-progress", runId, t, stepId: step.id, done: e.done, total: e.total, unit: e.unit, ...(e.message ? { message: e.message } : {}) })
  else if (e.type === "partial") emit({ type: "step-partial", runId, t, stepId: step.id, result: e.result })
  else if (e.type === "log") emit({ type: "log", runId, t, stepId: step.id, level: e.level ?? "info", message: e.message })
  else if (e.type === "checkpoint") {
    keepCheckpoint(ctx, step, files, t)
    emit({ type: "step-checkpoint", runId, t, stepId: step.id })
  }
}

/** The kernel's outputs (unchecked) or how the call ended; a failure to record the attempt fails. */
export const pythonAttempt = (
  ctx: RunContext,
  step: PlannedStep,
  params: Record<string, unknown>,
  attempt: number,
  onWorkers?: (workers: number) => void
): Effect.Effect<Either.Either<unknown, KernelCallError | Interrupted>, StoreWriteError> =>
  Effect.gen(function* () {
    const { runId, now } = ctx
    const dir = stepDir(ctx.runDir, step.id)
    const files = stepFiles(dir)
    yield* Effect.sync(() => resetStepFolder(dir, files, storedCheckpoint(ctx, step)))
    yield* ctx.store.use("stepStarted", (d) => d.stepStarted(runId, step.id, attempt, params, now()))
    ctx.emit({ type: "step-started", runId, t: now(), stepId: step.id, attempt })
    const call = ctx.runtime.call(step.uses, params, {
      runId,
      stepId: step.id,
      ...files,
      artifactsDir: ctx.store.artifactsDir,
      logPath: join(ctx.runDir, "worker.log"),
      onEvent: workerEventHandler(ctx, step, files),
      ...(onWorkers ? { onWorkers } : {}),
      ...(step.timeoutSeconds !== undefined ? { timeoutMs: step.timeoutSeconds * 1000 } : {})
    })
    return yield* underStop(ctx.stop, step.id, files.stopPath, call).pipe(
      // a checkpoint written just before the end is stored too
      Effect.ensuring(Effect.sync(() => keepCheckpoint(ctx, step, files, now()))),
      Effect.either
    )
  })
