/**
 * The TypeScript DSL builds the same Workflow as YAML (same checker), `.ts` workflows load
 * through the CLI, custom steps carry an Effect, and the DSL's static types come from the kernels'
 * zod schemas (tsc must reject the `@ts-expect-error` lines in test/fixtures/dsl/types.ts).
 */
import { spawnSync } from "node:child_process"
import { existsSync } from "node:fs"
import { join, resolve } from "node:path"
import { pathToFileURL } from "node:url"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { z } from "zod"
import { quantize } from "../../src/kernels/quantize.js"
import { plan } from "../../src/plan/plan.js"
import { step, workflow } from "../../src/workflow/dsl.js"
import { WorkflowInvalidError } from "../../src/workflow/errors.js"
import { loadWorkflowFile } from "../../src/workflow/load.js"
import type { Workflow } from "../../src/workflow/types.js"

const dir = "test/fixtures/dsl"

/** A Workflow without where it was written. */
const located = (w: Workflow) => {
  const { file: _f, baseDir: _b, steps, ...rest } = w
  return { ...rest, steps: steps.map(({ source: _s, ...s }) => s) }
}

const week1 = () =>
  workflow({
    name: "week1-validation",
    defaults: { model: { id: "fixture:tiny-llama" }, corpus: { source: "udhr", languages: ["en", "he", "ar", "zh"], split: "heldout" } },
    budgets: { "colab-free": { gpu_hours: 4, per: "day" }, kaggle: { gpu_hours: 30, per: "week" } },
    steps: {
      colab_001: step.disparity({ platform: "colab-free", estimate: "30m", with: { quant: { method: "rtn", bits: 4, group_size: 32 }, protect: { layers: [0, -1] } } }),
      colab_002: step.disparity({ needs: ["colab_001"], if: "steps.colab_001.outputs.disparity.value < 2.0", with: { quant: { method: "rtn", bits: 3, group_size: 32 } } }),
      kaggle_001: step("layer-sweep", {
        needs: ["colab_001"],
        if: "steps.colab_001.outputs.disparity.value >= 2.0",
        platform: "kaggle",
        estimate: "6h",
        with: { quant: { method: "rtn", bits: 4, group_size: 32 }, mode: "protect-one", checkpoint_every: 4 }
      })
    }
  })

/** the fields a condition on a quantize step can read, as the checker lists them */
/** The fields the error lists: the quantize kernel's outputs, in its schema's order. */
const QUANTIZE_FIELDS = Object.keys(quantize.outputs.shape).join(", ")

