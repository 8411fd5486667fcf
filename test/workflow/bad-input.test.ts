/**
 * The bad-input table: every folder under test/fixtures/workflows/<case>/ holds a malformed
 * workflow.yaml (and optionally sets.txt, one --set per line) and expected.txt, the exact errors
 * `polyquant validate` must print (`workflow.yaml` stands for the file's path, `{kernels}` for the
 * sorted kernel names). A second test runs the real CLI on every case with Python booby-trapped.
 */
import { spawnSync } from "node:child_process"
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { kernelNames } from "../../src/kernels/catalog.js"
import { formatIssue } from "../../src/workflow/errors.js"
import { loadWorkflowFile } from "../../src/workflow/load.js"

const root = "test/fixtures/workflows"
const cases = readdirSync(root)
  .filter((c) => existsSync(join(root, c, "expected.txt")))
  .sort()

const expectedLines = (c: string): string[] => {
  const file = join(root, c, "workflow.yaml")
  return readFileSync(join(root, c, "expected.txt"), "utf8")
    .trim()
    .split("\n")
    .map((l) => l.replace(/^workflow\.yaml/, file).replace("{kernels}", kernelNames().sort().join(", ")))
}

const setsOf = (c: string): string[] => {
  const path = join(root, c, "sets.txt")
  return existsSync(path) ? readFileSync(path, "utf8").trim().split("\n") : []
}

describe("bad input", () => {
  it("has at least 30 cases", () => {
    expect(cases.length).toBeGreaterThanOrEqual(30)
  })

  it.each(cases)("%s", async (c) => {
    const result = await loadWorkflowFile(join(root, c, "workflow.yaml"), { sets: setsOf(c) })
    expect(result.ok).toBe(false)
    if (result.ok) return
    expect(result.issues.map(formatIssue)).toEqual(expectedLines(c))
  })
})

describe("polyquant validate on the bad-input table", () => {
  // a fake interpreter that records being started: neither POLYQUANT_PYTHON nor python on PATH may run
  const trap = mkdtempSync(join(tmpdir(), "polyquant-trap-"))
  const record = join(trap, "python-was-started")
  for (const name of ["python", "python3", "trap-python"]) {
    writeFileSync(join(trap, name), `#!/bin/sh\necho "$0 $@" >> ${record}\nexit 1\n`)
    chmodSync(join(trap, name), 0o755)
  }
  afterAll(() => rmSync(trap, { recursive: true, force: true }))

  it("prints exactly the expected errors, exits 2, and never starts Python", () => {
    expect(existsSync("dist/cli/commands/validate.js")).toBe(true) // built by `npm test` (scripts/setup.mjs) or `npx tsc`
    // one Node process runs `validate` on every case (a process per case is too slow on 2 cores)
    const driver = join(trap, "driver.mjs")
    writeFileSync(
      driver,
      `import { run } from ${JSON.stringify(join(process.cwd(), "dist/cli/commands/validate.js"))}
const cases = JSON.parse(process.argv[2])
const results = []
const write = process.stderr.write.bind(process.stderr)
for (const c of cases) {
  let err = ""
  process.stderr.write = (chunk) => { err += chunk; return true }
  const status = await run(c.args)
  process.stderr.write = write
  results.push({ name: c.name, status, stderr: err })
}
process.stdout.write(JSON.stringify(results))
`
    )
    const input = cases.map((c) => ({ name: c, args: [join(root, c, "workflow.yaml"), ...setsOf(c).flatMap((s) => ["--set", s])] }))
    const env = { ...process.env, POLYQUANT_PYTHON: join(trap, "trap-python"), PATH: `${trap}:${process.env["PATH"] ?? ""}` }
    const out = spawnSync(process.execPath, [driver, JSON.stringify(input)], { encoding: "utf8", env })
    expect(out.stderr).toBe("")
    const results = JSON.parse(out.stdout) as { name: string; status: number; stderr: string }[]
    expect(results.map((r) => r.name)).toEqual(cases)
    for (const r of results) {
      expect({ case: r.name, status: r.status }).toEqual({ case: r.name, status: 2 })
      const lines = r.stderr.trim().split("\n")
      const expected = expectedLines(r.name)
      expect(lines.slice(0, -1)).toEqual(expected)
      expect(lines[lines.length - 1]).toBe(`${expected.length} error${expected.length === 1 ? "" : "s"} in ${join(root, r.name, "workflow.yaml")}`)
    }
    // and the real binary, end to end, for one case
    const cli = spawnSync(process.execPath, ["bin/polyquant.js", "validate", join(root, "many-errors", "workflow.yaml")], { encoding: "utf8", env })
    expect(cli.status).toBe(2)
    expect(cli.stderr.trim().split("\n").slice(0, -1)).toEqual(expectedLines("many-errors"))
    expect(existsSync(record)).toBe(false)
  })
})
