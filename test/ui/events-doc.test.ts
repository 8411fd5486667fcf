import { readFileSync, writeFileSync } from "node:fs"
import { describe, expect, it } from "vitest"
import { RunEvent } from "../../src/engine/events.js"
import { eventMeaning, eventsJsonSchema, eventsMarkdown } from "../../src/ui/eventsDoc.js"

const docPath = new URL("../../docs/events.md", import.meta.url).pathname

describe("docs/events.md", () => {
  it("is the schema's current documentation", () => {
    const generated = eventsMarkdown()
    if (process.env["UPDATE_DOCS"] === "1") writeFileSync(docPath, generated)
    expect(readFileSync(docPath, "utf8"), "docs/events.md is stale: UPDATE_DOCS=1 npx vitest run test/ui/events-doc.test.ts").toBe(generated)
  })

  it("documents every event type with a meaning and every field of each", () => {
    const variants = eventsJsonSchema().oneOf!
    const types = variants.map((v) => String(v.properties!["type"]!.const))
    expect(types.sort()).toEqual(Object.keys(eventMeaning).sort())
    const md = eventsMarkdown()
    for (const v of variants) for (const field of Object.keys(v.properties!)) expect(md).toContain(`| \`${field}\` |`)
    expect(md).toContain("| `steps[].estimateSeconds` | number | no |")
    expect(md).toContain("| `status` | `\"pending\"` \\| `\"running\"`")
  })

  it("describes what --json prints: each recorded line validates against the schema", () => {
    const lines = readFileSync(new URL("../fixtures/events/week1.jsonl", import.meta.url), "utf8").trim().split("\n")
    for (const l of lines) expect(RunEvent.safeParse(JSON.parse(l)).success).toBe(true)
  })
})