describe("DSL == YAML", () => {
  it("builds the same Workflow and the same Plan", async () => {
    const yaml = await loadWorkflowFile(join(dir, "week1.yaml"))
    if (!yaml.ok) throw new Error(JSON.stringify(yaml.issues))
    const dsl = week1()
    expect(located(dsl)).toEqual(located(yaml.workflow))
    expect(dsl.digest).toBe(yaml.workflow.digest)
    const strip = (p: ReturnType<typeof plan>) => ({ ...p, workflow: { ...p.workflow, file: "" }, steps: p.steps.map((s) => ({ ...s, source: undefined })) })
    expect(strip(plan(dsl))).toEqual(strip(plan(yaml.workflow)))
  })

  it("reports invalid DSL workflows with the same checks and paths", () => {
    let error: unknown
    try {
      workflow({
        name: "bad",
        steps: {
          a: step.quantize({ with: { model: { id: "fixture:tiny-llama" }, quant: { bits: 9 } } }),
          b: step.correlation({ needs: ["a", "c"], if: "steps.a.outputs.bitz > 0", with: { x: [1, 2, 3], y: [1, 2, 4] } })
        }
      })
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(WorkflowInvalidError)
    expect((error as WorkflowInvalidError).message.split("\n")).toEqual([
      "workflow.ts steps.a.with.quant.bits: bits must be between 2 and 8",
      `workflow.ts steps.b.if: 'steps.a.outputs.bitz': steps.a.outputs has no field 'bitz' (fields: ${QUANTIZE_FIELDS})`,
      "workflow.ts steps.b.needs.1: unknown step 'c' in needs (steps: a, b)"
    ])
  })

  it("types conditions on custom steps from their output schema and keeps their Effect", async () => {
    const w = workflow({
      name: "custom",
      steps: {
        count: step.correlation({ with: { x: [1, 2, 3], y: [1, 2, 4] } }),
        total: step.custom({
          needs: ["count"],
          outputs: z.strictObject({ sum: z.number().int() }),
          run: (outputs) => Effect.succeed({ sum: (outputs["count"] as { pairs: { x: number }[] }).pairs.reduce((a, p) => a + p.x, 0) })
        }),
        echo: step.correlation({ needs: ["total"], if: "steps.total.outputs.sum > 4", with: { x: [1, 2, 3], y: [1, 2, 4], x_name: "sum ${{ steps.total.outputs.sum }}" } })
      }
    })
    const total = w.steps.find((s) => s.id === "total")!
    expect(total.uses).toBe("custom")
    expect(await Effect.runPromise(total.custom!.run({ count: { pairs: [{ x: 1 }, { x: 4 }] } }))).toEqual({ sum: 5 })
    const p = plan(w)
    expect(p.steps.find((s) => s.id === "total")).toMatchObject({ local: true, kernelVersion: total.custom!.version, needs: ["count"] })
    expect(p.steps.find((s) => s.id === "echo")?.expressions).toEqual([{ path: "x_name", expression: "steps.total.outputs.sum" }])
    expect(() =>
      workflow({
        name: "custom",
        steps: {
          total: step.custom({ outputs: z.strictObject({ sum: z.number() }), run: () => Effect.succeed({ sum: 1 }) }),
          echo: step.correlation({ needs: ["total"], if: "steps.total.outputs.summ > 4", with: { x: [1, 2, 3], y: [1, 2, 4] } })
        }
      })
    ).toThrow("steps.total.outputs has no field 'summ' (fields: sum)")
  })
})

describe("TypeScript workflow files", () => {
  const cli = (...args: string[]) => spawnSync(process.execPath, ["bin/polyquant.js", ...args], { encoding: "utf8" })

  it("plan FILE.ts equals plan FILE.yaml, and validate reports a bad .ts by its file name", () => {
    expect(existsSync("dist/cli/main.js")).toBe(true)
    const fromTs = cli("plan", "--json", join(dir, "week1.ts"))
    const fromYaml = cli("plan", "--json", join(dir, "week1.yaml"))
    expect(fromTs.status, fromTs.stderr).toBe(0)
    expect(fromYaml.status, fromYaml.stderr).toBe(0)
    const strip = (text: string) => {
      const p = JSON.parse(text) as { workflow: { file: string }; steps: { source: unknown }[] }
      return { ...p, workflow: { ...p.workflow, file: "" }, steps: p.steps.map((s) => ({ ...s, source: undefined })) }
    }
    expect(strip(fromTs.stdout)).toEqual(strip(fromYaml.stdout))
    const bad = cli("validate", join(dir, "bad.ts"))
    expect(bad.status).toBe(2)
    expect(bad.stderr.trim().split("\n")).toEqual([
      `${dir}/bad.ts steps.a.with.quant.bits: bits must be between 2 and 8`,
      `${dir}/bad.ts steps.b.if: 'steps.a.outputs.bitz': steps.a.outputs has no field 'bitz' (fields: ${QUANTIZE_FIELDS})`,
      `2 errors in ${dir}/bad.ts`
    ])
    // the --set overrides apply to .ts workflows too
    const set = cli("validate", join(dir, "week1.ts"), "--set", "steps.colab_001.with.quant.bits=12")
    expect(set.status).toBe(2)
    expect(set.stderr).toContain(`${dir}/week1.ts steps.colab_001.with.quant.bits: bits must be between 2 and 8 (from --set steps.colab_001.with.quant.bits=12)`)
  })

  it("loads custom steps from a .ts file with their Effect", async () => {
    const { loadWorkflowFile: loadFromDist } = (await import(pathToFileURL(resolve("dist/workflow/load.js")).href)) as { loadWorkflowFile: typeof loadWorkflowFile }
    const result = await loadFromDist(join(dir, "custom.ts"))
    if (!result.ok) throw new Error(JSON.stringify(result.issues))
    const compare = result.workflow.steps.find((s) => s.id === "compare")!
    expect(compare.conditionReferences).toEqual([])
    expect(result.workflow.steps.find((s) => s.id === "report")?.conditionReferences).toEqual(["steps.compare.outputs.difference"])
    const out = await Effect.runPromise(compare.custom!.run({ low: { n: 3 }, high: { n: 5 } }))
    expect(out).toEqual({ longer: "high", difference: 2 })
  })

  it("has static types from each kernel's zod schema (tsc)", () => {
    const tsc = spawnSync(process.execPath, ["node_modules/typescript/bin/tsc", "-p", join(dir, "tsconfig.json")], { encoding: "utf8" })
    expect(tsc.stdout + tsc.stderr).toBe("")
    expect(tsc.status).toBe(0)
  }, 180_000)
})
