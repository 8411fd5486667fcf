/**
 * GPTQ and AWQ end to end through the bridge's entry point: the `quantize` kernel with method gptq
 * and awq on a tiny saved model (calibration by bytes), a GPTQ (v1) and an AWQ (GEMM) checkpoint
 * exported from those results, and `load-quantized` reading them back. Every result must parse with
 * its kernel's zod output schema.
 */
import { spawnSync } from "node:child_process"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { findKernel } from "../../src/kernels/catalog.js"
import { loadQuantized } from "../../src/kernels/load-quantized.js"
import { quantize } from "../../src/kernels/quantize.js"
import { projectRoot, resolveInterpreter } from "../../src/python/interpreter.js"

const root = projectRoot()
const dir = mkdtempSync(join(tmpdir(), "polyquant-load-quantized-"))

type Envelope = { ok: boolean; result?: unknown; error?: { message: string } }

const script = `
import json, sys
sys.path.insert(0, "python"); sys.path.insert(0, "python/tests")
import torch; torch.set_num_threads(1)
from quant_tiny import CORPUS, save_tiny
from polyquant import api
from polyquant.models.load import load_model
from polyquant.quant.export import export_awq, export_gptq
from polyquant.quant.methods import quantize_model
from polyquant.quant.plan import resolve_targets
calls = json.loads(sys.stdin.read())
root = sys.argv[1]
model_dir = save_tiny(root + "/model", "tiny-llama", layers=2)
out = []
for q in calls["quantize"]:
    q = dict(q, model={**q["model"], "id": model_dir})
    q["quant"]["calibration"]["corpus"] = CORPUS
    out.append(json.loads(api.call("quantize", json.dumps(q), json.dumps({"artifacts_dir": root + "/artifacts"}))))
loaded = load_model({"id": model_dir, "device": "cpu"})
for q, fmt in zip(calls["quantize"], ["gptq", "awq"]):
    quant = dict(q["quant"]); quant["calibration"] = dict(quant["calibration"], corpus=CORPUS)
    res = quantize_model(loaded, quant, resolve_targets(loaded.model, quant, q["protect"], q["overrides"]))
    (export_gptq if fmt == "gptq" else export_awq)(loaded, res, root + "/" + fmt)
for spec in calls["load"]:
    out.append(json.loads(api.call("load-quantized", json.dumps({"model": {**spec, "id": root + "/" + spec["format"]}}), "{}")))
sys.stdout.write("\\n@@RESULT@@" + json.dumps(out))
`

const runPython = (calls: unknown): Envelope[] => {
  const python = resolveInterpreter()
  const res = spawnSync(python.path, ["-c", script, dir], { cwd: root, input: JSON.stringify(calls), encoding: "utf8", maxBuffer: 64 << 20 })
  const marker = res.stdout.lastIndexOf("@@RESULT@@")
  if (marker < 0) throw new Error(`python failed (${res.status}): ${res.stderr.slice(-3000)}`)
  return JSON.parse(res.stdout.slice(marker + "@@RESULT@@".length))
}

describe("load-quantized", () => {
  it("is in the catalog and accepts only pre-quantized models (gptq, awq, compressed-tensors)", () => {
    expect(findKernel("load-quantized")).toBe(loadQuantized)
    const ok = loadQuantized.with.parse({ model: { id: "TheBloke/Llama-2-7B-GPTQ", format: "gptq" } })
    expect(ok.model.dtype).toBe("auto")
    const bad = loadQuantized.with.safeParse({ model: { id: "m" } })
    expect(bad.success).toBe(false)
    expect(JSON.stringify(bad.error?.issues[0]?.path)).toBe('["model","format"]')
    expect(bad.error?.issues[0]?.message).toContain("format gptq, awq, compressed-tensors or gguf")
    expect(loadQuantized.with.safeParse({ model: { id: "RedHatAI/Llama-3.1-8B-Instruct-quantized.w4a16", format: "compressed-tensors" } }).success).toBe(true)
  })

  it("quantize with gptq and awq, export, and load the checkpoints back", () => {
    const calibration = { samples: 8, seq_len: 32, languages: ["en", "he"] }
    const gptq = quantize.with.parse({
      model: { id: "placeholder" },
      quant: { method: "gptq", bits: 4, group_size: 32, sym: true, gptq: { act_order: true }, calibration },
      protect: { layers: [-1] },
      overrides: [{ modules: "mlp", bits: 3 }]
    })
    const awq = quantize.with.parse({
      model: { id: "placeholder" },
      quant: { method: "awq", bits: 4, group_size: 32, awq: { grid: 4, clip_grid: 6 }, calibration }
    })
    const envelopes = runPython({
      quantize: [gptq, awq],
      load: [
        { format: "gptq", device: "cpu" },
        { format: "awq", device: "cpu" }
      ]
    })
    envelopes.forEach((envelope) => {
      expect(envelope.error?.message).toBeUndefined()
      expect(envelope.ok).toBe(true)
    })
    const qg = quantize.outputs.parse(envelopes[0]!.result)
    expect(qg.method).toBe("gptq")
    expect(qg.modules).toHaveLength(7) // block 0 only: the last of 2 blocks is protected
    expect(qg.modules.filter((m) => m.bits === 3).map((m) => m.name.split(".").at(-1))).toEqual(["gate_proj", "up_proj", "down_proj"])
    const qa = quantize.outputs.parse(envelopes[1]!.result)
    expect(qa.method).toBe("awq")
    expect(qa.modules).toHaveLength(14)
    const lg = loadQuantized.outputs.parse(envelopes[2]!.result)
    expect(lg).toMatchObject({ format: "gptq", checkpoint_format: "gptq", bits: 4, group_size: 32, modules: 7 })
    // block 1 was protected: its 7 linears stay dense; each quantized one says how it was quantized
    expect(lg.dense).toHaveLength(7)
    expect(lg.dense.every((n) => n.includes(".1."))).toBe(true)
    expect(Object.keys(lg.quantized)).toHaveLength(7)
    expect(Object.values(lg.quantized).filter((m) => m.bits === 3)).toHaveLength(3)
    // the engine's rule (src/model/facts.ts): the checkpoint folder's id and the digest of its files
    expect(lg.fingerprint).toMatch(/^\/.+@sha256:[0-9a-f]{64}$/)
    const la = loadQuantized.outputs.parse(envelopes[3]!.result)
    expect(la).toMatchObject({ format: "awq", checkpoint_format: "gemm", bits: 4, group_size: 32, modules: 14 })
  })
})
