/**
 * attention-heads, layer-importance, task-eval and correlation: their `with` schemas (defaults as
 * the engine applies them) feed the real Python kernels on a tiny random GPT-2, and each result
 * must parse with the kernel's `outputs` schema.
 */
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { attentionHeads } from "../../src/kernels/attention-heads.js"
import { findKernel } from "../../src/kernels/catalog.js"
import { correlation } from "../../src/kernels/correlation.js"
import { layerImportance } from "../../src/kernels/layer-importance.js"
import { taskEval } from "../../src/kernels/task-eval.js"
import { projectRoot } from "../../src/python/interpreter.js"
import { runPythonScript } from "./pythonScript.js"

const root = projectRoot()
const dir = mkdtempSync(join(tmpdir(), "polyquant-analysis-kernels-"))
const mmluEn = join(root, "python", "polyquant", "data", "mmlu", "en.jsonl")

const runPython = (calls: ReadonlyArray<{ kernel: string; params: Record<string, unknown> }>): Array<{ ok: boolean; result?: unknown; error?: { message: string } }> => {
  const script = `
import json, sys
sys.path.insert(0, "python"); sys.path.insert(0, "python/tests")
import torch; torch.set_num_threads(1)
from quant_tiny import CORPUS, save_tiny
from polyquant import api
model_dir = save_tiny(sys.argv[1] + "/model", "tiny-gpt2", layers=2)
out = []
for call in json.loads(sys.stdin.read()):
    params = dict(call["params"])
    if "model" in params:
        params["model"] = {**params["model"], "id": model_dir}
    if "corpus" in params:
        params["corpus"] = CORPUS
    ctx = {"checkpoint_path": sys.argv[1] + "/" + call["kernel"] + ".ckpt.json"}
    out.append(json.loads(api.call(call["kernel"], json.dumps(params), json.dumps(ctx))))
sys.stdout.write("\\n@@RESULT@@" + json.dumps(out))
`
  return runPythonScript(script, dir, calls)
}

describe("analysis kernels", () => {
  it("are in the catalog with checkpoints where they are long", () => {
    expect(findKernel("attention-heads")).toBe(attentionHeads)
    expect(findKernel("layer-importance")).toBe(layerImportance)
    expect(findKernel("task-eval")).toBe(taskEval)
    expect(findKernel("correlation")).toBe(correlation)
    expect(attentionHeads.checkpoints && layerImportance.checkpoints).toBe(true)
  })

  it("apply defaults and reject bad values with the field named", () => {
    const h = attentionHeads.with.parse({ model: { id: "m" }, corpus: {} })
    expect(h.rule).toEqual({ k: 3, floor: 0.01 })
    const li = layerImportance.with.parse({ model: { id: "m" }, corpus: {} })
    expect(li.criteria).toHaveLength(5)
    expect(li.quant.method).toBe("rtn")
    const bad = layerImportance.with.safeParse({ model: { id: "m" }, corpus: {}, criteria: ["entropy"] })
    expect(JSON.stringify(bad.error?.issues[0]?.path)).toBe('["criteria",0]')
    expect(attentionHeads.with.safeParse({ model: { id: "m" }, corpus: {}, languages: ["en"] }).success).toBe(false)
    expect(correlation.with.safeParse({ x: [1, 2, 3] }).success).toBe(false)
    expect(correlation.with.safeParse({ x: [1, 2, 3], y: [3, 2, 1] }).success).toBe(true)
    expect(taskEval.with.safeParse({ model: { id: "m" }, data: { source: "web" } }).success).toBe(false)
  })

  it("real Python results parse with the output schemas", () => {
    const model = { id: "placeholder" }
    const calls = [
      { kernel: "attention-heads", params: attentionHeads.with.parse({ model, corpus: {}, seq_len: 24, max_windows: 2, critical_layers: [0] }) },
      {
        kernel: "layer-importance",
        params: layerImportance.with.parse({ model, corpus: {}, seq_len: 24, max_windows: 2, hutchinson_samples: 2, quant: { bits: 3, group_size: 32 } })
      },
      {
        kernel: "task-eval",
        params: taskEval.with.parse({
          model,
          corpus: {},
          data: { files: { en: mmluEn, de: mmluEn, he: mmluEn } },
          limit: 4,
          quant: { bits: 2, group_size: 32 },
          protocol: { context_length: 24 }
        })
      },
      { kernel: "correlation", params: correlation.with.parse({ x: { en: 0.1, he: 0.4, ar: 0.3 }, y: { en: 0.0, he: 0.2, ar: 0.1 }, x_name: "d" }) }
    ]
    const envelopes = runPython(calls)
    const schemas = [attentionHeads, layerImportance, taskEval, correlation] as const
    envelopes.forEach((envelope, i) => {
      expect(envelope.error?.message).toBeUndefined()
      expect(envelope.ok).toBe(true)
      const parsed = schemas[i]!.outputs.safeParse(envelope.result)
      expect(parsed.error?.issues ?? []).toEqual([])
    })
    const h = attentionHeads.outputs.parse(envelopes[0]!.result)
    expect(h.n_heads).toBe(8)
    expect(h.share_specific).toBeCloseTo(h.n_specific / 8, 12)
    expect(h.critical_layers?.layers).toEqual([0])
    const li = layerImportance.outputs.parse(envelopes[1]!.result)
    expect(Object.keys(li.per_language).sort()).toEqual(["de", "en", "he"])
    expect(li.per_language.en!.correlations).toHaveLength(10)
    const t = taskEval.outputs.parse(envelopes[2]!.result)
    expect(t.per_language.en!.n).toBe(4)
    expect(t.correlation?.n).toBe(3)
    const c = correlation.outputs.parse(envelopes[3]!.result)
    expect(c.spearman.rho).toBeCloseTo(1, 12)
  })
})
