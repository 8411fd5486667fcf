/** The engine's own tagged errors (kernel errors live in src/python/errors.ts). */
import { Data } from "effect"

/** A kernel returned outputs that do not match its zod output schema. */
export class StepOutputInvalidError extends Data.TaggedError("StepOutputInvalidError")<{ readonly stepId: string; readonly kernel: string; readonly issues: string }> {
  override get message(): string {
    return `step ${this.stepId}: kernel ${this.kernel} returned outputs that do not match its schema: ${this.issues}`
  }
}

/** The engine could not prepare a step (corpus file missing, model directory empty, bad expression). */
export class StepPrepareError extends Data.TaggedError("StepPrepareError")<{ readonly stepId: string; readonly reason: string }> {
  override get message(): string {
    return `step ${this.stepId}: ${this.reason}`
  }
}

/** A step names a kernel that is neither in the catalog nor a custom local step. */
export class KernelUnknownError extends Data.TaggedError("KernelUnknownError")<{ readonly stepId: string; readonly kernel: string; readonly known: ReadonlyArray<string> }> {
  override get message(): string {
    return `step ${this.stepId} uses unknown kernel '${this.kernel}'; known kernels: ${this.known.join(", ")}`
  }
}
