/** The scripted runtime engine and UI tests use: replies, events, failures, crashes, attempts. */
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Either } from "effect"
import { describe, expect, it } from "vitest"
import { DummyRuntimeLayer, makeDummyRuntime } from "../../src/python/DummyRuntime.js"
import { PythonRuntime, type WorkerEvent } from "../../src/python/PythonRuntime.js"

describe("DummyRuntime", () => {
  it("returns scripted results, emits scripted events and records each call", async () => {
    const dummy = makeDummyRuntime({
      perplexity: {
        result: { languages: { en: { ppl: 12.5 } } },
        events: [
          { type: "progress", done: 1, total: 2, unit: "languages" },
          { type: "progress", done: 2, total: 2, unit: "languages" }
        ]
      }
    })
    const events: WorkerEvent[] = []
    const out = await Effect.runPromise(dummy.service.call("perplexity", { model: "m" }, { stepId: "s1", onEvent: (e) => events.push(e) }))
    expect(out).toEqual({ languages: { en: { ppl: 12.5 } } })
    expect(events.map((e) => (e.type === "progress" ? e.done : -1))).toEqual([1, 2])
    expect(dummy.calls).toEqual([{ kernel: "perplexity", params: { model: "m" }, options: expect.objectContaining({ stepId: "s1" }) }])
  })

  it("stages a retry: the reply may depend on the attempt number", async () => {
    const dummy = makeDummyRuntime({
      quantize: (_params, _options, attempt) =>
        attempt === 1 ? { fail: { type: "OutOfMemoryError", message: "CUDA out of memory", retryable: true } } : { result: { ok: attempt } }
    })
    const first = await Effect.runPromise(Effect.either(dummy.service.call("quantize", {})))
    expect(Either.isLeft(first) && first.left._tag === "KernelFailedError" && first.left.retryable).toBe(true)
    expect(await Effect.runPromise(dummy.service.call("quantize", {}))).toEqual({ ok: 2 })
  })

  it("crashes like a dead worker and names unknown kernels", async () => {
    const layer = DummyRuntimeLayer({ boom: { crash: { signal: "SIGKILL", logTail: "Killed" } } })
    const program = Effect.gen(function* () {
      const runtime = yield* PythonRuntime
      const crash = yield* Effect.either(runtime.call("boom", {}))
      const unknown = yield* Effect.either(runtime.call("nope", {}))
      return { crash, unknown }
    })
    const { crash, unknown } = await Effect.runPromise(Effect.provide(program, layer))
    expect(Either.isLeft(crash) && crash.left._tag === "KernelCrashedError" && crash.left.signal).toBe("SIGKILL")
    expect(Either.isLeft(unknown) && unknown.left.message).toBe("unknown kernel 'nope'; the dummy runtime knows: boom")
  })

  it("stops when the stop file appears, like a kernel that honours should_stop", async () => {
    const stopPath = join(mkdtempSync(join(tmpdir(), "polyquant-dummy-")), "stop")
    const dummy = makeDummyRuntime({ slow: { result: 1, delayMs: 2_000 } })
    setTimeout(() => writeFileSync(stopPath, ""), 100)
    const t0 = Date.now()
    const out = await Effect.runPromise(Effect.either(dummy.service.call("slow", {}, { stopPath })))
    expect(Date.now() - t0).toBeLessThan(1_000)
    expect(Either.isLeft(out) && out.left._tag === "KernelFailedError" && out.left.type).toBe("KernelStopped")
  })
})
