/**
 * The README's workflow examples work as written: each whole YAML workflow and the TypeScript one
 * load without an issue (the checks `polyquant validate` makes, none of which starts Python).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { join, resolve } from "node:path"
import { pathToFileURL } from "node:url"
import { afterAll, describe, expect, it } from "vitest"
import { formatIssue } from "../../src/workflow/errors.js"
import { checkWorkflowText, loadWorkflowFile } from "../../src/workflow/load.js"

const readme = readFileSync("README.md", "utf8")
const blocks = (lang: string): string[] => [...readme.matchAll(new RegExp("```" + lang + "\\n([\\s\\S]*?)```", "g"))].map((m) => m[1]!)

describe("the README's workflow examples", () => {
  // a .ts workflow imports "polyquant", which resolves to this package from inside its folder
  const dir = mkdtempSync(join(process.cwd(), ".readme-examples-"))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it("every whole YAML workflow loads without an issue", () => {
    const whole = blocks("yaml").filter((b) => /^name:/m.test(b) && /^steps:/m.test(b))
    expect(whole.length).toBeGreaterThan(0)
    for (const text of whole) {
      const result = checkWorkflowText(text, "README.md", { baseDir: process.cwd() })
      expect(result.ok ? [] : result.issues.map(formatIssue)).toEqual([])
    }
  })

  it("the TypeScript workflow loads without an issue", async () => {
    const [ts] = blocks("ts")
    expect(ts).toBeDefined()
    const file = join(dir, "week1.ts")
    writeFileSync(file, ts!)
    // through the built loader, as `polyquant validate week1.ts` runs it (it maps "polyquant" to dist/)
    const { loadWorkflowFile: load } = (await import(pathToFileURL(resolve("dist/workflow/load.js")).href)) as { loadWorkflowFile: typeof loadWorkflowFile }
    const result = await load(file)
    expect(result.ok ? [] : result.issues.map(formatIssue)).toEqual([])
  })
})
