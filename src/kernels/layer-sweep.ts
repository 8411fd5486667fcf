/**
 * `layer-sweep`: a layer × language matrix of degradation (python/polyquant/kernels/layer_sweep.py).
 * One quantization pass, then per configuration an in-place swap of part of the precomputed
 * weights, one evaluation and a bit-exact restore. Checkpoints every `checkpoint_every`
 * configurations and resumes from them.
 */
import { z } from "zod"
import { CorpusSpec, ModelSpec, Override, Protect, QuantConfig } from "./common.js"
import { defineKernel } from "./define.js"
import { EvalProtocol, EvalProtocolRecord } from "./disparity.js"
import { QuantSummary } from "./quantize.js"

const PerLanguage = z.record(z.string(), z.number()).describe("language → d = PPL_q / PPL_b − 1")

export const layerSweep = defineKernel({
  name: "layer-sweep",
  version: "3",
  description: "protect-one, quantize-one or greedy protect-cumulative over layers (or layer groups): degradation per language, critical layers ranked",
  with: z.strictObject({
    model: ModelSpec,
    corpus: CorpusSpec,
    quant: QuantConfig.prefault({}),
    protect: Protect.prefault({}).describe("always left in full precision, in every configuration"),
    overrides: z.array(Override).default([]),
    mode: z.enum(["protect-one", "quantize-one", "protect-cumulative"]).default("protect-one"),
    layer_groups: z.array(z.array(z.number().int()).min(1)).min(1).optional().describe("e.g. [[0, 1], [2, 3]]; default one group per layer"),
    checkpoint_every: z.number().int().positive().default(4).describe("configurations between checkpoints"),
    max_steps: z.number().int().positive().optional().describe("protect-cumulative: greedy steps (default: every group)"),
    protocol: EvalProtocol.prefault({})
  }),
  outputs: z.strictObject({
    mode: z.enum(["protect-one", "quantize-one", "protect-cumulative"]),
    quant: QuantSummary,
    protected: z.array(z.string()),
    groups: z.array(z.array(z.number().int())),
    languages: z.array(z.string()),
    baseline: z.record(z.string(), z.number()).describe("language → baseline token perplexity"),
    all_quantized: z.strictObject({ degradation: PerLanguage, mean: z.number() }),
    rows: z.array(
      z.strictObject({
        layers: z.array(z.number().int()).describe("protect-one: the protected group; quantize-one: the quantized group; cumulative: all protected so far"),
        label: z.string(),
        degradation: PerLanguage,
        mean: z.number(),
        added: z.array(z.number().int()).optional().describe("protect-cumulative: the group this step added")
      })
    ),
    critical_layers: z.array(z.strictObject({ layers: z.array(z.number().int()), label: z.string(), score: z.number() })),
    configurations: z.number().int(),
    protocol: EvalProtocolRecord
  }),
  models: ["model"],
  corpora: ["corpus", "quant.calibration.corpus"],
  checkpoints: true,
  gpu: true
})
