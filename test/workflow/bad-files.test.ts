/**
 * Workflow files that are not workflows at all, or too large to check: each one ends in one line
 * naming the file and the problem, exit 2, in bounded time, and never starts Python. The files are
 * made here (a 2 MB file is not committed).
 */
import { spawnSync } from "node:child_process"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"

const dir = mkdtempSync(join(tmpdir(), "polyquant-bad-files-"))
const make = (name: string, content: string | Buffer): string => {
  const path = join(dir, name)
  writeFileSync(path, content)
  return path
}

const steps = (n: number): string => `name: many\nsteps:\n${Array.from({ length: n }, (_, i) => `  s${i}:\n    uses: correlation\n    with: { x: [1, 2, 3], y: [1, 2, 4] }\n`).join("")}`

const CASES: ReadonlyArray<{ readonly name: string; readonly file: () => string; readonly env?: Record<string, string>; readonly stderr: (f: string) => string }> = [
  {
    name: "a file above the size limit",
    file: () => make("big.yaml", `name: big\ndescription: ${"x".repeat(2 << 20)}\nsteps: {}\n`),
    stderr: (f) => `${f}: is 2097186 bytes, above the limit of 1048576 (raise it with POLYQUANT_MAX_WORKFLOW_BYTES=<n>)`
  },
  {
    name: "UTF-16 text",
    file: () => make("utf16.yaml", Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from("name: x\nsteps: {}\n", "utf16le")])),
    stderr: (f) => `${f}: is UTF-16 text; a workflow file is UTF-8 (save it again as UTF-8)`
  },
  {
    name: "a binary file",
    file: () => make("binary.yaml", Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x01, 0x00, 0xc3, 0x28])),
    stderr: (f) => `${f}: is not UTF-8 text (a binary file?); a workflow file is UTF-8 YAML`
  },
  {
    name: "valid UTF-8 with a NUL byte",
    file: () => make("nul.yaml", "name: x\u0000\nsteps: {}\n"),
    stderr: (f) => `${f}: holds a NUL byte at offset 7 (a binary file, or UTF-16 without a BOM?); a workflow file is UTF-8 YAML`
  },
  {
    name: "more steps than the limit (raised file limit)",
    file: () => make("steps.yaml", steps(40)),
    env: { POLYQUANT_MAX_STEPS: "30" },
    stderr: (f) => `${f}:3:3 steps: the workflow has 40 steps, above the limit of 30 (raise it with POLYQUANT_MAX_STEPS=<n>)`
  }
]

const validate = (file: string, env: Record<string, string> = {}) =>
  spawnSync(process.execPath, ["bin/polyquant.js", "validate", file], { encoding: "utf8", env: { ...process.env, POLYQUANT_PYTHON: "/nonexistent/python", ...env }, timeout: 20_000 })

describe("workflow files that cannot be checked", () => {
  it.each(CASES)("$name: one line, exit 2", ({ file, env, stderr }) => {
    const path = file()
    const t0 = Date.now()
    const r = validate(path, env)
    expect(Date.now() - t0).toBeLessThan(15_000)
    expect(r.status).toBe(2)
    expect(r.stderr.trim().split("\n")[0]).toBe(stderr(path))
  })

  it("a raised limit lets a large file through", () => {
    const path = make("big-ok.yaml", `name: big\ndescription: ${"x".repeat(2 << 20)}\nsteps:\n  a:\n    uses: correlation\n    with: { x: [1, 2, 3], y: [1, 2, 4] }\n`)
    const r = validate(path, { POLYQUANT_MAX_WORKFLOW_BYTES: String(4 << 20) })
    expect(r.stderr).toBe("")
    expect(r.status).toBe(0)
  })

  it("thousands of steps within the limits are checked in seconds, not minutes", () => {
    const path = make("many.yaml", steps(3000))
    const t0 = Date.now()
    const r = validate(path)
    expect(r.status, r.stderr).toBe(0)
    expect(Date.now() - t0).toBeLessThan(30_000)
  })
})
