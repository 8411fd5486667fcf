/**
 * The errors a kernel call can end in, as the engine sees them (DESIGN §5):
 * - KernelFailedError: Python raised; the envelope carried its type, message and traceback.
 * - KernelCrashedError: the worker process died (segfault, os._exit, OOM kill) or never started.
 * - KernelTimeoutError: the call ran past the deadline its caller set; the worker was stopped.
 */
import { Data } from "effect"

export class KernelFailedError extends Data.TaggedError("KernelFailedError")<{
  readonly kernel: string
  /** the Python exception's class name, e.g. `ParameterError`, `OutOfMemoryError` */
  readonly type: string
  readonly message: string
  readonly traceback: string
  /** the engine may retry (out of memory, transient I/O) */
  readonly retryable: boolean
  /** raised on purpose by polyquant (a PolyquantError subclass), not a bug */
  readonly polyquant: boolean
}> {}

export class KernelCrashedError extends Data.TaggedError("KernelCrashedError")<{
  readonly kernel: string
  readonly message: string
  /** the worker's exit code, when it exited */
  readonly exitCode: number | null
  /** the signal that killed it (SIGSEGV, SIGKILL, ...), when one did */
  readonly signal: string | null
  /** the last lines of the worker log */
  readonly logTail: string
  readonly logPath: string
  /** "start": the worker could not start (no interpreter, import error); "call": it died during the call */
  readonly phase: "start" | "call"
}> {}

export class KernelTimeoutError extends Data.TaggedError("KernelTimeoutError")<{
  readonly kernel: string
  readonly message: string
  readonly timeoutMs: number
}> {}

/** How a kernel call can fail (the RunEvent `KernelError` in src/engine/events.ts is the record a step keeps of it). */
export type KernelCallError = KernelFailedError | KernelCrashedError | KernelTimeoutError

/** The fields of the RunEvent `KernelError` shape (src/engine/events.ts) for any of the three. */
export const describeKernelError = (
  error: KernelCallError
): { type: string; message: string; traceback?: string; retryable?: boolean; exitCode?: number | null; signal?: string | null; logTail?: string } => {
  switch (error._tag) {
    case "KernelFailedError":
      return { type: error.type, message: error.message, traceback: error.traceback, retryable: error.retryable }
    case "KernelCrashedError":
      return { type: error._tag, message: error.message, exitCode: error.exitCode, signal: error.signal, logTail: error.logTail, retryable: false }
    case "KernelTimeoutError":
      return { type: error._tag, message: error.message, retryable: false }
  }
}
