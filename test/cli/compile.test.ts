/**
 * `polyquant compile`: an allocate step's plan printed or written (file or folder), and every bad
 * input as one line naming what is wrong, exit 2, the store untouched. The store is written through
 * RunStore as the engine writes it; the compiled texts are the kernel's (checked against the tools'
 * matching rules in python/tests/test_compile.py).
 */
import { spawnSync } from "node:child_process"
import { mkdtempSync, readFileSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { beforeAll, describe, expect, it } from "vitest"
import type { Plan } from "../../src/plan/types.js"
import { projectRoot } from "../../src/python/interpreter.js"
import { RunStore } from "../../src/store/RunStore.js"

const root = projectRoot()
const dir = mkdtempSync(join(tmpdir(), "polyquant-compile-"))
const store = join(dir, "pq.db")
const RUN = "r-20261202-alloc"
const compiled = {
  gptqmodel: { file: "quantize_config.json", text: '{\n  "bits": 4\n}\n', notes: ["a gptqmodel note"] },
  "llm-compressor": { file: "recipe.yaml", text: "quant_stage: {}\n", notes: [] },
  autoawq: { file: "quant_config.json", text: '{"w_bit": 4}\n', notes: ["AutoAWQ has one bit width"] },
  "llama.cpp": { file: "tensor-types.txt", text: "^blk\\.(?:0)\\.attn_v\\.weight$=q6_K\n", notes: [] }
}

const plan = (): Plan => ({
  workflow: { name: "fix", file: "workflows/fix.yaml", digest: "d" },
  steps: [
    ["allocate", "allocate"],
    ["verify", "disparity"],
    ["broken", "allocate"]
  ].map(([id, uses]) => ({
    id: id!, baseId: id!, uses: uses!, kernelVersion: "1", with: {}, needs: [], platform: "local",
    retry: { max: 0, on: [] }, continueOnError: false, gpu: false, checkpoints: false, source: { file: "fix.yaml", line: 1, column: 1 }
  })),
  stages: [["allocate", "verify", "broken"]],
  budgets: []
})

const cli = (...args: string[]) => spawnSync("node", ["bin/polyquant.js", "compile", ...args], { cwd: root, encoding: "utf8" })

beforeAll(() => {
  const s = RunStore.open(store)
  const now = Date.UTC(2026, 11, 2)
  s.createRun({ id: RUN, plan: plan(), options: { sets: [], force: false }, platform: "local", now })
  const finish = (id: string, fields: { status: "succeeded" | "failed"; outputs?: unknown; error?: { type: string; message: string } }) => {
    s.stepStarted(RUN, id, 1, {}, now + 1)
    s.stepFinished(RUN, id, { ...fields, now: now + 2, durationMs: 1 })
  }
  finish("allocate", { status: "succeeded", outputs: { compiled, allocation: { met: false, reason: "no allocation met every bound" } } })
  finish("verify", { status: "succeeded", outputs: { languages: {} } })
  finish("broken", { status: "failed", error: { type: "ParameterError", message: "bad" } })
  s.close()
})

describe("polyquant compile", () => {
  it("prints the plan, with the tool's notes and an unmet bound on stderr", () => {
    const res = cli(RUN, "allocate", "--to", "gptqmodel", "--store", store)
    expect(res.status).toBe(0)
    expect(res.stdout).toBe(compiled.gptqmodel.text)
    expect(res.stderr).toContain("gptqmodel: a gptqmodel note")
    expect(res.stderr).toContain("did not meet its bound (no allocation met every bound)")
  })

  it("writes a file, or the tool's own file name into a folder", () => {
    expect(cli(RUN, "allocate", "--to", "llama.cpp", "--out", join(dir, "types.txt"), "--store", store).status).toBe(0)
    expect(readFileSync(join(dir, "types.txt"), "utf8")).toBe(compiled["llama.cpp"].text)
    expect(cli(RUN, "allocate", "--to", "autoawq", "--out", join(dir, "plans") + "/", "--store", store).status).toBe(0)
    expect(readFileSync(join(dir, "plans", "quant_config.json"), "utf8")).toBe(compiled.autoawq.text)
  })

  it("names every bad input in one line, exit 2, and leaves the store as it was", () => {
    const before = statSync(store).mtimeMs
    const cases: Array<[string[], RegExp]> = [
      [[RUN, "allocate", "--store", store], /name the quantizer with --to gptqmodel\|llm-compressor\|autoawq\|llama\.cpp/],
      [[RUN, "allocate", "--to", "exllama", "--store", store], /--to exllama is not one of gptqmodel, llm-compressor, autoawq, llama\.cpp/],
      [[RUN, "--to", "gptqmodel", "--store", store], /name the allocate step/],
      [[RUN, "nope", "--to", "gptqmodel", "--store", store], /has no step nope \(its steps: allocate, verify, broken\)/],
      [[RUN, "verify", "--to", "gptqmodel", "--store", store], /step verify uses disparity; compile reads an allocate step's plan \(this run's: allocate, broken\)/],
      [[RUN, "broken", "--to", "gptqmodel", "--store", store], /step broken of run r-20261202-alloc is failed/],
      [["r-none", "allocate", "--to", "gptqmodel", "--store", store], /r-none/]
    ]
    for (const [args, message] of cases) {
      const res = cli(...args)
      expect(res.status, args.join(" ")).toBe(2)
      expect(res.stderr.trim().split("\n").length, res.stderr).toBe(1)
      expect(res.stderr).toMatch(message)
    }
    expect(statSync(store).mtimeMs).toBe(before)
  })
})
