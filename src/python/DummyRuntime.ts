/**
 * DummyRuntime: a PythonRuntime with no Python, for engine and UI tests (like lm-eval's DummyLM).
 * Each kernel gets a scripted reply, or a function of the params, the options and the attempt
 * number (1 for a kernel's first call), so that retries, crashes and branches can be staged.
 * Every call is recorded in `calls` for assertions.
 */
import { existsSync } from "node:fs"
import { Effect, Layer } from "effect"
import { KernelCrashedError, KernelFailedError, KernelTimeoutError, type KernelCallError } from "./errors.js"
import { PythonRuntime, type CallOptions, type PythonRuntimeService, type WorkerEvent } from "./PythonRuntime.js"

export type DummyReply =
  /** succeed with `result`, after emitting `events` (spread over `delayMs`) */
  | { readonly result: unknown; readonly events?: ReadonlyArray<WorkerEvent>; readonly delayMs?: number }
  /** fail like a Python exception */
  | {
      readonly fail: { readonly type: string; readonly message: string; readonly retryable?: boolean; readonly traceback?: string }
      readonly events?: ReadonlyArray<WorkerEvent>
      readonly delayMs?: number
    }
  /** die like a crashed worker */
  | { readonly crash: { readonly exitCode?: number | null; readonly signal?: string | null; readonly logTail?: string } }

export type DummyHandler = DummyReply | ((params: unknown, options: CallOptions, attempt: number) => DummyReply)

export interface DummyCall {
  readonly kernel: string
  readonly params: unknown
  readonly options: CallOptions
}

export interface Dummy {
  readonly service: PythonRuntimeService
  /** every call so far, in order */
  readonly calls: DummyCall[]
}

const TICK_MS = 10

export const makeDummyRuntime = (script: Readonly<Record<string, DummyHandler>>): Dummy => {
  const calls: DummyCall[] = []
  const attempts = new Map<string, number>()

  const call = (kernel: string, params: unknown, options: CallOptions = {}): Effect.Effect<unknown, KernelCallError> =>
    Effect.gen(function* () {
      calls.push({ kernel, params, options })
      const attempt = (attempts.get(kernel) ?? 0) + 1
      attempts.set(kernel, attempt)
      const handler = script[kernel]
      if (handler === undefined) {
        return yield* new KernelFailedError({
          kernel,
          type: "ParameterError",
          message: `unknown kernel '${kernel}'; the dummy runtime knows: ${Object.keys(script).sort().join(", ") || "(none)"}`,
          traceback: "",
          retryable: false,
          polyquant: true
        })
      }
      const reply = typeof handler === "function" ? handler(params, options, attempt) : handler
      if ("crash" in reply) {
        return yield* new KernelCrashedError({
          kernel,
          phase: "call",
          exitCode: reply.crash.exitCode ?? null,
          signal: reply.crash.signal ?? null,
          logTail: reply.crash.logTail ?? "",
          logPath: options.logPath ?? "",
          message: `the Python worker ${reply.crash.signal ? `was killed by ${reply.crash.signal}` : `exited with code ${reply.crash.exitCode ?? "unknown"}`} while running kernel ${kernel} (dummy)`
        })
      }
      const events = reply.events ?? []
      const delayMs = reply.delayMs ?? 0
      const ticks = Math.max(events.length, Math.ceil(delayMs / TICK_MS))
      const started = Date.now()
      for (let i = 0; i < ticks; i++) {
        if (options.stopPath && existsSync(options.stopPath)) {
          return yield* new KernelFailedError({ kernel, type: "KernelStopped", message: `stopped after ${i} of ${ticks} ticks (dummy)`, traceback: "", retryable: false, polyquant: true })
        }
        if (options.timeoutMs !== undefined && Date.now() - started > options.timeoutMs) {
          return yield* new KernelTimeoutError({ kernel, timeoutMs: options.timeoutMs, message: `kernel ${kernel} ran past its timeout of ${options.timeoutMs} ms (dummy)` })
        }
        const event = events[i]
        if (event !== undefined) options.onEvent?.(event)
        if (delayMs > 0) yield* Effect.sleep(delayMs / ticks)
      }
      if ("fail" in reply) {
        return yield* new KernelFailedError({
          kernel,
          type: reply.fail.type,
          message: reply.fail.message,
          traceback: reply.fail.traceback ?? "",
          retryable: reply.fail.retryable ?? false,
          polyquant: true
        })
      }
      return reply.result
    })

  const service = PythonRuntime.of({
    call,
    worker: Effect.succeed({ pid: process.pid, python: "dummy", interpreter: "dummy", logPath: "", bridgeTimeoutMs: 0 }),
    stop: Effect.void
  })
  return { service, calls }
}

/** A layer over a scripted dummy; use `makeDummyRuntime` directly to inspect `calls`. */
export const DummyRuntimeLayer = (script: Readonly<Record<string, DummyHandler>>): Layer.Layer<PythonRuntime> =>
  Layer.succeed(PythonRuntime, makeDummyRuntime(script).service)
