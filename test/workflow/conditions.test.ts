/** CEL conditions: zod → CEL typing at load, evaluation with recorded values, `${{ }}` in `with`. */
import { describe, expect, it } from "vitest"
import { z } from "zod"
import { disparity } from "../../src/kernels/disparity.js"
import { testCount } from "../../src/kernels/testing.js"
import type { PlannedStep } from "../../src/plan/types.js"
import { celSchemaOf, checkExpression, evaluateCondition, resolveWith, typedEnvironment } from "../../src/workflow/conditions.js"
import { ConditionEvaluationError } from "../../src/workflow/errors.js"

describe("zod → CEL types", () => {
  it("keeps object fields, ints, lists and maps", () => {
    const schema = z.strictObject({
      n: z.number().int(),
      x: z.number(),
      maybe: z.number().nullable(),
      s: z.enum(["a", "b"]),
      l: z.array(z.number().int()),
      m: z.record(z.string(), z.number()),
      o: z.strictObject({ ok: z.boolean() }),
      t: z.tuple([z.number(), z.number()])
    })
    expect(celSchemaOf(schema)).toEqual({
      n: "int",
      x: "double",
      maybe: "dyn",
      s: "string",
      l: "list<int>",
      m: "map<string, double>",
      o: { ok: "bool" },
      t: "list<double>"
    })
  })
})

const steps = [
  { id: "colab_001", outputs: disparity.outputs, matrixed: false },
  { id: "count", outputs: testCount.outputs, matrixed: false },
  { id: "sweep", outputs: undefined, matrixed: true }
]
const env = typedEnvironment(steps)
const scope = {
  known: new Set(["colab_001", "count", "sweep", "later"]),
  reachable: new Set(["colab_001", "count", "sweep"]),
  matrixed: new Set(["sweep"]),
  matrixAxes: new Set<string>(),
  outputs: new Map(steps.map((s) => [s.id, s.outputs] as const))
}

describe("type checking at load", () => {
  it.each([
    ["steps.colab_001.outputs.disparity.value < 2.0", "bool"],
    ["steps.colab_001.outputs.languages['he'].degradation.value", "dyn"],
    ["steps.colab_001.outputs.worst_language", "string"],
    ["steps.count.outputs.resumed_from + 1", "int"],
    ["size(steps.count.outputs.values) > 3", "bool"],
    ["steps.sweep.status == 'succeeded'", "bool"]
  ])("%s is %s", (expression, type) => {
    const checked = checkExpression(env, expression, scope)
    expect(checked.problems).toEqual([])
    expect(checked.type).toBe(type)
  })

  it.each([
    ["steps.colab_001.outputs.disparty.value < 2", "'steps.colab_001.outputs.disparty.value': steps.colab_001.outputs has no field 'disparty' (fields: reference, quant, architecture, awq, variant, protected, languages, disparity, gap, worst_language, bootstrap, protocol, windows, kl_mode)"],
    ["steps.colab_001.outputs.disparity.valu < 2", "'steps.colab_001.outputs.disparity.valu': steps.colab_001.outputs.disparity has no field 'valu' (fields: value, ci, defined, reason)"],
    ["steps.colab_001.outputs.languages['he'].degradaton.value > 0.1", "'steps.colab_001.outputs.languages.he.degradaton.value': steps.colab_001.outputs.languages.he has no field 'degradaton' (fields: ppl_base, ppl_quant, bpb_base, bpb_quant, tokens, degradation, delta_bpb, kl, delta_p, top1_agreement)"],
    ["steps.count.outputs.resumed_from + 'a' == 'b'", "CEL type error: no such overload: int + string"],
    ["steps.nope.status == 'x'", "'steps.nope.status': unknown step 'nope'"],
    ["steps.later.status == 'x'", "'steps.later.status': step 'later' is not in this step's needs (add it to needs, directly or through a step it needs)"],
    ["steps.count.result", "'steps.count.result': a step has 'status' and 'outputs', not 'result'"],
    ["steps.sweep.outputs.x > 1", "'steps.sweep.outputs.x': step 'sweep' has a matrix, so it has one output per instance; a condition can read only steps.sweep.status"],
    ["steps.count.status ==", "CEL syntax error: Unexpected token: EOF"]
  ])("%s fails: %s", (expression, problem) => {
    expect(checkExpression(env, expression, scope).problems).toEqual([problem])
  })
})

const disparityOutputs = (value: number | null) => ({
  reference: "en",
  disparity: { value, ci: [1.1, 2.9], defined: value !== null },
  worst_language: "he"
})

