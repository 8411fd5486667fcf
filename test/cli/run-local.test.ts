/** Custom TypeScript steps of a DSL workflow, as `polyquant run` hands them to the engine. */
import { join } from "node:path"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { z } from "zod"
import { localSteps } from "../../src/cli/commands/run.js"
import { plan } from "../../src/plan/plan.js"
import { RunStore } from "../../src/store/RunStore.js"
import { step, workflow } from "../../src/workflow/dsl.js"
import { run, scriptedRuntime, tmp } from "../engine/helpers.js"

describe("custom steps through the engine", () => {
  it("runs a custom step over its needs' outputs, checks its outputs, and branches on them", async () => {
    const dir = tmp()
    const db = RunStore.open(join(dir, "pq.db"))
    const wf = workflow({
      name: "custom",
      steps: {
        a: step("test-echo", { with: { values: [1, 2, 3.5] } }),
        total: step.custom({
          needs: ["a"],
          outputs: z.strictObject({ sum: z.number() }),
          run: (o) => Effect.succeed({ sum: ((o["a"] as { echo: { values: number[] } }).echo.values).reduce((x, y) => x + y, 0) })
        }),
        bad: step.custom({ needs: ["a"], outputs: z.strictObject({ sum: z.number() }), run: () => Effect.succeed({ sum: "six" }) }),
        big: step("test-echo", { needs: ["total"], if: "steps.total.outputs.sum > 6.0", with: { message: "big" } })
      }
    })
    const rt = scriptedRuntime({ "test-echo": (p) => Effect.succeed({ echo: p, pid: 1 }) })
    const { result } = await run(db, plan(wf), rt.layer, { local: localSteps(wf) })
    expect(result.steps["total"]).toMatchObject({ status: "succeeded", outputs: { sum: 6.5 } })
    expect(result.steps["bad"]?.status).toBe("failed")
    expect(result.steps["bad"]?.error?.message).toMatch(/^custom step bad returned outputs that do not match its schema: outputs\.sum: /)
    expect(result.steps["big"]?.status).toBe("succeeded")
    expect(db.branches(result.runId)[0]).toMatchObject({ stepId: "big", result: true, values: { "steps.total.outputs.sum": 6.5 } })
    expect(rt.calls.map((c) => c.params["message"] ?? null)).toEqual([null, "big"])
  })
})
