/**
 * `layer-importance` (PRO-003): per layer and calibration language, diagonal Fisher, Hutchinson
 * Hessian trace, activation variance, block influence (1 − cos) and measured quantization
 * sensitivity, with Spearman correlations between them (python/polyquant/kernels/layer_importance.py).
 */
import { z } from "zod"
import { CorpusSpec, Language, ModelSpec, Override, Protect, QuantConfig } from "./common.js"
import { defineKernel } from "./define.js"
import { BootstrapOptions } from "./disparity.js"
import { ModelRecord } from "./attention-heads.js"
import { QuantSummary } from "./quantize.js"

export const Criterion = z.enum(["fisher", "hessian_trace", "activation_variance", "block_influence", "quant_sensitivity"])
const Num = z.number().nullable()
const LayerRow = z.strictObject({
  layer: z.number().int(),
  fisher: Num.optional().describe("Σ over the block's linear weights of the mean squared gradient"),
  hessian_trace: Num.optional().describe("Hutchinson estimate of tr(H) over the block's linear weights"),
  activation_variance: Num.optional().describe("mean over hidden dims of the block output's variance over tokens"),
  block_influence: Num.optional().describe("1 − mean cos(block input, block output)"),
  quant_sensitivity: Num.optional().describe("PPL_q/PPL − 1 with only this block quantized (null: block protected)")
})
const Interval = z.tuple([Num, Num])
const RankingUncertainty = z.strictObject({
  layers: z.array(
    z.strictObject({
      layer: z.number().int(),
      ci: Interval.describe("95% bootstrap CI of the criterion"),
      p_top_k: z.number().min(0).max(1).describe("share of replicates in which the layer ranks among the top_k")
    })
  ),
  top_k: z.array(z.number().int()).describe("the point ranking's top k layers"),
  stable: z.boolean().describe("every layer of the point top k has P(top k) ≥ 0.95")
})
const Correlation = z.strictObject({ a: Criterion, b: Criterion, rho: Num, p: Num, n: z.number().int() })

export const layerImportance = defineKernel({
  name: "layer-importance",
  version: "5",
  description: "Fisher, Hutchinson Hessian trace, activation variance, block influence and RTN sensitivity per layer and language; Spearman correlations",
  with: z.strictObject({
    model: ModelSpec,
    corpus: CorpusSpec.describe("calibration text; use split: train to keep the held-out articles unseen"),
    languages: z.array(Language).min(1).optional().describe("calibration languages; default the corpus languages"),
    criteria: z.array(Criterion).min(1).default(["fisher", "hessian_trace", "activation_variance", "block_influence", "quant_sensitivity"]),
    hutchinson_samples: z.number().int().positive().default(16).describe("Rademacher vectors per language"),
    seed: z.number().int().default(0),
    seq_len: z.number().int().min(2).default(128),
    max_windows: z.number().int().positive().default(8).describe("windows per language"),
    batch_size: z.number().int().positive().default(8),
    quant: QuantConfig.prefault({}).describe("for quant_sensitivity"),
    protect: Protect.prefault({}),
    overrides: z.array(Override).default([]),
    bootstrap: BootstrapOptions.omit({ unit: true }).prefault({}).describe("paired bootstrap over each language's windows"),
    top_k: z.number().int().positive().default(3).describe("P(top k): how often a layer ranks among the k most important over bootstrap replicates")
  }),
  outputs: z.strictObject({
    languages: z.array(z.string()),
    layers: z.number().int(),
    criteria: z.array(Criterion),
    hutchinson_samples: z.number().int(),
    seed: z.number().int(),
    per_language: z.record(
      z.string(),
      z.strictObject({ layers: z.array(LayerRow), hessian_trace_se: z.array(Num).nullable(), correlations: z.array(Correlation) })
    ),
    mean: z.strictObject({ layers: z.array(LayerRow), correlations: z.array(Correlation) }).describe("criteria averaged over languages"),
    ranking: z.record(z.string(), z.array(z.number().int())).describe("criterion → layers, most important first"),
    uncertainty: z.strictObject({
      bootstrap: z.strictObject({ samples: z.number().int(), seed: z.number().int(), unit: z.literal("segment") }),
      top_k: z.number().int(),
      per_language: z.record(z.string(), z.record(z.string(), RankingUncertainty)),
      mean: z.record(z.string(), RankingUncertainty).describe("criterion → ranking uncertainty of the mean over languages"),
      correlations: z.array(z.strictObject({ a: Criterion, b: Criterion, rho_ci: Interval })).describe("95% CI of ρ between criteria (mean)"),
      note: z.string().nullable().describe("set when a top-k ranking is not stable across bootstrap draws")
    }),
    quant: QuantSummary.nullable(),
    model: ModelRecord,
    windows: z.record(z.string(), z.number().int())
  }),
  models: ["model"],
  corpora: ["corpus", "quant.calibration.corpus"],
  checkpoints: true,
  gpu: true
})
