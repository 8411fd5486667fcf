/**
 * The peak-memory estimate of src/plan/memory.ts: against CUDA peaks measured on an H100
 * (bench/CUDA.md), each part of a Llama-2-7B step against a hand computation, and a step that fits
 * on its weights alone but not at its peak printed as such.
 */
import { describe, expect, it } from "vitest"
import { disparity } from "../../src/kernels/disparity.js"
import { layerSweep } from "../../src/kernels/layer-sweep.js"
import { perplexity } from "../../src/kernels/perplexity.js"
import { estimateMemory, type MemoryEstimate } from "../../src/plan/memory.js"
import { plan } from "../../src/plan/plan.js"
import { formatPlan } from "../../src/plan/print.js"
import { geometryOf, KNOWN_GEOMETRY } from "../../src/plan/vram.js"
import { checkWorkflowText } from "../../src/workflow/load.js"

const MiB = 2 ** 20
const GB = 1e9

const partOf = (e: MemoryEstimate, name: string): number => {
  const p = e.parts.find((x) => x.name === name)
  if (p === undefined) throw new Error(`no part ${name} in ${e.parts.map((x) => x.name).join(", ")}`)
  return p.gb * GB
}
const phaseOf = (e: MemoryEstimate, name: string): number => {
  const p = e.phases.find((x) => x.name === name)
  if (p === undefined) throw new Error(`no phase ${name} in ${e.phases.map((x) => x.name).join(", ")}`)
  return p.gb * GB
}

describe("against measured CUDA peaks", () => {
  // bench/CUDA.md, "Peak CUDA memory of a protect-one layer sweep" (H100, float32): bench/sweep_memory.py
  // on bench/bench_model.py's random Llama, FixtureConfig(vocab_size=400, hidden=H, layers=L, heads=4,
  // ffn=3*H, context=128), RTN int4 group 64, the default protocol (batch 8, context 128 = the model's
  // max). Sweep peak = torch.cuda.max_memory_allocated above the empty baseline (cuBLAS workspace included).
  // Measured at commit b248c58, when the sweep swapped weights in per module call (quant/swap.py, now the
  // fallback of the in-place switching): the estimate counts those work tensors through the forward.
  const rows = [
    { hidden: 1024, layers: 16, modelMiB: 835, peakMiB: 901 },
    { hidden: 2048, layers: 8, modelMiB: 1670, peakMiB: 1827 }
  ]
  it.each(rows)("hidden $hidden, $layers blocks: measured ≤ estimate ≤ 1.15 × measured", ({ hidden, layers, modelMiB, peakMiB }) => {
    const geometry = geometryOf({
      model_type: "llama",
      hidden_size: hidden,
      intermediate_size: 3 * hidden,
      num_hidden_layers: layers,
      num_attention_heads: 4,
      num_key_value_heads: 4,
      vocab_size: 400,
      max_position_embeddings: 128,
      tie_word_embeddings: false
    })
    expect(geometry.params! * 4 / MiB).toBeCloseTo(modelMiB, -1) // the same model as the table's
    const w = layerSweep.with.parse({ model: { id: "bench", dtype: "float32" }, corpus: {}, quant: { method: "rtn", bits: 4, group_size: 64 }, mode: "protect-one" }) as Record<string, unknown>
    const e = estimateMemory({ kernel: "layer-sweep", with: w, geometry, paramsB: geometry.params! / 1e9, dtype: "float32", dtypeBytes: 4, gpu: "H100", memoryGb: 80 })
    expect(e.basis).toBe("peak")
    expect(e.protocol).toEqual({ batch: 8, context: 128, requestedBatch: 8, contextFrom: "model" })
    expect(partOf(e, "cuBLAS workspace")).toBe(32 * MiB)
    const estimateMiB = (e.peakGb * GB) / MiB
    expect(estimateMiB).toBeGreaterThanOrEqual(peakMiB)
    expect(estimateMiB).toBeLessThanOrEqual(1.15 * peakMiB)
  })
})

