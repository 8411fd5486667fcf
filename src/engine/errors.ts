/**
 * The engine's own tagged errors (kernel errors live in src/python/errors.ts), and `recordedError`,
 * the one place a step's failure becomes the error its step row and step-finished event carry.
 * A recorded `type` is the error's `_tag`: stored runs and `retry.on` lists name these strings,
 * which is why `Interrupted` and `EngineDefect` keep tags older than the `…Error` naming rule.
 */
import { Data } from "effect"
import { describeKernelError, KernelCrashedError, KernelFailedError, KernelTimeoutError, type KernelCallError } from "../python/errors.js"
import type { KernelError } from "./events.js"

/** A kernel returned outputs that do not match its zod output schema. */
export class StepOutputInvalidError extends Data.TaggedError("StepOutputInvalidError")<{ readonly stepId: string; readonly kernel: string; readonly issues: string }> {
  override get message(): string {
    return `step ${this.stepId}: kernel ${this.kernel} returned outputs that do not match its schema: ${this.issues}`
  }
}

/**
 * The engine could not prepare a step (corpus file missing, model directory empty, bad expression).
 * `causeTag`: the tag of the error preparation threw (CorpusFileError, ModelNotFoundError, ...);
 * the step records that type, as runs stored before these classes existed do.
 */
export class StepPrepareError extends Data.TaggedError("StepPrepareError")<{ readonly stepId: string; readonly reason: string; readonly causeTag?: string }> {
  override get message(): string {
    return `step ${this.stepId}: ${this.reason}`
  }
}

/** A step names a kernel that is not in the catalog, or a custom step this run has no TypeScript for. */
export class KernelUnknownError extends Data.TaggedError("KernelUnknownError")<{
  readonly stepId: string
  readonly kernel: string
  readonly known: ReadonlyArray<string>
  /** the catalog knows `kernel` as a custom (TypeScript) step, but the run was given no implementation */
  readonly custom: boolean
}> {
  override get message(): string {
    return this.custom
      ? `step ${this.stepId}: the custom step '${this.kernel}' has no TypeScript implementation in this run`
      : `step ${this.stepId} uses unknown kernel '${this.kernel}'; known kernels: ${this.known.join(", ")}`
  }
}

/** `ensureModel` failed for a model the step loads (a `fixture:*` that would not train, ...). */
export class ModelUnavailableError extends Data.TaggedError("ModelUnavailableError")<{ readonly model: string; readonly reason: string }> {
  override get message(): string {
    return `model ${this.model} could not be prepared: ${this.reason}`
  }
}

/** A TypeScript step failed with something untagged (a plain Error, a string) or ran past its timeout. */
export class LocalStepError extends Data.TaggedError("LocalStepError")<{ readonly stepId: string; readonly reason: string }> {
  override get message(): string {
    return this.reason
  }
}

/** A forced stop ended the kernel call (its worker is stopped); a plain stop lets the kernel end itself. */
export class Interrupted extends Data.TaggedError("Interrupted")<{ readonly stepId: string }> {
  override get message(): string {
    return "stopped by the user (forced)"
  }
}

/** The engine itself threw while running a step: a bug, recorded on the step instead of ending the run. */
export class EngineDefect extends Data.TaggedError("EngineDefect")<{ readonly stepId: string; readonly defect: unknown }> {
  override get message(): string {
    return `step ${this.stepId}: ${this.defect instanceof Error ? this.defect.message : String(this.defect)}`
  }
}

const isKernelError = (error: unknown): error is KernelCallError =>
  error instanceof KernelFailedError || error instanceof KernelCrashedError || error instanceof KernelTimeoutError

/**
 * The error a failed step (or attempt) records: `{ type: _tag, message }`; a kernel error adds
 * what Python reported (traceback, exit code, ...). Any tagged error is accepted, since a
 * custom TypeScript step may fail with its own.
 */
export const recordedError = (error: { readonly _tag: string; readonly message: string }): KernelError => {
  if (isKernelError(error)) return describeKernelError(error)
  if (error instanceof StepPrepareError) return { type: error.causeTag ?? error._tag, message: error.message }
  return { type: error._tag, message: error.message }
}
