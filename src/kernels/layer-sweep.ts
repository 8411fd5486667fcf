/**
 * `layer-sweep`: a layer × language matrix of degradation (python/polyquant/kernels/layer_sweep.py).
 * One quantization pass, then per configuration an in-place swap of part of the precomputed
 * weights, one evaluation and a bit-exact restore. Checkpoints every `checkpoint_every`
 * configurations and resumes from them.
 */
import { z } from "zod"
import { CorpusSpec, Language, ModelSpec, Override, Protect, QuantConfig } from "./common.js"
import { defineKernel } from "./define.js"
import { BootstrapOptions, DisparityIndex, EvalProtocol, EvalProtocolRecord } from "./disparity.js"
import { QuantSummary } from "./quantize.js"

const PerLanguage = z.record(z.string(), z.number()).describe("language → d = PPL_q / PPL_b − 1")
const Interval = z.tuple([z.number().nullable(), z.number().nullable()])
/** A configuration's paired bootstrap 95% intervals (python/polyquant/analysis/sweep_uncertainty.py). */
const ConfigurationCi = {
  degradation_ci: z.record(z.string(), Interval).describe("language → 95% CI of d"),
  mean_ci: Interval,
  disparity: DisparityIndex.optional().describe("mean non-reference d / reference d, when the corpus has the reference")
}

export const layerSweep = defineKernel({
  name: "layer-sweep",
  version: "5",
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
    protocol: EvalProtocol.prefault({}),
    reference: Language.default("en").describe("the disparity index's reference language (no index when the corpus lacks it)"),
    bootstrap: BootstrapOptions.prefault({}),
    top_k: z.number().int().positive().default(3).describe("P(top k): how often a layer ranks among the k most critical over bootstrap replicates")
  }),
  outputs: z.strictObject({
    mode: z.enum(["protect-one", "quantize-one", "protect-cumulative"]),
    quant: QuantSummary,
    protected: z.array(z.string()),
    groups: z.array(z.array(z.number().int())),
    languages: z.array(z.string()),
    baseline: z.record(z.string(), z.number()).describe("language → baseline token perplexity"),
    all_quantized: z.strictObject({ degradation: PerLanguage, mean: z.number(), ...ConfigurationCi }),
    rows: z.array(
      z.strictObject({
        layers: z.array(z.number().int()).describe("protect-one: the protected group; quantize-one: the quantized group; cumulative: all protected so far"),
        label: z.string(),
        degradation: PerLanguage,
        mean: z.number(),
        ...ConfigurationCi,
        added: z.array(z.number().int()).optional().describe("protect-cumulative: the group this step added")
      })
    ),
    critical_layers: z.array(
      z.strictObject({
        layers: z.array(z.number().int()),
        label: z.string(),
        score: z.number(),
        score_ci: Interval.optional().describe("protect-one / quantize-one: the score's 95% CI"),
        p_top_k: z.number().min(0).max(1).optional().describe("share of bootstrap replicates in which this group ranks among the top_k"),
        separated: z.boolean().optional().describe("the score's CI excludes 0: it differs from the all-quantized model (protect-one) or the baseline (quantize-one)")
      })
    ),
    configurations: z.number().int(),
    uncertainty: z.strictObject({
      bootstrap: z.strictObject({ samples: z.number().int(), seed: z.number().int(), unit: z.enum(["segment", "document"]) }),
      top_k: z.number().int(),
      mde: z.record(z.string(), z.number().nullable()).describe("language → minimum detectable difference in d between two configurations (1.96 × bootstrap SD)"),
      separated: z.array(z.string()).describe("the critical groups whose score CI excludes 0"),
      note: z.string().nullable().describe("said when the corpus separates no layer")
    }),
    protocol: EvalProtocolRecord
  }),
  models: ["model"],
  corpora: ["corpus", "quant.calibration.corpus"],
  checkpoints: true,
  gpu: true
})
