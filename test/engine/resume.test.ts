/**
 * Stop and resume with the real Python runtime and the checkpointing `test-count` kernel: the
 * interrupted step continues from its stored checkpoint and ends with the uninterrupted result.
 */
import { existsSync, rmSync } from "node:fs"
import { join } from "node:path"
import { Effect, Layer } from "effect"
import { describe, expect, it } from "vitest"
import { skipWithoutPython } from "../pythonPresent.js"
import { makeStopSignal, runPlan } from "../../src/engine/Engine.js"
import type { RunEvent } from "../../src/engine/events.js"
import { PythonRuntimeLive } from "../../src/python/PythonRuntime.js"
import { RunStore } from "../../src/store/RunStore.js"
import { makeStoreService, Store } from "../../src/store/Store.js"
import { makePlan, step, tmp } from "./helpers.js"


describe.skipIf(skipWithoutPython)("stop and resume with the real runtime", () => {
  it("interrupts a counting kernel at a checkpoint and resumes it to the uninterrupted result", async () => {
    const dir = tmp()
    const db = RunStore.open(join(dir, ".polyquant", "pq.db"))
    const plan = makePlan(dir, [
      step("first", "test-echo", { with: { value: 1 } }),
      step("count", "test-count", { needs: ["first"], with: { to: 24, tick: 0.05, checkpoint_every: 2 }, checkpoints: true })
    ])
    const events: RunEvent[] = []
    const stop = makeStopSignal()
    const layer = Layer.merge(PythonRuntimeLive({ logPath: join(dir, "worker.log") }), Layer.succeed(Store, makeStoreService(db)))
    const first = await Effect.runPromise(
      runPlan(plan, {
        stop,
        onEvent: (e) => {
          events.push(e)
          if (e.type === "step-progress" && e.stepId === "count" && e.done >= 8) stop.request()
        }
      }).pipe(Effect.provide(layer))
    )
    expect(first.status).toBe("interrupted")
    expect(first.steps["first"]?.status).toBe("succeeded")
    expect(first.steps["count"]?.status).toBe("interrupted")
    const stored = JSON.parse((db.getCheckpoint(first.runId, "count") as { data: Buffer }).data.toString()) as { i: number; values: number[] }
    expect(stored.i).toBeGreaterThanOrEqual(8)
    expect(stored.i).toBeLessThan(24)
    expect(events.some((e) => e.type === "step-checkpoint")).toBe(true)

    // the step folder vanishes (a fresh notebook): the engine puts the stored checkpoint back
    const stepDir = join(db.runDir(first.runId), "steps", "count")
    expect(existsSync(join(stepDir, "checkpoint.json"))).toBe(true)
    rmSync(stepDir, { recursive: true })
    const resumedEvents: RunEvent[] = []
    const second = await Effect.runPromise(runPlan(plan, { resume: first.runId, onEvent: (e) => resumedEvents.push(e) }).pipe(Effect.provide(layer)))
    expect(second.runId).toBe(first.runId)
    expect(second.status).toBe("succeeded")
    const outputs = second.steps["count"]?.outputs as { values: number[]; resumed_from: number }
    expect(outputs.values).toEqual(Array.from({ length: 24 }, (_, i) => i * i))
    expect(outputs.resumed_from).toBe(stored.i)
    // the finished step was not rerun: no step-started for it
    expect(resumedEvents.filter((e) => e.type === "step-started").map((e) => (e as { stepId: string }).stepId)).toEqual(["count"])
    expect(db.getRun(first.runId)?.status).toBe("succeeded")
    db.close()
  })
})
