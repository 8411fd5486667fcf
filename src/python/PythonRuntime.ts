/**
 * PythonRuntime: the one door to the Python kernels (DESIGN §5, docs/internals.md).
 *
 * One worker process per Node process, reached through pythonia and started on the first call.
 * Every call sends JSON strings to `python/polyquant/api.py` and gets a JSON envelope back, so no
 * Python proxy leaks out and an exception's text survives (pythonia drops it).
 *
 * The traps of pythonia this service handles (see node_modules/pythonia/src/pythonia/):
 * - importing pythonia spawns Python at once and reads PYTHON_BIN and REQ_TIMEOUT then: both are set
 *   before the dynamic import, which happens on the first call only;
 * - a dead Python leaves the pending call waiting forever: every call races the child's `exit`
 *   event (the ChildProcess is `com.proc`), so a crash fails within milliseconds, with the exit
 *   code or signal and the tail of the worker log; `python.exit()` then clears `com.proc`, and the
 *   next `python(file)` spawns a fresh worker;
 * - REQ_TIMEOUT cuts off any request after 100 s by default: kernel calls pass `$timeout: Infinity`,
 *   the housekeeping requests (import, start) use `bridgeTimeoutMs`;
 * - Node never exits while the worker lives: the layer's finalizer stops it;
 * - Python's prints would reach the terminal: `api.start` points fds 1 and 2 at the log file;
 * - the worker shares Node's process group, so a terminal's Ctrl-C would raise KeyboardInterrupt in
 *   the running kernel: the worker ignores SIGINT (the engine stops kernels through the stop file).
 * If Node dies without running the finalizer (SIGKILL), the worker's watchdog (api.start) exits it.
 */
import type { ChildProcess } from "node:child_process"
import { spawnSync } from "node:child_process"
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readSync } from "node:fs"
import { tmpdir } from "node:os"
import { delimiter, dirname, join } from "node:path"
import { StringDecoder } from "node:string_decoder"
import { Context, Effect, Layer } from "effect"
import { z } from "zod"
import { KernelCrashedError, KernelFailedError, KernelTimeoutError, type KernelCallError } from "./errors.js"
import { apiPath, findExecutable, resolveInterpreter } from "./interpreter.js"

/** What a kernel appends to its events file (python/polyquant/context.py), parsed. */
export const WorkerEvent = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("progress"),
    done: z.number(),
    total: z.number(),
    unit: z.string(),
    message: z.string().optional(),
    t: z.number().optional()
  }),
  z.object({ type: z.literal("partial"), result: z.unknown(), t: z.number().optional() }),
  z.object({ type: z.literal("checkpoint"), t: z.number().optional() }),
  z.object({ type: z.literal("log"), message: z.string(), level: z.enum(["info", "warn", "error"]).optional(), t: z.number().optional() })
])
export type WorkerEvent = z.infer<typeof WorkerEvent>

export interface CallOptions {
  readonly runId?: string
  readonly stepId?: string
  /** JSON lines the kernel appends; tailed while the call runs and handed to `onEvent` */
  readonly eventsPath?: string
  readonly checkpointPath?: string
  readonly stopPath?: string
  readonly artifactsDir?: string
  /** the worker's stdout and stderr go here from this call on (default: the runtime's log) */
  readonly logPath?: string
  readonly onEvent?: (event: WorkerEvent) => void
  /** fail with KernelTimeoutError (and stop the worker) after this long; none by default */
  readonly timeoutMs?: number
  /** how many workers (Ray actors: the step's own and its helpers) the call held; the budgets charge each one's time */
  readonly onWorkers?: (workers: number) => void
}

export interface WorkerInfo {
  readonly pid: number
  /** the worker's Python version, e.g. 3.11.7 */
  readonly python: string
  readonly interpreter: string
  readonly logPath: string
  /** pythonia's REQ_TIMEOUT in this process (fixed when pythonia was first imported) */
  readonly bridgeTimeoutMs: number
}

export interface PythonRuntimeService {
  /** Run a kernel: params in (any JSON value), its result out. */
  readonly call: (kernel: string, params: unknown, options?: CallOptions) => Effect.Effect<unknown, KernelCallError>
  /** The worker, started if it is not running. */
  readonly worker: Effect.Effect<WorkerInfo, KernelCrashedError | KernelFailedError>
  /** Stop the worker now; the next call starts a fresh one. */
  readonly stop: Effect.Effect<void>
}

