/**
 * A workflow from an untrusted source cannot execute code: expressions are CEL only (attempts at
 * JS or Python injection are rejected at load, literal strings stay inert), `trust_remote_code`
 * stays off unless the spec sets it (a model directory's custom code is not run), and weights load
 * from safetensors or with `weights_only` (a pickle that runs code on load is refused).
 */
import { execFile } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { promisify } from "node:util"
import { beforeAll, describe, expect, it } from "vitest"
import { skipWithoutPython } from "../pythonPresent.js"
import { resolveInterpreter } from "../../src/python/interpreter.js"
import { RunStore } from "../../src/store/RunStore.js"

const exec = promisify(execFile)
const root = join(import.meta.dirname, "..", "..")
const bin = join(root, "bin", "polyquant.js")
const interpreter = resolveInterpreter()

const cli = async (args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> => {
  try {
    const r = await exec("node", [bin, ...args], { cwd, timeout: 120_000 })
    return { code: 0, stdout: r.stdout, stderr: r.stderr }
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string }
    return { code: err.code, stdout: err.stdout, stderr: err.stderr }
  }
}

beforeAll(async () => {
  if (!existsSync(join(root, "dist", "cli", "commands", "run.js"))) await exec("npx", ["tsc", "-p", "tsconfig.json"], { cwd: root })
})

describe("reliability: an untrusted workflow cannot execute code", () => {
  it("rejects JS and Python injection in conditions and ${{ }} at validate, and runs none of it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pq-untrusted-"))
    const marker = join(dir, "PWNED")
    writeFileSync(
      join(dir, "wf.yaml"),
      [
        "name: injection",
        "steps:",
        "  a: { uses: test-echo, with: { message: hi } }",
        "  b:",
        "    needs: [a]",
        "    uses: test-echo",
        `    if: "this.constructor.constructor('return process')().exit(7)"`,
        `    with: { message: "\${{ require('child_process').execSync('touch ${marker}') }}" }`,
        "  c:",
        "    needs: [a]",
        "    uses: test-echo",
        `    if: "__import__('os').system('touch ${marker}') == 0"`,
        "  d:",
        "    needs: [a]",
        "    uses: test-echo",
        `    if: "process.exit(3)"`,
        "  e:",
        "    needs: [a]",
        "    uses: test-echo",
        `    if: "globalThis.eval('1') == 1"`
      ].join("\n") + "\n"
    )
    const r = await cli(["validate", "wf.yaml"], dir)
    expect(r.code).toBe(2)
    const out = r.stdout + r.stderr
    expect(out).toMatch(/steps\.b\.if: CEL syntax error/)
    expect(out).toMatch(/steps\.b\.with\.message: .*found no matching overload for 'require\(string\)'/)
    expect(out).toMatch(/steps\.c\.if: CEL type error: found no matching overload for '__import__\(string\)'/)
    expect(out).toMatch(/steps\.d\.if: CEL type error: Unknown variable: process/)
    expect(out).toMatch(/steps\.e\.if: CEL .*globalThis/)
    expect(out).toMatch(/5 errors/)
    expect(existsSync(marker)).toBe(false)
    // run refuses it too (exit 2, before anything starts)
    expect((await cli(["run", "wf.yaml", "--json", "--no-report", "--store", join(dir, "pq.db")], dir)).code).toBe(2)
    expect(existsSync(marker)).toBe(false)
  }, 60_000)

  it("the engine has no eval: no eval(, new Function( or node:vm anywhere in src/", () => {
    const files = (d: string): string[] =>
      readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(d, e.name)) : e.name.endsWith(".ts") || e.name.endsWith(".tsx") ? [join(d, e.name)] : []))
    const offenders = files(join(root, "src")).filter((f) => /\beval\(|new Function\(|["']node:vm["']|["']vm["']/.test(readFileSync(f, "utf8")))
    expect(offenders).toEqual([])
  })

  it.skipIf(skipWithoutPython)("strings that look like shell or Python code reach the kernel as inert text", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pq-untrusted-"))
    const marker = join(dir, "PWNED")
    const payloads = [`$(touch ${marker})`, `\`touch ${marker}\``, `__import__('os').system('touch ${marker}')`, `'; import os; os.system('touch ${marker}'); '`]
    writeFileSync(
      join(dir, "wf.yaml"),
      ["name: inert", "steps:", ...payloads.map((p, i) => `  s${i}: { uses: test-echo, with: { message: ${JSON.stringify(p)} } }`)].join("\n") + "\n"
    )
    const store = join(dir, "pq.db")
    const r = await cli(["run", "wf.yaml", "--json", "--no-report", "--store", store], dir)
    expect(r.code, r.stderr).toBe(0)
    const s = RunStore.open(store)
    const run = s.listRuns()[0]!
    expect(s.getSteps(run.id).map((x) => (x.outputs as { echo: { message: string } }).echo.message)).toEqual(payloads)
    s.close()
    expect(existsSync(marker)).toBe(false)
  }, 120_000)

  it.skipIf(skipWithoutPython)("custom model code is not run unless trust_remote_code is set; a code-running pickle is refused", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pq-untrusted-models-"))
    const { stdout } = await exec(interpreter.path, [join(import.meta.dirname, "fixtures", "untrusted_models.py"), dir], { timeout: 120_000 })
    const r = JSON.parse(stdout.trim().split("\n").at(-1)!) as Record<string, unknown>
    expect(r.custom_code_default).toMatch(/^ModelError: cannot load model .*custom-code.*trust_remote_code=True/s)
    expect(r.custom_code_marker_default).toBe(false)
    expect(r.custom_code_explicit_false).toMatch(/^ModelError/)
    expect(r.custom_code_marker_false).toBe(false)
    expect(r.custom_code_marker_trusted).toBe(true) // control: the shipped code does run when trusted
    expect(r.pickle_runs_when_unsafe).toBe(true) // control: the pickle is really malicious
    expect(r.pickle_load).toMatch(/^ModelError: cannot load model .*pickle.*UnpicklingError: Weights only load failed/s)
    expect(r.pickle_marker).toBe(false)
  }, 120_000)
})