describe("a Llama-2-7B step, part by part", () => {
  const geometry = KNOWN_GEOMETRY.find(([p]) => p.test("meta-llama/Llama-2-7b-hf"))![1]
  const base = { geometry, paramsB: 6.74, dtype: "float16", dtypeBytes: 2, gpu: "T4" } as const
  const weights = 6.74e9 * 2
  const cublas = 4096 * 1024 * 2 + 16 * 1024 * 8 // PyTorch's default before Hopper

  it("perplexity in float16 at batch 8 × 4096 (no memory given: the protocol as asked)", () => {
    const w = perplexity.with.parse({ model: { id: "meta-llama/Llama-2-7b-hf" } }) as Record<string, unknown>
    const e = estimateMemory({ ...base, kernel: "perplexity", with: w })
    const BT = 8 * 4096
    // forward: 3 × ffn (act(gate), up, their product) + 4 × hidden residual tensors per token, float16
    const activations = BT * 2 * (3 * 11008 + 4 * 4096)
    // the padded batch's B × T × T mask, bool and float16
    const mask = 8 * 4096 * 4096 * 3
    expect(partOf(e, "weights")).toBeCloseTo(weights, 0)
    expect(partOf(e, "activations")).toBeCloseTo(activations, 0)
    expect(partOf(e, "attention mask")).toBeCloseTo(mask, 0)
    expect(partOf(e, "cuBLAS workspace")).toBeCloseTo(cublas, 0)
    expect(e.peakPhase).toBe("evaluation: forward")
    expect(e.peakGb * GB).toBeCloseTo(weights + activations + mask + cublas, 0)
    // logits: every position in float16; token_nll: 2097 rows of 32000 (2^26 elements), float32 copy, z − m, exp
    const logits = BT * 32000 * 2
    const chunk = 3 * 4 * Math.floor(2 ** 26 / 32000) * 32000 + 8 * BT
    expect(phaseOf(e, "evaluation: logits")).toBeCloseTo(weights + logits + chunk + cublas, 0)
    expect(e.marginGb).toBe(0.5)
  })

  it("perplexity on a 16 GB T4: the run halves the batch as Protocol.resolve does", () => {
    const w = perplexity.with.parse({ model: { id: "meta-llama/Llama-2-7b-hf" } }) as Record<string, unknown>
    const e = estimateMemory({ ...base, kernel: "perplexity", with: w, memoryGb: 16 })
    // window_memory.py: batch × T × 2 × (vocab + 3 ffn + 4 hidden) + 512 MiB of NLL chunk, within
    // 0.9 × (16 GB − weights − 0.5 GB CUDA context) = 1.818 GB: batch 1 (1.20 GB) fits, 2 (1.87 GB) does not
    const window = (b: number): number => b * 4096 * 2 * (32000 + 3 * 11008 + 4 * 4096) + 2 * 4 * 2 ** 26
    const available = 0.9 * (16e9 - weights - 0.5e9)
    expect(window(1)).toBeLessThanOrEqual(available)
    expect(window(2)).toBeGreaterThan(available)
    expect(e.protocol).toEqual({ batch: 1, context: 4096, requestedBatch: 8, contextFrom: "model" })
    expect(phaseOf(e, "evaluation: forward")).toBeCloseTo(weights + 4096 * 2 * (3 * 11008 + 4 * 4096) + 4096 * 4096 * 3 + cublas, 0)
    // at batch 1 the logits and token_nll's chunk are the peak, and it fits with the CUDA context
    expect(e.peakPhase).toBe("evaluation: logits")
    expect(e.peakGb * GB).toBeCloseTo(weights + 4096 * 32000 * 2 + 3 * 4 * Math.floor(2 ** 26 / 32000) * 32000 + 8 * 4096 + cublas, 0)
    expect(e.peakGb + e.marginGb).toBeLessThanOrEqual(16)
  })

  it("disparity with GPTQ, calibration 128 × 2048: Hessians, calibration inputs, KL", () => {
    const w = disparity.with.parse({ model: { id: "meta-llama/Llama-2-7b-hf" }, corpus: {}, quant: { method: "gptq", calibration: { samples: 128, seq_len: 2048 } } }) as Record<string, unknown>
    const e = estimateMemory({ ...base, kernel: "disparity", with: w })
    const hidden = 128 * 2048 * 4096 * 2 // calibration hidden states, float16
    const blockLinears = 4 * 4096 * 4096 + 3 * 4096 * 11008
    const block = 8 * 2048 * 2 * (3 * 11008 + 4 * 4096) // one calibration batch through a block
    // Hessians: q, k, v, o, gate, up 4096², down 11008², float32
    const hessians = 4 * (6 * 4096 * 4096 + 11008 * 11008)
    // add_batch: the inputs of down_proj (the widest) as float32 and scaled, plus xᵀx
    const update = 2 * 4 * 8 * 2048 * 11008 + 4 * 11008 * 11008
    expect(phaseOf(e, "GPTQ: a block's Hessians")).toBeCloseTo(weights + 3 * hidden + hessians + update + block + 2 * blockLinears + cublas, 0)
    // solving down_proj (the last, the largest work): its own Hessian; the block's other six new weights in
    // float16; W, Q (float32), codes (9n) and H, its Cholesky factor, the inverse's (12 × in²), the block buffers
    const n = 4096 * 11008
    const down = 4 * 11008 * 11008 + 2 * (4 * 4096 * 4096 + 2 * 4096 * 11008) + 9 * n + 12 * 11008 * 11008 + 16 * 4096 * 128
    expect(phaseOf(e, "GPTQ: solving a block")).toBeCloseTo(weights + 2 * hidden + down + 2 * blockLinears + cublas, 0)
    // the quantized pass's KL at 8 × 4096 full windows — baseline and quantized logits (float16),
    // quantized log-probabilities (float32) and _kl_full's four float64 tensors of one chunk of ≤ 2²⁴ logits
    const rows = 8 * 4096
    const chunkRows = Math.floor(2 ** 24 / 32000)
    const kl = 2 * rows * 32000 * 2 + rows * 32000 * 4 + 32 * chunkRows * 32000
    expect(phaseOf(e, "quantized pass: KL")).toBeCloseTo(weights + kl + cublas, 0)
    expect(e.peakGb * GB).toBeGreaterThanOrEqual(weights + kl + cublas - 1)
  })

  it("unknown geometry and unmodelled kernels fall back to weights, labelled", () => {
    const w = perplexity.with.parse({ model: { id: "org/some-model" } }) as Record<string, unknown>
    const unknown = estimateMemory({ ...base, geometry: undefined, kernel: "perplexity", with: w })
    expect(unknown).toMatchObject({ basis: "weights", parts: [{ name: "weights" }] })
    expect(unknown.peakGb * GB).toBeCloseTo(weights, 0)
    expect(unknown.note).toMatch(/^weights only: the model's geometry/)
    expect(estimateMemory({ ...base, kernel: "test-echo", with: {} }).note).toBe("weights only: no memory model for kernel test-echo")
    expect(estimateMemory({ ...base, kernel: "tokenizer-stats", with: {} })).toMatchObject({ basis: "none", peakGb: 0 })
  })
})

describe("polyquant plan prints the peak", () => {
  it("a step that fits on its weights but not at its peak: DOES NOT FIT, with the part that breaks it", () => {
    const text = `name: importance
platforms:
  a100: { gpu: A100, vram_gb: 40 }
steps:
  li:
    uses: layer-importance
    platform: a100
    with:
      model: { id: NousResearch/Llama-2-7b-hf }
      corpus: { source: udhr, languages: [en, he], split: train }
      criteria: [hessian_trace]
`
    const result = checkWorkflowText(text, "importance.yaml", { baseDir: "/nonexistent" })
    if (!result.ok) throw new Error(result.issues.map((i) => i.message).join("\n"))
    const p = plan(result.workflow)
    const r = p.steps[0]!.resources!
    expect(r.weightsGb).toBeCloseTo(13.48, 6)
    expect(r.weightsGb! + r.marginGb! <= 40).toBe(true) // the weights alone would fit
    // Hutchinson keeps the gradients with their graph, the Rademacher vectors and H·v: three times
    // the block linears (32 × 202,375,168 weights) in float16
    const grads = 3 * 32 * (4 * 4096 * 4096 + 3 * 4096 * 11008) * 2
    expect(r.parts!.find((x) => x.name === "gradients with graph, v, Hv")!.gb * GB).toBeCloseTo(grads, 0)
    expect(r.fits).toBe(false)
    const line = formatPlan(p).split("\n").find((l) => l.includes("layer-importance"))!
    expect(line).toContain(`NousResearch/Llama-2-7b-hf peak ≈ ${Number(r.peakGb!.toFixed(2))} GB + 0.5 GB CUDA context of 40 GB (A100): DOES NOT FIT (over by `)
    expect(line).toContain("; gradients with graph, v, Hv 38.86 GB breaks it)")
    expect(line).toContain("— at Hutchinson: Hessian-vector product, GB: weights 13.48 (6.74B × 2 B float16), gradients with graph, v, Hv 38.86")
  })
})