export class PythonRuntime extends Context.Tag("polyquant/PythonRuntime")<PythonRuntime, PythonRuntimeService>() {}

/** Where kernels run (src/engine/executor.ts): the one worker, or Ray actors driven from it. */
export type ExecutorConfig =
  | { readonly kind: "local" }
  | {
      readonly kind: "ray"
      /** `auto` or HOST:PORT of a running cluster; none: a local Ray started for the run */
      readonly address?: string
      /** how many actors (default: one per GPU, else 2 CPU actors) */
      readonly actors?: number
      /** torch threads per CPU actor (default: the CPUs shared out) */
      readonly threads?: number
    }

export interface PythonRuntimeConfig {
  /** local (default) or ray */
  readonly executor?: ExecutorConfig
  /** the interpreter; default: POLYQUANT_PYTHON, else .venv/bin/python (src/python/interpreter.ts) */
  readonly python?: string
  /** the worker log when a call names none; default: <tmpdir>/polyquant/worker-<node pid>.log */
  readonly logPath?: string
  /** torch.set_num_threads in the worker; default: torch's own choice */
  readonly threads?: number
  /** pythonia's timeout for the bridge's own requests (import, start); kernel calls never time out */
  readonly bridgeTimeoutMs?: number
  /** how often the events file is read during a call */
  readonly pollMs?: number
}

const DEFAULT_BRIDGE_TIMEOUT_MS = 120_000 // importing api.py takes well under a second; 2 min covers a cold disk
const DEFAULT_POLL_MS = 100 // progress arrives at most 4/s (context.py), so 10 reads a second keep up
const LOG_TAIL_LINES = 30
const RAY_POLL_WAIT_S = 0.05 // a poll holds the bridge this long at most: other steps' requests wait no longer
const STOP_GRACE_MS = 2_000 // SIGTERM, then SIGKILL after this long

// ---------------------------------------------------------------------------------------------
// pythonia, loaded once per process

interface PythoniaCom {
  proc: ChildProcess | null
}
interface PythoniaModule {
  python: ((file: string) => Promise<PyApi>) & { exit: () => void }
  /** evaluate a Python expression in the worker's main thread */
  py: (tokens: TemplateStringsArray, ...values: unknown[]) => Promise<unknown>
  com: PythoniaCom
}
/** The proxy of api.py; `name$` calls pass keyword arguments (pythonia's `$timeout` among them). */
interface PyApi {
  start$: (optionsJson: string, kwargs: { $timeout: number }) => Promise<string>
  call$: (kernel: string, paramsJson: string, ctxJson: string, kwargs: { $timeout: number }) => Promise<string>
  // the Ray executor (python/polyquant/executor): a step is submitted, then polled for its envelope
  submit$: (kernel: string, paramsJson: string, ctxJson: string, optionsJson: string, kwargs: { $timeout: number }) => Promise<string>
  poll$: (job: string, waitS: number, kwargs: { $timeout: number }) => Promise<string>
  cancel$: (job: string, kwargs: { $timeout: number }) => Promise<string>
}

let pythonia: PythoniaModule | undefined
let importedTimeoutMs = 0

/**
 * Spawn the worker and import `polyquant.api` in it. The module is imported by name, with python/
 * on the worker's PYTHONPATH, so that it is the same module as `polyquant.api` everywhere else
 * (pythonia's import by file path would load a second copy under the name `api.py`).
 */
const spawnWorker = async (interpreter: string, bridgeTimeoutMs: number): Promise<{ py: PythoniaModule; imported: Promise<PyApi> }> => {
  const saved = { PYTHON_BIN: process.env.PYTHON_BIN, PYTHONPATH: process.env.PYTHONPATH, REQ_TIMEOUT: process.env.REQ_TIMEOUT }
  // read when the process spawns (PYTHON_BIN, PYTHONPATH) or when pythonia is imported (REQ_TIMEOUT)
  process.env.PYTHON_BIN = interpreter
  const pythonDir = dirname(dirname(apiPath()))
  process.env.PYTHONPATH = saved.PYTHONPATH ? `${pythonDir}${delimiter}${saved.PYTHONPATH}` : pythonDir
  try {
    if (pythonia === undefined) {
      process.env.REQ_TIMEOUT = String(bridgeTimeoutMs)
      const mod = (await import("pythonia")) as unknown as { default?: PythoniaModule } & PythoniaModule
      pythonia = mod.default ?? mod
      importedTimeoutMs = bridgeTimeoutMs
    }
    // the first import spawned the process; after a stop, python(name) spawns a fresh one
    return { py: pythonia, imported: pythonia.python("polyquant.api") }
  } finally {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key]
      else process.env[key] = value
    }
  }
}

