/** What the engine knows about a step once it is done, and the view `if:` conditions see. */
import type { KernelError, StepStatus } from "./events.js"

export interface StepOutcome {
  readonly status: StepStatus
  readonly outputs?: unknown
  readonly error?: KernelError
  /** a failed step with `continue_on_error` does not skip its dependents */
  readonly continueOnError?: boolean
}

/** `steps.<id>` in CEL for every step that has finished: the conditions' own type (src/workflow/conditions.ts). */
export type { StepsState } from "../workflow/conditions.js"

/** A need is met when it succeeded, came from the cache, or failed with continue_on_error. */
export const needMet = (outcome: StepOutcome | undefined): boolean =>
  outcome !== undefined && (outcome.status === "succeeded" || outcome.status === "cached" || (outcome.status === "failed" && outcome.continueOnError === true))

/** A step whose own work failed; with `continue_on_error` its dependents still run and the run does not fail. */
export const failedOutcome = (step: { readonly continueOnError: boolean }, error: KernelError): StepOutcome => ({
  status: "failed",
  error,
  ...(step.continueOnError ? { continueOnError: true } : {})
})
