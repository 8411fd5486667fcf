/**
 * The quantize, disparity and layer-sweep kernels: their `with` schemas (defaults as the engine
 * applies them) feed the real Python kernels on a tiny random model, and each result must parse
 * with the kernel's `outputs` schema; conditions on the outputs type-check.
 */
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { findKernel } from "../../src/kernels/catalog.js"
import { disparity } from "../../src/kernels/disparity.js"
import { layerSweep } from "../../src/kernels/layer-sweep.js"
import { quantize } from "../../src/kernels/quantize.js"
import { runPythonScript } from "./pythonScript.js"
import { checkExpression, typedEnvironment } from "../../src/workflow/conditions.js"

const dir = mkdtempSync(join(tmpdir(), "polyquant-quant-kernels-"))

/** Run kernels through api.call on a tiny model saved to `dir`; a kernel's corpus is the resolved test corpus. */
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
    params = dict(call["params"], model={**call["params"]["model"], "id": model_dir})
    if "corpus" in params:  # what the engine does: the corpus a kernel takes, read into documents
        params["corpus"] = CORPUS
    ctx = {"artifacts_dir": sys.argv[1] + "/artifacts", "checkpoint_path": sys.argv[1] + "/" + call["kernel"] + ".ckpt.json"}
    out.append(json.loads(api.call(call["kernel"], json.dumps(params), json.dumps(ctx))))
sys.stdout.write("\\n@@RESULT@@" + json.dumps(out))
`
  return runPythonScript(script, dir, calls)
}

describe("quantization kernels", () => {
  it("are in the catalog", () => {
    expect(findKernel("quantize")).toBe(quantize)
    expect(findKernel("disparity")).toBe(disparity)
    expect(findKernel("layer-sweep")).toBe(layerSweep)
    expect(layerSweep.checkpoints).toBe(true)
    expect(disparity.models).toEqual(["model", "variant.model"])
  })

  it("apply defaults and reject bad values with the field named", () => {
    const w = disparity.with.parse({ model: { id: "fixture:tiny-llama" }, corpus: {}, quant: { bits: 3 } })
    expect(w.bootstrap).toEqual({ samples: 1000, seed: 0, unit: "segment" })
    expect(w.reference).toBe("en")
    expect(w.quant?.group_size).toBe(128)
    expect(w.protect).toEqual({ layers: [], modules: [] })
    const bad = layerSweep.with.safeParse({ model: { id: "m" }, corpus: {}, mode: "protect-all" })
    expect(bad.success).toBe(false)
    expect(JSON.stringify(bad.error?.issues[0]?.path)).toBe('["mode"]')
    expect(quantize.with.safeParse({ model: { id: "m" }, quant: { bits: 9 } }).success).toBe(false)
    expect(quantize.with.safeParse({ model: { id: "m" }, extra: 1 }).success).toBe(false)
  })

  it("outputs type the seed's branch condition", () => {
    const env = typedEnvironment([
      { id: "colab_001", outputs: disparity.outputs, matrixed: false },
      { id: "sweep", outputs: layerSweep.outputs, matrixed: false }
    ])
    const scope = { known: new Set(["colab_001", "sweep"]), reachable: new Set(["colab_001", "sweep"]), matrixed: new Set<string>(), matrixAxes: new Set<string>() }
    const ok = checkExpression(env, "steps.colab_001.outputs.disparity.value < 2.0", scope)
    expect(ok.problems).toEqual([])
    expect(ok.type).toBe("bool")
    expect(checkExpression(env, "steps.colab_001.outputs.disparity.defined && steps.sweep.outputs.all_quantized.mean > 0.1", scope).problems).toEqual([])
    expect(checkExpression(env, "steps.colab_001.outputs.disparty.value < 2.0", scope).problems.length).toBeGreaterThan(0)
  })

  it("real Python results parse with the output schemas", () => {
    const model = { id: "placeholder" }
    const calls = [
      { kernel: "quantize", params: quantize.with.parse({ model, quant: { bits: 3, group_size: 32 }, protect: { layers: [-1] } }) },
      {
        kernel: "disparity",
        params: disparity.with.parse({ model, corpus: {}, quant: { bits: 2, group_size: 32 }, bootstrap: { samples: 100 }, protocol: { context_length: 24 } })
      },
      {
        kernel: "layer-sweep",
        params: layerSweep.with.parse({ model, corpus: {}, quant: { bits: 2, group_size: 32 }, mode: "protect-cumulative", protocol: { context_length: 24 } })
      }
    ]
    const envelopes = runPython(calls)
    const kernels = [quantize, disparity, layerSweep] as const
    envelopes.forEach((envelope, i) => {
      expect(envelope.error?.message).toBeUndefined()
      expect(envelope.ok).toBe(true)
      const parsed = kernels[i]!.outputs.safeParse(envelope.result)
      expect(parsed.error?.issues ?? []).toEqual([])
    })
    const q = quantize.outputs.parse(envelopes[0]!.result)
    expect(q.modules).toHaveLength(4) // 2 GPT-2 blocks × 4 linears, the last block protected
    expect(q.protected).toHaveLength(4)
    const d = disparity.outputs.parse(envelopes[1]!.result)
    expect(Object.keys(d.languages).sort()).toEqual(["de", "en", "he"])
    expect(d.bootstrap.samples).toBe(100)
    const s = layerSweep.outputs.parse(envelopes[2]!.result)
    expect(s.rows.at(-1)?.mean).toBe(0) // every layer protected: the baseline
  })
})