// ---------------------------------------------------------------------------------------------
// the worker

interface Exit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

interface Worker {
  readonly proc: ChildProcess
  readonly api: PyApi
  readonly info: WorkerInfo
  /** the runtime that started it: only that runtime's finalizer stops it */
  readonly owner: symbol
  readonly exited: Promise<Exit>
  logPath: string
}

/** The last lines of a log file (the last 16 KB at most). */
export const logTail = (path: string, lines: number = LOG_TAIL_LINES): string => {
  let fd: number | undefined
  try {
    fd = openSync(path, "r")
    const size = fstatSync(fd).size
    const length = Math.min(size, 16_384)
    const buffer = Buffer.alloc(length)
    readSync(fd, buffer, 0, length, size - length)
    return buffer.toString("utf8").split("\n").slice(-lines - 1).join("\n").trimEnd()
  } catch {
    return ""
  } finally {
    if (fd !== undefined) closeSync(fd)
  }
}

const exitPromise = (proc: ChildProcess): Promise<Exit> =>
  new Promise((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) resolve({ code: proc.exitCode, signal: proc.signalCode })
    else proc.once("exit", (code, signal) => resolve({ code, signal }))
  })

const describeExit = (exit: Exit): string =>
  exit.signal !== null ? `was killed by ${exit.signal}` : `exited with code ${exit.code ?? "unknown"}`

/** Why api.py failed to import: run the import in a plain subprocess to capture the traceback. */
const importDiagnosis = (interpreter: string): string => {
  const probe = spawnSync(interpreter, ["-c", "import sys; sys.path.insert(0, sys.argv[1]); import polyquant.api", join(dirname(apiPath()), "..")], {
    encoding: "utf8",
    timeout: 60_000
  })
  if (probe.error) return String(probe.error.message)
  return (probe.stderr ?? "").trim().split("\n").slice(-LOG_TAIL_LINES).join("\n")
}

type Outcome<T> = { readonly kind: "reply"; readonly value: T } | { readonly kind: "exit"; readonly exit: Exit } | { readonly kind: "timeout" }

const raceExit = async <T>(work: Promise<T>, exited: Promise<Exit>, timeoutMs?: number): Promise<Outcome<T>> => {
  let timer: NodeJS.Timeout | undefined
  const contenders: Array<Promise<Outcome<T>>> = [
    work.then((value) => ({ kind: "reply", value }) as const),
    exited.then((exit) => ({ kind: "exit", exit }) as const)
  ]
  if (timeoutMs !== undefined) contenders.push(new Promise((resolve) => (timer = setTimeout(() => resolve({ kind: "timeout" }), timeoutMs))))
  try {
    return await Promise.race(contenders)
  } finally {
    if (timer !== undefined) clearTimeout(timer)
  }
}

/** Follow a JSON-lines file from its current end; hand each whole, valid line to `onEvent`. */
const tailEvents = (path: string, onEvent: (event: WorkerEvent) => void, pollMs: number): { stop: () => void } => {
  let offset = 0
  try {
    offset = existsSync(path) ? fstatSizeOf(path) : 0
  } catch {
    offset = 0
  }
  const decoder = new StringDecoder("utf8")
  let pending = ""
  const deliver = (line: string): void => {
    if (line.trim() === "") return
    let raw: unknown
    try {
      raw = JSON.parse(line)
    } catch {
      return // a torn line cannot happen (one write per event), but a stray one must not stop the tail
    }
    const parsed = WorkerEvent.safeParse(raw)
    if (!parsed.success) return
    try {
      onEvent(parsed.data)
    } catch {
      // a failing listener must not break the call
    }
  }
  const read = (): void => {
    let fd: number | undefined
    try {
      fd = openSync(path, "r")
      const size = fstatSync(fd).size
      if (size < offset) offset = 0 // truncated: start over
      while (offset < size) {
        const buffer = Buffer.alloc(Math.min(size - offset, 1 << 20))
        const n = readSync(fd, buffer, 0, buffer.length, offset)
        if (n <= 0) break
        offset += n
        pending += decoder.write(buffer.subarray(0, n))
      }
    } catch {
      return // not created yet
    } finally {
      if (fd !== undefined) closeSync(fd)
    }
    const lines = pending.split("\n")
    pending = lines.pop() ?? ""
    for (const line of lines) deliver(line)
  }
  const timer = setInterval(read, pollMs)
  return {
    stop: () => {
      clearInterval(timer)
      read()
      if (pending !== "") deliver(pending)
      pending = ""
    }
  }
}

