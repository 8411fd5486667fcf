/** The store's tagged errors: each names the path or id it is about. */
import { Data } from "effect"

/** The database could not be created or opened (unwritable folder, not a database, ...). */
export class StoreOpenError extends Data.TaggedError("StoreOpenError")<{ readonly path: string; readonly reason: string }> {
  override get message(): string {
    return `cannot open the run store at ${this.path}: ${this.reason}`
  }
}

/** A read or write failed after the store was open (disk full, locked for too long, ...). */
export class StoreWriteError extends Data.TaggedError("StoreWriteError")<{ readonly operation: string; readonly reason: string }> {
  override get message(): string {
    return `run store: ${this.operation} failed: ${this.reason}`
  }
}

/** A run id that the store does not hold. */
export class RunNotFoundError extends Data.TaggedError("RunNotFoundError")<{ readonly runId: string; readonly known: ReadonlyArray<string> }> {
  override get message(): string {
    const known = this.known.length > 0 ? `; recent runs: ${this.known.join(", ")}` : "; the store holds no runs"
    return `no run '${this.runId}' in the store${known}`
  }
}

/** A step id that a stored run does not have. */
export class StepNotFoundError extends Data.TaggedError("StepNotFoundError")<{ readonly runId: string; readonly stepId: string; readonly known: ReadonlyArray<string> }> {
  override get message(): string {
    return `run ${this.runId} has no step '${this.stepId}'; its steps: ${this.known.join(", ")}`
  }
}
