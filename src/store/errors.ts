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

/**
 * A run id that the store does not hold, or a prefix that several runs share (`ambiguous`: how
 * many, or "more" than the ten in `known`, which are then the runs it matches).
 */
export class RunNotFoundError extends Data.TaggedError("RunNotFoundError")<{
  readonly runId: string
  readonly known: ReadonlyArray<string>
  readonly ambiguous?: number | "more"
}> {
  override get message(): string {
    if (this.ambiguous !== undefined) {
      const count = this.ambiguous === "more" ? `more than ${this.known.length}` : `${this.ambiguous}`
      return `run id '${this.runId}' is ambiguous: ${count} runs start with it (${this.known.join(", ")}${this.ambiguous === "more" ? ", ..." : ""}); give more of the id`
    }
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

/**
 * `resume` of a run that another process still runs: on this host (its pid is alive), or on
 * another host, whose processes this one cannot see (`--takeover` resumes it anyway).
 */
export class RunBusyError extends Data.TaggedError("RunBusyError")<{
  readonly runId: string
  readonly pid: number
  readonly host: string
  /** the owner is on this host (and alive); else it is on `host`, which this one cannot check */
  readonly here: boolean
  /** when the run last wrote anything (epoch ms) */
  readonly lastActivity: number
}> {
  override get message(): string {
    if (this.here) return `run ${this.runId} is still running in process ${this.pid} on this host; stop that process first (Ctrl-C in its terminal, or kill ${this.pid}), then resume the run`
    const last = new Date(this.lastActivity).toISOString().slice(0, 19).replace("T", " ")
    return (
      `run ${this.runId} is running on host ${this.host} (process ${this.pid}, last event ${last} UTC), whose processes this host cannot see; ` +
      `if that process or machine is gone, take the run over with \`polyquant resume ${this.runId} --takeover\``
    )
  }
}
