/** The JSON Schema editors use: generated from the zod schemas, committed, kept up to date. */
import { readFileSync } from "node:fs"
import { describe, expect, it } from "vitest"
import { kernels } from "../../src/kernels/catalog.js"
import { workflowJsonSchema } from "../../src/workflow/schema.js"

describe("schema/workflow.schema.json", () => {
  it("is up to date (regenerate: npm run build && node bin/polyquant.js schema --out schema/workflow.schema.json)", () => {
    const committed = JSON.parse(readFileSync("schema/workflow.schema.json", "utf8")) as unknown
    expect(committed).toEqual(JSON.parse(JSON.stringify(workflowJsonSchema())))
  })

  it("has one strict step shape per kernel, with that kernel's `with`", () => {
    const schema = workflowJsonSchema() as {
      additionalProperties: boolean
      required: string[]
      properties: { steps: { additionalProperties: { oneOf?: unknown[]; anyOf?: unknown[] }; propertyNames: { pattern: string } } }
    }
    expect(schema.additionalProperties).toBe(false)
    expect(schema.required).toEqual(["name", "steps"])
    const variants = (schema.properties.steps.additionalProperties.oneOf ?? schema.properties.steps.additionalProperties.anyOf ?? []) as {
      additionalProperties: boolean
      properties: { uses: { const: string }; with: { properties?: Record<string, unknown>; additionalProperties?: boolean } }
    }[]
    // the product's kernels only: the test kernels (registered in this test process) are not offered to editors
    expect(variants.map((v) => v.properties.uses.const).sort()).toEqual(kernels.map((k) => k.name).sort())
    expect(variants.some((v) => v.properties.uses.const.startsWith("test-"))).toBe(false)
    for (const v of variants) expect(v.additionalProperties).toBe(false)
    const ppl = variants.find((v) => v.properties.uses.const === "perplexity")!
    expect(Object.keys(ppl.properties.with.properties ?? {})).toEqual(["model", "corpus", "protocol", "segments"])
    expect(ppl.properties.with.additionalProperties).toBe(false)
    expect(schema.properties.steps.propertyNames.pattern).toBe("^[A-Za-z_][A-Za-z0-9_]*$")
  })
})