const fstatSizeOf = (path: string): number => {
  const fd = openSync(path, "r")
  try {
    return fstatSync(fd).size
  } finally {
    closeSync(fd)
  }
}

const parseEnvelope = (kernel: string, text: string): { ok: true; result: unknown } | { ok: false; error: KernelFailedError } => {
  let envelope: { ok?: boolean; result?: unknown; error?: Record<string, unknown> }
  try {
    envelope = JSON.parse(text) as typeof envelope
  } catch {
    return {
      ok: false,
      error: new KernelFailedError({ kernel, type: "EnvelopeError", message: `kernel ${kernel} returned something that is not JSON: ${String(text).slice(0, 200)}`, traceback: "", retryable: false, polyquant: false })
    }
  }
  if (envelope.ok === true) return { ok: true, result: envelope.result }
  const e = envelope.error ?? {}
  return {
    ok: false,
    error: new KernelFailedError({
      kernel,
      type: typeof e.type === "string" ? e.type : "Error",
      message: typeof e.message === "string" ? e.message : JSON.stringify(e),
      traceback: typeof e.traceback === "string" ? e.traceback : "",
      retryable: e.retryable === true,
      polyquant: e.polyquant === true
    })
  }
}

/** The kernel's context (python/polyquant/context.py) as the worker reads it. */
const contextJson = (kernel: string, options: CallOptions): string =>
  JSON.stringify({
    kernel,
    run_id: options.runId ?? "local",
    step_id: options.stepId ?? kernel,
    events_path: options.eventsPath ?? null,
    checkpoint_path: options.checkpointPath ?? null,
    stop_path: options.stopPath ?? null,
    artifacts_dir: options.artifactsDir ?? null
  })

// ---------------------------------------------------------------------------------------------
// the service

// pythonia holds one Python process per Node process, so the worker and its lock are per process
// too: every PythonRuntime in a process shares them. Closing a runtime's scope stops the worker
// if that runtime started it; a worker that another runtime started stays up for its owner.
let current: Worker | undefined
const lock = Effect.unsafeMakeSemaphore(1) // one kernel at a time: one worker, one model resident

