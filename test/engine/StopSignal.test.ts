import { existsSync } from "node:fs"
import { join } from "node:path"
import { Effect, Either } from "effect"
import { describe, expect, it } from "vitest"
import { makeStopSignal, underStop } from "../../src/engine/StopSignal.js"
import { tmp } from "./helpers.js"

describe("StopSignal", () => {
  it("tells listeners once per escalation: a plain request, then a forced one; repeats change nothing", () => {
    const stop = makeStopSignal()
    const heard: boolean[] = []
    stop.onRequest((force) => heard.push(force))
    stop.request()
    stop.request()
    stop.request({ force: true })
    stop.request({ force: true })
    expect(heard).toEqual([false, true])
    expect({ requested: stop.requested, forced: stop.forced }).toEqual({ requested: true, forced: true })
  })

  it("underStop writes the stop file on a request and fails the call with Interrupted on a forced one", async () => {
    const stop = makeStopSignal()
    const stopPath = join(tmp(), "stop")
    const call = Effect.sync(() => {
      stop.request()
      stop.request({ force: true })
    }).pipe(Effect.zipRight(Effect.never))
    const result = await Effect.runPromise(Effect.either(underStop(stop, "s", stopPath, call)))
    expect(Either.isLeft(result) && result.left._tag).toBe("Interrupted")
    expect(existsSync(stopPath)).toBe(true)
  })

  it("underStop hands back the call's own result and stops listening", async () => {
    const stop = makeStopSignal()
    const stopPath = join(tmp(), "stop")
    expect(await Effect.runPromise(underStop(stop, "s", stopPath, Effect.succeed(42)))).toBe(42)
    stop.request({ force: true })
    expect(existsSync(stopPath)).toBe(false)
  })
})
