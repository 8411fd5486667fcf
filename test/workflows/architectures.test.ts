/**
 * Architectures beyond the two fixtures through the README's `polyquant validate`, `plan` and `run`:
 * tiny random GPT-NeoX (parallel attention/MLP), Gemma-2 (post-norms, (1 + w) norms, sliding-window
 * layers) and Falcon (one norm feeding attention and MLP) models built from transformers' configs
 * by python/tests/archs.py. AWQ disparity and attention-heads run on each; the outputs name the
 * structure found and the verified scale groups; a folder whose weights hold no decoder blocks is
 * refused by `validate` for a quantizing step and accepted for perplexity.
 */
import { execFile, execFileSync } from "node:child_process"
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { beforeAll, describe, expect, it } from "vitest"
import { readArchitecture } from "../../src/plan/architecture.js"
import { resolveInterpreter } from "../../src/python/interpreter.js"
import { RunStore } from "../../src/store/RunStore.js"

const root = join(import.meta.dirname, "..", "..")
const bin = join(root, "bin", "polyquant.js")
const ARCHS = ["gpt_neox", "gemma2", "falcon"]

const cli = (args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> =>
  new Promise((resolve) => {
    execFile("node", [bin, ...args], { cwd, timeout: 300_000 }, (error, stdout, stderr) => {
      const e = error as (Error & { code?: number }) | null
      resolve({ code: e ? (typeof e.code === "number" ? e.code : -1) : 0, stdout, stderr })
    })
  })

describe("architectures beyond the fixtures", () => {
  let dir: string
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "polyquant-archs-"))
    copyFileSync(join(root, "test", "fixtures", "workflows", "architectures", "archs.yaml"), join(dir, "archs.yaml"))
    const python = resolveInterpreter().path
    execFileSync(python, [join(root, "python", "tests", "archs.py"), join(dir, "models"), ...ARCHS], { stdio: "ignore" })
  }, 120_000)

  it("validate and plan name each architecture's blocks and linears before Python starts", async () => {
    const v = await cli(["validate", "archs.yaml"], dir)
    expect(v.code).toBe(0)
    expect(v.stdout).toContain("model ./models/gpt_neox: gpt_neox, 4 blocks (gpt_neox.layers), 4 linears per block (16 in all)")
    expect(v.stdout).toContain("model ./models/gemma2: gemma2, 4 blocks (model.layers), 7 linears per block (28 in all)")
    expect(v.stdout).toContain("model ./models/falcon: falcon, 4 blocks (transformer.h), 4 linears per block (16 in all)")
    const p = await cli(["plan", "archs.yaml"], dir)
    expect(p.code).toBe(0)
    expect(p.stdout).toContain("rtn, gptq, awq and gguf apply")
    // a hub id: plan says what it knows (the known-model table) and that the structure is found at load
    writeFileSync(join(dir, "hub.yaml"), "name: hub\ndefaults:\n  model: { id: NousResearch/Llama-2-7b-hf }\n  corpus: { source: udhr, languages: [en], split: heldout }\nsteps:\n  q:\n    uses: quantize\n")
    const h = await cli(["plan", "hub.yaml"], dir)
    expect(h.code).toBe(0)
    expect(h.stdout).toContain("model NousResearch/Llama-2-7b-hf: hub id, not on this machine; its blocks and linears are found when it loads (6.74B parameters from the table of known models)")
  })

  it("the parameter counts read from safetensors headers equal transformers' own count", () => {
    const python = resolveInterpreter().path
    const paths = ARCHS.map((a) => join(dir, "models", a))
    const script = "import sys\nfrom transformers import AutoModelForCausalLM as M\nfor p in sys.argv[1:]: print(sum(x.numel() for x in M.from_pretrained(p).parameters()))"
    const counted = execFileSync(python, ["-c", script, ...paths], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim().split("\n").map(Number)
    expect(paths.map((p) => readArchitecture(p)!.params)).toEqual(counted)
  }, 120_000)

  it("a folder without decoder blocks: validate refuses quantization and accepts perplexity", async () => {
    const flat = join(dir, "models", "flat")
    mkdirSync(flat, { recursive: true })
    // a safetensors file whose only matrix is not inside numbered blocks
    const header = Buffer.from(JSON.stringify({ "embed.weight": { dtype: "F32", shape: [4, 2], data_offsets: [0, 32] } }))
    const len = Buffer.alloc(8)
    len.writeBigUInt64LE(BigInt(header.length))
    writeFileSync(join(flat, "model.safetensors"), Buffer.concat([len, header, Buffer.alloc(32)]))
    writeFileSync(join(flat, "config.json"), JSON.stringify({ model_type: "flatnet" }))
    const wf = (uses: string) =>
      `name: flat\ndefaults:\n  model: { id: ./models/flat }\n  corpus: { source: udhr, languages: [en], split: heldout }\nsteps:\n  s:\n    uses: ${uses}\n`
    writeFileSync(join(dir, "flat-q.yaml"), wf("quantize"))
    writeFileSync(join(dir, "flat-p.yaml"), wf("perplexity"))
    const q = await cli(["validate", "flat-q.yaml"], dir)
    expect(q.code).toBe(2)
    expect(q.stderr).toMatch(/flat-q\.yaml:\d+:\d+.*\.\/models\/flat: flatnet, no decoder blocks found in its weights/)
    expect(q.stderr).toContain("(kernel quantize)")
    const p = await cli(["validate", "flat-p.yaml"], dir)
    expect(p.code).toBe(0)
  })

  it("AWQ disparity and attention-heads run on each; outputs name the structure and the verified groups", async () => {
    const r = await cli(["run", "archs.yaml", "--plain"], dir)
    expect(r.code, r.stdout + r.stderr).toBe(0)
    const store = RunStore.open(join(dir, ".polyquant", "polyquant.db"))
    try {
      const run = store.listRuns()[0]!
      const steps = store.getSteps(run.id)
      const outputs = (id: string) => steps.find((s) => s.stepId === id)!.outputs as Record<string, any>
      const expected: Record<string, string[]> = {
        gpt_neox: ["input_layernorm", "post_attention_layernorm"],
        gemma2: ["input_layernorm", "pre_feedforward_layernorm", "mlp.up_proj"],
        falcon: ["input_layernorm"]
      }
      for (const a of ARCHS) {
        const out = outputs(`awq[model=./models/${a}]`)
        expect(out["architecture"]["model_type"]).toBe(a)
        expect(out["architecture"]["layers"]).toBe(4)
        expect(out["awq"]["fold_logit_change"]).toBeLessThan(1e-5)
        const block1 = (out["awq"]["groups"] as { prev: string }[]).map((g) => g.prev).filter((p) => /\.1\./.test(p))
        expect(block1.map((p) => p.split(".1.")[1])).toEqual(expected[a])
        expect(out["protected"].length).toBeGreaterThan(0)
        const heads = outputs(`heads[model=./models/${a}]`)
        expect(heads["per_layer"]).toHaveLength(4)
      }
      expect(outputs("awq[model=./models/gemma2]")["awq"]["groups"].find((g: { prev: string }) => g.prev.endsWith("input_layernorm")).fold).toBe("one_plus")
    } finally {
      store.close()
    }
  }, 300_000)
})
