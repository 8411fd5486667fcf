/** The JSON Schema editors use: generated from the zod schemas, committed, kept up to date. */
import { readdirSync, readFileSync } from "node:fs"
import Ajv2020 from "ajv/dist/2020.js"
import { parse } from "yaml"
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
    // `with` is the kernel's object, or a ${{ }} expression standing for all of it
    const ppl = variants.find((v) => v.properties.uses.const === "perplexity")!
    const withObject = (ppl.properties.with as unknown as { anyOf: { properties?: Record<string, unknown>; additionalProperties?: boolean; required?: string[] }[] }).anyOf[0]!
    expect(Object.keys(withObject.properties ?? {})).toEqual(["model", "corpus", "protocol", "segments"])
    expect(withObject.additionalProperties).toBe(false)
    expect(withObject.required).toBeUndefined() // the workflow's defaults may fill any key
    expect(schema.properties.steps.propertyNames.pattern).toBe("^[A-Za-z_][A-Za-z0-9_]*$")
  })
})

describe("schema/workflow.schema.json, as an editor's validator reads it (ajv, draft 2020-12)", () => {
  const validate = new Ajv2020({ strict: false }).compile(JSON.parse(readFileSync("schema/workflow.schema.json", "utf8")) as object)

  /** The README's YAML blocks that are whole workflows (name and steps). */
  const readmeWorkflows = (): unknown[] =>
    [...readFileSync("README.md", "utf8").matchAll(/```yaml\n([\s\S]*?)```/g)]
      .map((m) => parse(m[1]!) as unknown)
      .filter((w): w is Record<string, unknown> => w !== null && typeof w === "object" && "name" in w && "steps" in w)

  it("accepts every shipped workflow and the README's examples (defaults fill with:, ${{ }} stands for any value, a model may be its id)", () => {
    const files = readdirSync("workflows").filter((f) => f.endsWith(".yaml"))
    expect(files.length).toBeGreaterThanOrEqual(13)
    for (const f of files) expect(validate(parse(readFileSync(`workflows/${f}`, "utf8"))), `${f}: ${JSON.stringify(validate.errors?.slice(0, 3))}`).toBe(true)
    const examples = readmeWorkflows()
    expect(examples.length).toBeGreaterThan(0)
    for (const w of examples) expect(validate(w), JSON.stringify(validate.errors?.slice(0, 3))).toBe(true)
  })

  const step = (body: string) => `name: bad\nsteps:\n  a:\n${body}`
  it.each([
    ["an unknown top-level key", "name: bad\ncolour: red\nsteps:\n  a: { uses: correlation, with: { x: [1, 2, 3], y: [1, 2, 4] } }\n"],
    ["no name", "steps:\n  a: { uses: correlation }\n"],
    ["an unknown kernel", step("    uses: perplexityy\n")],
    ["an unknown step key", step("    uses: perplexity\n    colour: red\n")],
    ["an unknown with key", step("    uses: perplexity\n    with: { colour: red }\n")],
    ["bits out of range", step("    uses: quantize\n    with: { quant: { bits: 9 } }\n")],
    ["a misspelt method", step("    uses: quantize\n    with: { quant: { method: gptx } }\n")],
    ["a string for a boolean", step("    uses: perplexity\n    with: { segments: sometimes }\n")],
    ["a number for needs", step("    uses: perplexity\n    needs: 3\n")],
    ["a step id that CEL cannot read", "name: bad\nsteps:\n  colab-001: { uses: perplexity }\n"]
  ])("rejects %s", (_what, text) => {
    expect(validate(parse(text))).toBe(false)
  })
})
