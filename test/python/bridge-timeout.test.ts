/**
 * pythonia cuts off any request after REQ_TIMEOUT (100 s by default); kernels run for hours.
 * Here the bridge timeout is 1 s and a kernel call of 2.5 s must still return. This file runs in
 * its own process (vitest isolates files), so pythonia is first imported with that timeout.
 */
import { Effect } from "effect"
import { expect, it } from "vitest"
import { makePythonRuntime } from "../../src/python/PythonRuntime.js"

it("returns a kernel call that runs longer than pythonia's request timeout", async () => {
  const out = await Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const runtime = yield* makePythonRuntime({ bridgeTimeoutMs: 1_000 })
        const info = yield* runtime.worker
        const t0 = Date.now()
        const result = yield* runtime.call("test-sleep", { seconds: 2.5 })
        return { info, result, took: Date.now() - t0 }
      })
    )
  )
  expect(out.info.bridgeTimeoutMs).toBe(1_000) // pythonia was imported with the short timeout
  expect(out.result).toEqual({ slept: 2.5 })
  expect(out.took).toBeGreaterThan(2_400)
})