describe("evaluateCondition", () => {
  it("decides and records the values that decided it", () => {
    const state = { colab_001: { status: "succeeded", outputs: disparityOutputs(1.5), uses: "disparity" } }
    expect(evaluateCondition("steps.colab_001.outputs.disparity.value < 2.0", state)).toEqual({
      result: true,
      values: { "steps.colab_001.outputs.disparity.value": 1.5 }
    })
    const high = { colab_001: { status: "succeeded", outputs: disparityOutputs(2.5), uses: "disparity" } }
    expect(evaluateCondition({ expression: "steps.colab_001.outputs.disparity.value >= 2.0 && steps.colab_001.status == 'succeeded'", references: [] }, high)).toEqual({
      result: true,
      values: { "steps.colab_001.outputs.disparity.value": 2.5, "steps.colab_001.status": "succeeded" }
    })
    expect(evaluateCondition("steps.colab_001.outputs.disparity.value < 2.0", high).result).toBe(false)
  })

  it("treats integer outputs as CEL ints (so int arithmetic type-checks and runs)", () => {
    const state = { count: { status: "succeeded", outputs: { values: [0, 1, 4], resumed_from: 2 }, uses: "test-count" } }
    expect(evaluateCondition("steps.count.outputs.resumed_from + 1 == 3 && steps.count.outputs.values[2] == 4", state)).toEqual({
      result: true,
      values: { "steps.count.outputs.resumed_from": 2, "steps.count.outputs.values.2": 4 }
    })
  })

  it("fails clearly on missing outputs, nulls and non-boolean results", () => {
    const skipped = { colab_001: { status: "skipped" } }
    expect(() => evaluateCondition("steps.colab_001.outputs.disparity.value < 2.0", skipped)).toThrow("step 'colab_001' has no outputs (its status is skipped)")
    const undefinedIndex = { colab_001: { status: "succeeded", outputs: disparityOutputs(null), uses: "disparity" } }
    expect(() => evaluateCondition("steps.colab_001.outputs.disparity.value < 2.0", undefinedIndex)).toThrow(ConditionEvaluationError)
    expect(evaluateCondition("steps.colab_001.outputs.disparity.defined && steps.colab_001.outputs.disparity.value < 2.0", undefinedIndex).result).toBe(false)
    expect(() => evaluateCondition("steps.colab_001.outputs.worst_language", undefinedIndex)).toThrow('a condition must be true or false, got "he"')
  })
})

describe("resolveWith", () => {
  const base: PlannedStep = {
    id: "sleep",
    baseId: "sleep",
    uses: "test-count",
    kernelVersion: "1",
    with: { to: "${{ steps.count.outputs.resumed_from * 3 }}", tick: 0 },
    needs: ["count"],
    platform: "local",
    retry: { max: 0, on: [] },
    continueOnError: false,
    gpu: false,
    checkpoints: true,
    source: { file: "x.yaml", line: 1, column: 1 },
    expressions: [{ path: "to", expression: "steps.count.outputs.resumed_from * 3" }]
  }
  const state = { count: { status: "succeeded", outputs: { values: [], resumed_from: 2 }, uses: "test-count" } }

  it("evaluates ${{ }} over earlier outputs and applies the kernel's defaults", () => {
    expect(resolveWith(base, state)).toEqual({ to: 6, tick: 0, checkpoint_every: 2 })
  })

  it("interpolates expressions inside text", () => {
    const echo: PlannedStep = { ...base, uses: "test-echo", with: { message: "resumed from ${{ steps.count.outputs.resumed_from }}" }, expressions: [{ path: "message", expression: "steps.count.outputs.resumed_from" }] }
    expect(resolveWith(echo, state)).toEqual({ message: "resumed from 2" })
  })

  it("rejects a value the kernel's schema refuses", () => {
    const bad = { count: { status: "succeeded", outputs: { values: [], resumed_from: -1 }, uses: "test-count" } }
    expect(() => resolveWith(base, bad)).toThrow("step 'sleep': with.to: Too small")
  })

  it("returns planned `with` untouched when there are no expressions", () => {
    const plain = { ...base, with: { to: 3, tick: 0, checkpoint_every: 2 }, expressions: undefined }
    expect(resolveWith(plain, state)).toBe(plain.with)
  })
})

describe("matrixed steps in conditions", () => {
  it("read as one step whose status aggregates the instances", () => {
    const done = { "sweep[bits=2]": { status: "succeeded" }, "sweep[bits=3]": { status: "cached" } }
    expect(evaluateCondition("steps.sweep.status == 'succeeded'", done)).toEqual({ result: true, values: { "steps.sweep.status": "succeeded" } })
    const failed = { "sweep[bits=2]": { status: "succeeded" }, "sweep[bits=3]": { status: "failed" } }
    expect(evaluateCondition("steps.sweep.status == 'succeeded'", failed)).toEqual({ result: false, values: { "steps.sweep.status": "failed" } })
  })
})

describe("indexed references", () => {
  it("record the value at a literal index", () => {
    const state = { colab_001: { status: "succeeded", outputs: { ...disparityOutputs(1.5), languages: { he: { ppl_base: 12.5 }, en: { ppl_base: 8 } } }, uses: "disparity" } }
    expect(evaluateCondition("steps.colab_001.outputs.languages['he'].ppl_base > steps.colab_001.outputs.languages['en'].ppl_base", state)).toEqual({
      result: true,
      values: { "steps.colab_001.outputs.languages.he.ppl_base": 12.5, "steps.colab_001.outputs.languages.en.ppl_base": 8 }
    })
  })
})
