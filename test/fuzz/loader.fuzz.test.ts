/**
 * Property-based tests (fast-check) of the workflow loader and the `--set` parser: whatever text or
 * structure comes in, the result is a workflow or a list of issues, in bounded time, and no
 * exception escapes. `npm test` runs a seed-pinned sample; `npm run fuzz` runs many more with a
 * fresh seed (POLYQUANT_FUZZ_RUNS, POLYQUANT_FUZZ_SEED), and a failure prints the seed to replay.
 */
import fc from "fast-check"
import { stringify } from "yaml"
import { describe, expect, it } from "vitest"
import { kernelNames } from "../../src/kernels/catalog.js"
import { checkWorkflowText, type LoadResult } from "../../src/workflow/load.js"
import { fuzzOptions } from "./options.js"

/** Every run must end within this (a hang guard, not a speed target). */
const BOUND_MS = 5_000

const checked = (text: string, sets: string[] = []): LoadResult => {
  const t0 = Date.now()
  const result = checkWorkflowText(text, "fuzz.yaml", { sets, baseDir: "/nonexistent", env: {} })
  expect(Date.now() - t0).toBeLessThan(BOUND_MS)
  if (!result.ok) {
    expect(result.issues.length).toBeGreaterThan(0)
    for (const issue of result.issues) {
      expect(typeof issue.message).toBe("string")
      expect(issue.message.length).toBeGreaterThan(0)
      expect(issue.message).not.toMatch(/\n\s+at /) // no stack trace in a message
    }
  }
  return result
}

const kernel = fc.constantFrom(...kernelNames(), "custom", "no-such-kernel", "")
const stepId = fc.oneof(fc.constantFrom("a", "b", "baseline", "s_1"), fc.string({ maxLength: 8 }))
const scalar = fc.oneof(fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.string({ maxLength: 12 }), fc.constantFrom("${{ steps.a.outputs.x }}", "${{ matrix.k }}", "${{", "}}", "fixture:tiny-llama", ".inf"))
const value = fc.letrec((tie) => ({
  v: fc.oneof({ depthSize: "small" }, scalar, fc.array(tie("v"), { maxLength: 4 }), fc.dictionary(fc.string({ maxLength: 6 }), tie("v"), { maxKeys: 4 }))
})).v
const step = fc.record(
  {
    uses: kernel,
    with: fc.oneof(value, fc.record({ model: fc.constantFrom("fixture:tiny-llama", "./nowhere", { id: "org/model" }), quant: value, corpus: value }, { requiredKeys: [] })),
    needs: fc.oneof(stepId, fc.array(stepId, { maxLength: 3 })),
    if: fc.oneof(fc.string({ maxLength: 30 }), fc.constantFrom("steps.a.status == 'failed'", "steps.a.outputs.disparity.value < 2.0", "steps.b.outputs.n > 'x'", "1 +", "true")),
    matrix: fc.oneof(value, fc.record({ k: fc.array(scalar, { maxLength: 4 }), include: fc.array(value, { maxLength: 2 }) }, { requiredKeys: [] })),
    retry: value,
    timeout: fc.oneof(fc.string({ maxLength: 6 }), fc.integer()),
    platform: fc.constantFrom("local", "kaggle", "colab-free", "mars")
  },
  { requiredKeys: ["uses"] }
)
const workflowShaped = fc.record(
  {
    name: fc.oneof(fc.string({ maxLength: 10 }), value),
    description: value,
    defaults: fc.oneof(value, fc.record({ model: fc.constantFrom("fixture:tiny-llama", "fixture:nope"), corpus: value, quant: value }, { requiredKeys: [] })),
    budgets: value,
    platforms: value,
    steps: fc.dictionary(stepId, step, { maxKeys: 5 })
  },
  { requiredKeys: [] }
)

describe("fuzzing the workflow loader", () => {
  it("any text ends in a workflow or issues, never an exception", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 300 }), fc.string({ unit: "binary", maxLength: 200 })), (text) => {
        checked(text)
      }),
      fuzzOptions()
    )
  })

  it("any workflow-shaped structure, written as YAML, ends in a workflow or issues", () => {
    fc.assert(
      fc.property(workflowShaped, (w) => {
        checked(stringify(w))
      }),
      fuzzOptions()
    )
  })

  it("any --set on a valid workflow ends in a workflow or issues naming the --set", () => {
    const valid = "name: ok\nsteps:\n  a:\n    uses: correlation\n    with: { x: [1, 2, 3], y: [1, 2, 4] }\n"
    const path = fc.array(fc.oneof(fc.constantFrom("steps", "a", "with", "x", "0", "3", "99999999", "__proto__", "constructor", "name", ""), fc.string({ maxLength: 5 })), { minLength: 0, maxLength: 5 })
    const setText = fc.oneof(fc.string({ maxLength: 40 }), fc.tuple(path, fc.oneof(fc.string({ maxLength: 10 }), fc.constantFrom(".inf", "[1, 2", "{a: 1}", "null", "~", "&a [*a]"))).map(([p, v]) => `${p.join(".")}=${v}`))
    fc.assert(
      fc.property(fc.array(setText, { maxLength: 3 }), (sets) => {
        const result = checked(valid, sets)
        expect(({} as Record<string, unknown>)["polluted"]).toBeUndefined()
        if (!result.ok && sets.length === 0) throw new Error("the valid workflow failed without --set")
      }),
      fuzzOptions()
    )
  })
})
