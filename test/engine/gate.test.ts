/**
 * Whether a step runs after a need that did not succeed is decided by what its `if:` reads (the
 * loader's references), not by how its text looks.
 */
import { join } from "node:path"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { readsStatus } from "../../src/engine/gate.js"
import { KernelFailedError } from "../../src/python/errors.js"
import { RunStore } from "../../src/store/RunStore.js"
import { makePlan, run, scriptedRuntime, step, tmp } from "./helpers.js"

describe("readsStatus", () => {
  it("is true for a steps.<id>.status reference only", () => {
    expect(readsStatus({ expression: 'steps.a["status"] == "failed"', references: ["steps.a.status"] })).toBe(true)
    expect(readsStatus({ expression: 'steps.a.outputs.note == "b.status"', references: ["steps.a.outputs.note"] })).toBe(false)
    expect(readsStatus({ expression: "matrix.status == 4", references: ["matrix.status"] })).toBe(false)
    expect(readsStatus(undefined)).toBe(false)
  })
})

describe("Engine: gating on a failed need", () => {
  it("runs a step whose `if:` reads the status by index, and skips one that only mentions `.status` in a string", async () => {
    const dir = tmp()
    const db = RunStore.open(join(dir, ".polyquant", "pq.db"))
    const rt = scriptedRuntime({
      "test-echo": (p) => Effect.succeed({ echo: p, pid: 1 }),
      "test-fail": () => Effect.fail(new KernelFailedError({ kernel: "test-fail", type: "PolyquantError", message: "broken", traceback: "", retryable: false, polyquant: true }))
    })
    const plan = makePlan(dir, [
      step("flaky", "test-fail"),
      step("cleanup", "test-echo", { needs: ["flaky"], condition: { expression: 'steps.flaky["status"] == "failed"', references: ["steps.flaky.status"] } }),
      step("report", "test-echo", { needs: ["flaky"], condition: { expression: 'steps.flaky.outputs.note != "flaky.status"', references: ["steps.flaky.outputs.note"] } })
    ])
    const { result } = await run(db, plan, rt.layer)
    expect(result.steps["cleanup"]?.status).toBe("succeeded")
    expect(db.branches(result.runId)).toMatchObject([{ stepId: "cleanup", result: true, values: { "steps.flaky.status": "failed" } }])
    expect(result.steps["report"]?.status).toBe("skipped")
    expect(db.getStep(result.runId, "report")?.reason).toBe("needs flaky (failed) did not succeed")
  })
})
