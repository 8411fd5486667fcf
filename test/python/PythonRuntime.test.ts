/**
 * The PythonRuntime against the real Python worker and the test kernels
 * (python/polyquant/kernels/testing.py): envelopes, tagged errors, progress events, crashes,
 * timeouts, restarts and the finalizer.
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Exit, Scope } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { KernelCrashedError, KernelFailedError, KernelTimeoutError } from "../../src/python/errors.js"
import { resolveInterpreter } from "../../src/python/interpreter.js"
import { makePythonRuntime, type PythonRuntimeService, type WorkerEvent } from "../../src/python/PythonRuntime.js"

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  try {
    // a zombie (exited, not yet reaped) counts as gone
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"))
  } catch {
    return true
  }
}

const dir = mkdtempSync(join(tmpdir(), "polyquant-runtime-"))
const logPath = join(dir, "worker.log")
let scope: Scope.CloseableScope
let runtime: PythonRuntimeService

const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(Effect.either(effect))

beforeAll(async () => {
  scope = Effect.runSync(Scope.make())
  runtime = await Effect.runPromise(Scope.extend(makePythonRuntime({ logPath }), scope))
})

afterAll(async () => {
  await Effect.runPromise(Scope.close(scope, Exit.void))
})

describe("PythonRuntime", () => {
  it("sends params as JSON and returns the kernel's result; prints land in the log", async () => {
    const params = { a: 1, nested: { text: "שלום 你好", list: [1.5, null, true] } }
    const out = await run(runtime.call("test-echo", params))
    expect(out._tag).toBe("Right")
    const result = (out as { right: { echo: unknown; pid: number } }).right
    expect(result.echo).toEqual(params)
    const info = await Effect.runPromise(runtime.worker)
    expect(result.pid).toBe(info.pid)
    const log = readFileSync(logPath, "utf8")
    expect(log).toContain("echo kernel writes to stdout")
    expect(log).toContain("echo kernel writes to stderr")
  })

  it("turns a Python exception into KernelFailedError with type, message, traceback and retryable", async () => {
    const plain = await run(runtime.call("test-fail", { message: "group_size 100 does not divide 64" }))
    expect(plain._tag).toBe("Left")
    const error = (plain as { left: KernelFailedError }).left
    expect(error).toBeInstanceOf(KernelFailedError)
    expect(error.type).toBe("PolyquantError")
    expect(error.message).toBe("group_size 100 does not divide 64")
    expect(error.traceback).toContain("Traceback")
    expect(error.retryable).toBe(false)
    expect(error.polyquant).toBe(true)
    const oom = (await run(runtime.call("test-fail", { error: "oom" }))) as { left: KernelFailedError }
    expect(oom.left.type).toBe("OutOfMemoryError")
    expect(oom.left.retryable).toBe(true)
    const value = (await run(runtime.call("test-fail", { error: "value" }))) as { left: KernelFailedError }
    expect(value.left.type).toBe("ValueError")
    expect(value.left.polyquant).toBe(false)
  })

  it("hands progress events from the events file to onEvent while the call runs", async () => {
    const events: Array<WorkerEvent & { at: number }> = []
    const eventsPath = join(dir, "events.jsonl")
    const started = Date.now()
    let returnedAt = 0
    const out = await run(
      runtime.call("test-sleep", { seconds: 1.0 }, { eventsPath, onEvent: (e) => events.push({ ...e, at: Date.now() - started }) }).pipe(
        Effect.tap(() => Effect.sync(() => (returnedAt = Date.now() - started)))
      )
    )
    expect(out._tag).toBe("Right")
    expect((out as { right: unknown }).right).toEqual({ slept: 1.0 })
    const progress = events.filter((e) => e.type === "progress")
    // test-sleep ticks 20 times, batched to at most 4 events a second plus the last
    expect(progress.length).toBeGreaterThanOrEqual(3)
    expect(progress.length).toBeLessThanOrEqual(8)
    const last = progress[progress.length - 1]!
    expect(last).toMatchObject({ done: 20, total: 20, unit: "ticks" })
    const dones = progress.map((e) => (e.type === "progress" ? e.done : 0))
    expect([...dones].sort((a, b) => a - b)).toEqual(dones)
    // events arrived while the kernel ran, not all at the end
    expect(progress[0]!.at).toBeLessThan(returnedAt - 400)
  })

  it("lets a kernel finish when the worker gets SIGINT (a terminal's Ctrl-C reaches the whole group)", async () => {
    const info = await Effect.runPromise(runtime.worker)
    setTimeout(() => process.kill(info.pid, "SIGINT"), 300)
    const out = await run(runtime.call("test-sleep", { seconds: 1.0 }))
    expect(out._tag).toBe("Right")
    expect((out as { right: unknown }).right).toEqual({ slept: 1.0 })
    expect(alive(info.pid)).toBe(true)
  })

  it("fails a call whose worker exits within 5 s, with the exit code and the log tail, then starts a fresh worker", async () => {
    const before = await Effect.runPromise(runtime.worker)
    const t0 = Date.now()
    const out = (await run(runtime.call("test-crash", { how: "exit", code: 7 }))) as { left: KernelCrashedError }
    expect(Date.now() - t0).toBeLessThan(5_000)
    expect(out.left).toBeInstanceOf(KernelCrashedError)
    expect(out.left.exitCode).toBe(7)
    expect(out.left.signal).toBeNull()
    expect(out.left.logTail).toContain("about to crash by exit")
    expect(out.left.message).toContain("exited with code 7")
    expect(alive(before.pid)).toBe(false)
    const next = (await run(runtime.call("test-echo", { again: true }))) as { right: { pid: number } }
    expect(next.right.pid).not.toBe(before.pid)
  })

  it.each([
    ["segfault", "SIGSEGV"],
    ["kill", "SIGKILL"]
  ])("reports a worker killed by a signal (%s) as %s", async (how, signal) => {
    const t0 = Date.now()
    const out = (await run(runtime.call("test-crash", { how }))) as { left: KernelCrashedError }
    expect(Date.now() - t0).toBeLessThan(5_000)
    expect(out.left._tag).toBe("KernelCrashedError")
    expect(out.left.signal).toBe(signal)
    expect(out.left.exitCode).toBeNull()
    expect(out.left.logTail).toContain(`about to crash by ${how}`)
    const next = await run(runtime.call("test-echo", { n: 1 }))
    expect(next._tag).toBe("Right")
  })

  it("stops a call past its timeoutMs with KernelTimeoutError, and the next call works", async () => {
    const before = await Effect.runPromise(runtime.worker)
    const t0 = Date.now()
    const out = (await run(runtime.call("test-sleep", { seconds: 30 }, { timeoutMs: 400 }))) as { left: KernelTimeoutError }
    expect(Date.now() - t0).toBeLessThan(4_000)
    expect(out.left).toBeInstanceOf(KernelTimeoutError)
    expect(out.left.timeoutMs).toBe(400)
    expect(alive(before.pid)).toBe(false)
    const next = (await run(runtime.call("test-echo", {}))) as { right: { pid: number } }
    expect(next.right.pid).not.toBe(before.pid)
  })

  it("stops the worker when the call's fiber is interrupted", async () => {
    const before = await Effect.runPromise(runtime.worker)
    const out = await Effect.runPromise(Effect.either(runtime.call("test-sleep", { seconds: 30 }).pipe(Effect.timeout("300 millis"))))
    expect(out._tag).toBe("Left")
    const deadline = Date.now() + 3_000
    while (alive(before.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
    expect(alive(before.pid)).toBe(false)
  })

  it("moves the worker's output to the log a call names", async () => {
    const other = join(dir, "other.log")
    await run(runtime.call("test-echo", { x: 1 }, { logPath: other }))
    expect(readFileSync(other, "utf8")).toContain("echo kernel writes to stdout")
  })

  it("fails with KernelCrashedError naming a missing interpreter", async () => {
    const missing = join(dir, "no-python")
    const out = await Effect.runPromise(
      Effect.scoped(Effect.flatMap(makePythonRuntime({ python: missing, logPath }), (r) => Effect.either(r.call("test-echo", {}))))
    )
    expect(out._tag).toBe("Left")
    const error = (out as { left: KernelCrashedError }).left
    expect(error._tag).toBe("KernelCrashedError")
    expect(error.phase).toBe("start")
    expect(error.message).toContain(missing)
  })

  it("fails with KernelCrashedError (phase start) when polyquant does not import, and leaves no process", async () => {
    // an interpreter whose `polyquant` package raises on import
    const broken = join(dir, "broken")
    mkdirSync(join(broken, "polyquant"), { recursive: true })
    writeFileSync(join(broken, "polyquant", "__init__.py"), "raise ImportError('broken on purpose')\n")
    const wrapper = join(dir, "python-broken")
    writeFileSync(wrapper, `#!/bin/sh\nPYTHONPATH=${broken} exec ${resolveInterpreter().path} "$@"\n`)
    chmodSync(wrapper, 0o755)
    const t0 = Date.now()
    const out = await Effect.runPromise(
      Effect.scoped(Effect.flatMap(makePythonRuntime({ python: wrapper, logPath }), (r) => Effect.either(r.call("test-echo", {}))))
    )
    expect(Date.now() - t0).toBeLessThan(20_000)
    const error = (out as { left: KernelCrashedError }).left
    expect(error._tag).toBe("KernelCrashedError")
    expect(error.phase).toBe("start")
    expect(error.message).toContain("while starting")
    const next = (await run(runtime.call("test-echo", { ok: 1 }))) as { right: { echo: unknown; pid: number } }
    expect(next.right.echo).toEqual({ ok: 1 })
  })

  it("stops the worker when the scope of the runtime that started it closes, and only then", async () => {
    await Effect.runPromise(runtime.stop)
    const scope2 = Effect.runSync(Scope.make())
    const r = await Effect.runPromise(Scope.extend(makePythonRuntime({ logPath }), scope2))
    const info = await Effect.runPromise(r.worker)
    expect(alive(info.pid)).toBe(true)
    // a second runtime in this process shares the worker; closing it leaves the worker to its owner
    const borrowed = await Effect.runPromise(Effect.scoped(Effect.flatMap(makePythonRuntime({ logPath }), (other) => other.worker)))
    expect(borrowed.pid).toBe(info.pid)
    expect(alive(info.pid)).toBe(true)
    await Effect.runPromise(Scope.close(scope2, Exit.void))
    expect(alive(info.pid)).toBe(false)
  })
})