export const makePythonRuntime = (config: PythonRuntimeConfig = {}) =>
  Effect.gen(function* () {
    const owner = Symbol("PythonRuntime")
    const bridgeTimeoutMs = config.bridgeTimeoutMs ?? DEFAULT_BRIDGE_TIMEOUT_MS
    const pollMs = config.pollMs ?? DEFAULT_POLL_MS
    const defaultLog = config.logPath ?? join(tmpdir(), "polyquant", `worker-${process.pid}.log`)

    /** Stop a process now; clear pythonia's handle to it, so that the next start spawns afresh. */
    const discard = (proc: ChildProcess): void => {
      if (pythonia !== undefined && pythonia.com.proc === proc) pythonia.python.exit()
      proc.kill("SIGKILL")
    }

    const kill = async (worker: Worker): Promise<void> => {
      if (current === worker) current = undefined
      if (pythonia !== undefined && pythonia.com.proc === worker.proc) pythonia.python.exit() // SIGTERM, clears com.proc
      else worker.proc.kill("SIGTERM")
      const done = await Promise.race([worker.exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), STOP_GRACE_MS))])
      if (!done) worker.proc.kill("SIGKILL")
      await worker.exited
    }

    const crashed = (kernel: string, worker: { logPath: string }, exit: Exit, phase: "start" | "call", extra = ""): KernelCrashedError => {
      const tail = [logTail(worker.logPath), extra].filter((s) => s !== "").join("\n")
      return new KernelCrashedError({
        kernel,
        phase,
        exitCode: exit.code,
        signal: exit.signal,
        logPath: worker.logPath,
        logTail: tail,
        message:
          phase === "start"
            ? `the Python worker ${describeExit(exit)} while starting (log: ${worker.logPath})${extra ? `\n${extra}` : ""}`
            : `the Python worker ${describeExit(exit)} while running kernel ${kernel} (log: ${worker.logPath})`
      })
    }

    const chooseInterpreter = () => {
      if (config.python === undefined) return resolveInterpreter()
      const found = findExecutable(config.python)
      return { path: found ?? config.python, exists: found !== undefined, fix: "pass an existing interpreter", source: "config" }
    }

    const start = async (kernel: string, logPath: string): Promise<Worker> => {
      const interpreter = chooseInterpreter()
      if (!interpreter.exists) {
        throw new KernelCrashedError({
          kernel,
          phase: "start",
          exitCode: null,
          signal: null,
          logPath,
          logTail: "",
          message: `no Python interpreter at ${interpreter.path} (${interpreter.source}): ${interpreter.fix}`
        })
      }
      mkdirSync(dirname(logPath), { recursive: true })
      const { py, imported } = await spawnWorker(interpreter.path, bridgeTimeoutMs)
      const proc = py.com.proc
      if (proc === null) throw new Error("pythonia did not start a Python process")
      proc.on("error", () => {}) // a failed spawn or a send to a dead worker shows up as its exit
      const exited = exitPromise(proc)
      const base = { logPath }
      const module = await raceExit(imported, exited).catch(async () => {
        // the import raised (pythonia's exception has no message): stop the process, show why
        discard(proc)
        const exit = await Promise.race([exited, new Promise<Exit>((r) => setTimeout(() => r({ code: null, signal: null }), STOP_GRACE_MS))])
        throw crashed(kernel, base, exit, "start", importDiagnosis(interpreter.path))
      })
      if (module.kind !== "reply") {
        discard(proc)
        throw crashed(kernel, base, module.kind === "exit" ? module.exit : { code: null, signal: null }, "start", importDiagnosis(interpreter.path))
      }
      const api = module.value
      const startOptions = JSON.stringify({ log_path: logPath, parent_pid: process.pid, ...(config.threads ? { threads: config.threads } : {}) })
      const reply = await raceExit(api.start$(startOptions, { $timeout: bridgeTimeoutMs }), exited).catch(
        async (error: unknown) => {
          // a bridge timeout or a PythonException: pythonia's message is empty, the log says more
          const exit = await Promise.race([exited, new Promise<Exit>((r) => setTimeout(() => r({ code: null, signal: null }), 200))])
          discard(proc)
          throw crashed(kernel, base, exit, "start", error instanceof Error ? error.message : String(error))
        }
      )
      if (reply.kind !== "reply") {
        discard(proc)
        throw crashed(kernel, base, reply.kind === "exit" ? reply.exit : { code: null, signal: null }, "start")
      }
      const envelope = parseEnvelope(kernel, reply.value)
      if (!envelope.ok) {
        discard(proc)
        throw envelope.error
      }
      // Ctrl-C in a terminal reaches the whole process group: the worker ignores it and stops
      // through the engine's stop file (checkpoint first), or is stopped by the runtime
      const quiet = await raceExit(py.py`__import__("signal").signal(__import__("signal").SIGINT, __import__("signal").SIG_IGN) and None`, exited).catch(() => undefined)
      if (quiet === undefined || quiet.kind !== "reply") {
        discard(proc)
        throw crashed(kernel, base, quiet?.kind === "exit" ? quiet.exit : { code: null, signal: null }, "start", "could not set the worker's SIGINT handler")
      }
      const started = envelope.result as { pid: number; python: string }
      const worker: Worker = {
        owner,
        proc,
        api,
        exited,
        logPath,
        info: { pid: started.pid, python: started.python, interpreter: interpreter.path, logPath, bridgeTimeoutMs: importedTimeoutMs }
      }
      // a worker that dies between calls is forgotten, so the next call starts a fresh one
      void exited.then(() => {
        if (current === worker) {
          current = undefined
          if (pythonia !== undefined && pythonia.com.proc === proc) pythonia.python.exit()
        }
      })
      return worker
    }

    const ensure = async (kernel: string, logPath: string): Promise<Worker> => {
      // a worker of another runtime in this process that runs another interpreter is replaced
      if (current !== undefined && current.info.interpreter !== chooseInterpreter().path) await kill(current)
      if (current !== undefined && current.proc.exitCode === null && current.proc.signalCode === null) {
        if (current.logPath !== logPath) {
          // point fds 1/2 at this call's log (resident models stay loaded)
          mkdirSync(dirname(logPath), { recursive: true })
          const worker = current
          const reply = await raceExit(worker.api.start$(JSON.stringify({ log_path: logPath, parent_pid: process.pid }), { $timeout: bridgeTimeoutMs }), worker.exited)
          if (reply.kind === "exit") throw crashed(kernel, worker, reply.exit, "call")
          if (reply.kind === "reply") worker.logPath = logPath
        }
        return current
      }
      current = await start(kernel, logPath)
      return current
    }

    const runCall = async (kernel: string, params: unknown, options: CallOptions, signal: AbortSignal): Promise<unknown> => {
      const logPath = options.logPath ?? defaultLog
      const worker = await ensure(kernel, logPath)
      const ctx = contextJson(kernel, options)
      const paramsJson = JSON.stringify(params ?? {})
      const tail = options.eventsPath && options.onEvent ? tailEvents(options.eventsPath, options.onEvent, pollMs) : undefined
      const aborted = new Promise<never>((_, reject) => {
        signal.addEventListener("abort", () => reject(new Error("interrupted")), { once: true })
      })
      aborted.catch(() => {}) // an abort after the call settled is nobody's error
      try {
        const outcome = await raceExit(
          Promise.race([worker.api.call$(kernel, paramsJson, ctx, { $timeout: Infinity }), aborted]),
          worker.exited,
          options.timeoutMs
        )
        if (outcome.kind === "exit") {
          if (current === worker) current = undefined
          discard(worker.proc)
          throw crashed(kernel, worker, outcome.exit, "call")
        }
        if (outcome.kind === "timeout") {
          await kill(worker)
          throw new KernelTimeoutError({ kernel, timeoutMs: options.timeoutMs ?? 0, message: `kernel ${kernel} ran past its timeout of ${options.timeoutMs} ms; the worker was stopped` })
        }
        const envelope = parseEnvelope(kernel, outcome.value)
        if (!envelope.ok) throw envelope.error
        return envelope.result
      } catch (error) {
        if (signal.aborted) await kill(worker) // a Python call cannot be cancelled: stop its worker
        throw error
      } finally {
        tail?.stop()
      }
    }

    const toKernelError = (kernel: string) => (error: unknown): KernelCallError =>
      error instanceof KernelFailedError || error instanceof KernelCrashedError || error instanceof KernelTimeoutError
        ? error
        : new KernelCrashedError({
            kernel,
            phase: "call",
            exitCode: null,
            signal: null,
            logPath: "",
            logTail: "",
            message: `the Python bridge failed while running kernel ${kernel}: ${error instanceof Error ? error.message || error.name : String(error)}`
          })

    const callLocal = (kernel: string, params: unknown, options: CallOptions) =>
      lock.withPermits(1)(Effect.tryPromise({ try: (signal) => runCall(kernel, params, options, signal), catch: toKernelError(kernel) }))

    /**
     * The Ray executor: the worker (Ray's driver) places the step on an actor and answers at once;
     * the call then polls, taking the lock only for each short request, so that other steps can be
     * submitted and polled meanwhile. A forced stop or a timeout cancels the job (its actor is
     * replaced); the worker itself stays up.
     */
    const callRay = (kernel: string, params: unknown, options: CallOptions, executor: Extract<ExecutorConfig, { kind: "ray" }>) =>
      Effect.gen(function* () {
        const logPath = options.logPath ?? defaultLog
        const request = <T>(f: (worker: Worker) => Promise<T>) =>
          lock.withPermits(1)(
            Effect.tryPromise({
              try: async () => {
                const worker = await ensure(kernel, logPath)
                const outcome = await raceExit(f(worker), worker.exited)
                if (outcome.kind === "exit") {
                  if (current === worker) current = undefined
                  discard(worker.proc)
                  throw crashed(kernel, worker, outcome.exit, "call")
                }
                if (outcome.kind !== "reply") throw new Error("no reply")
                return outcome.value
              },
              catch: toKernelError(kernel)
            })
          )
        const rayOptions = JSON.stringify({
          log_path: logPath,
          ...(executor.address !== undefined ? { address: executor.address } : {}),
          ...(executor.actors !== undefined ? { actors: executor.actors } : {}),
          ...(executor.threads !== undefined ? { threads: executor.threads } : {})
        })
        const submitted = parseEnvelope(kernel, yield* request((w) => w.api.submit$(kernel, JSON.stringify(params ?? {}), contextJson(kernel, options), rayOptions, { $timeout: Infinity })))
        if (!submitted.ok) return yield* Effect.fail(submitted.error)
        const job = (submitted.result as { job: string }).job
        const poll: Effect.Effect<unknown, KernelCallError> = Effect.gen(function* () {
          let told = false
          for (;;) {
            const text = yield* request((w) => w.api.poll$(job, RAY_POLL_WAIT_S, { $timeout: bridgeTimeoutMs }))
            const reply = JSON.parse(text) as { pending?: boolean; where?: { state?: string } }
            if (reply.pending === true) {
              if (!told && reply.where?.state === "queued") {
                told = true // where it runs is said by the pool in the events file once it is placed
                options.onEvent?.({ type: "log", level: "info", message: "waiting for a free Ray actor" })
              }
              yield* Effect.sleep(pollMs)
              continue
            }
            const workers = (JSON.parse(text) as { workers?: unknown }).workers
            if (typeof workers === "number" && workers >= 1) options.onWorkers?.(workers)
            const envelope = parseEnvelope(kernel, text)
            if (!envelope.ok) return yield* Effect.fail(envelope.error)
            return envelope.result
          }
        })
        const cancel = request((w) => w.api.cancel$(job, { $timeout: bridgeTimeoutMs })).pipe(Effect.ignore)
        const timed =
          options.timeoutMs === undefined
            ? poll
            : poll.pipe(
                Effect.timeoutFail({
                  duration: options.timeoutMs,
                  onTimeout: () => new KernelTimeoutError({ kernel, timeoutMs: options.timeoutMs ?? 0, message: `kernel ${kernel} ran past its timeout of ${options.timeoutMs} ms; its Ray actor was stopped` })
                }),
                Effect.tapErrorTag("KernelTimeoutError", () => cancel)
              )
        return yield* timed.pipe(Effect.onInterrupt(() => cancel))
      }).pipe((effect) => withEventsTail(effect, options))

    /** The call with the events file tailed meanwhile (the local call tails inside runCall). */
    const withEventsTail = <A, E>(effect: Effect.Effect<A, E>, options: CallOptions) =>
      options.eventsPath && options.onEvent
        ? Effect.acquireUseRelease(
            Effect.sync(() => tailEvents(options.eventsPath!, options.onEvent!, pollMs)),
            () => effect,
            (tail) => Effect.sync(() => tail.stop())
          )
        : effect

    const call = (kernel: string, params: unknown, options: CallOptions = {}) =>
      (config.executor?.kind === "ray" ? callRay(kernel, params, options, config.executor) : callLocal(kernel, params, options)).pipe(
        Effect.withSpan("PythonRuntime.call", { attributes: { kernel } })
      )

    const worker = lock.withPermits(1)(
      Effect.tryPromise({
        try: async () => (await ensure("(start)", defaultLog)).info,
        catch: (error) => toKernelError("(start)")(error) as KernelCrashedError | KernelFailedError
      })
    )

    const stop = lock.withPermits(1)(Effect.promise(async () => (current !== undefined ? kill(current) : undefined)))

    yield* Effect.addFinalizer(() => Effect.promise(async () => (current !== undefined && current.owner === owner ? kill(current) : undefined)))
    return PythonRuntime.of({ call, worker, stop })
  })

/** The real runtime: the worker starts on the first call and stops when the layer's scope closes. */
export const PythonRuntimeLive = (config: PythonRuntimeConfig = {}): Layer.Layer<PythonRuntime> =>
  Layer.scoped(PythonRuntime, makePythonRuntime(config))
