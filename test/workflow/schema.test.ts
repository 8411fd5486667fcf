/** The JSON Schema editors use: generated from the zod schemas, committed, kept up to date. */
import { readdirSync, readFileSync } from "node:fs"
import { resolve } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { TextDocument } from "vscode-languageserver-textdocument"
import { getLanguageService } from "yaml-language-server/out/server/src/languageservice/yamlLanguageService.js"
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

describe("schema/workflow.schema.json in the real yaml-language-server (what VS Code's YAML extension runs)", () => {
  const schemaUri = pathToFileURL(resolve("schema/workflow.schema.json")).href
  const service = () => {
    const ls = getLanguageService({
      schemaRequestService: (uri: string) => Promise.resolve(readFileSync(fileURLToPath(uri), "utf8")),
      workspaceContext: { resolveRelativePath: (relative: string, resource: string) => new URL(relative, resource).href }
    })
    return ls
  }
  let version = 0
  const diagnose = async (text: string, file: string, associate: boolean) => {
    const ls = service()
    ls.configure({ validate: true, schemas: associate ? [{ uri: schemaUri, fileMatch: ["*.yaml"] }] : [] })
    const doc = TextDocument.create(pathToFileURL(resolve(file)).href, "yaml", ++version, text) // the parse is cached by uri and version
    return (await ls.doValidation(doc, false)).map((d) => `${d.range.start.line + 1}: ${d.message}`)
  }

  it("marks none of the shipped workflows and none of the README's", async () => {
    const files = readdirSync("workflows").filter((f) => f.endsWith(".yaml"))
    for (const f of files) expect(await diagnose(readFileSync(`workflows/${f}`, "utf8"), `workflows/${f}`, true), f).toEqual([])
    const examples = [...readFileSync("README.md", "utf8").matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!).filter((t) => /^name:/m.test(t) && /^steps:/m.test(t))
    expect(examples.length).toBeGreaterThan(0)
    for (const [i, text] of examples.entries()) expect(await diagnose(text, `workflows/readme-${i}.yaml`, true), text.slice(0, 60)).toEqual([])
  })

  it("follows the README's modeline, and marks a wrong value on its line", async () => {
    const modeline = "# yaml-language-server: $schema=../schema/workflow.schema.json\n"
    const good = `${modeline}name: ok\nsteps:\n  a:\n    uses: quantize\n    with: { quant: { bits: 4 } }\n`
    expect(await diagnose(good, "workflows/mine.yaml", false)).toEqual([])
    const bad = `${modeline}name: bad\nsteps:\n  a:\n    uses: quantize\n    with:\n      quant: { bits: 9, method: gptx }\n`
    const found = await diagnose(bad, "workflows/mine.yaml", false)
    expect(found.length).toBeGreaterThan(0)
    expect(found.every((d) => d.startsWith("7: "))).toBe(true)
    expect(found.join("\n")).toMatch(/maximum of 8|gptx|rtn/)
  })

  it("marks an unknown kernel and an unknown key", async () => {
    expect((await diagnose("name: bad\nsteps:\n  a:\n    uses: perplexityy\n", "x.yaml", true)).length).toBeGreaterThan(0)
    expect((await diagnose("name: bad\ncolour: red\nsteps:\n  a: { uses: perplexity }\n", "x.yaml", true)).length).toBeGreaterThan(0)
  })
})
