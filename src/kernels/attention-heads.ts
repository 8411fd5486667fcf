/**
 * `attention-heads` (COLAB-003): per-head ablation ΔNLL per language, the language-specific rule,
 * a cheap activation statistic and its agreement with ablation, and the share of specific heads
 * overall, per layer and in critical layers (python/polyquant/kernels/attention_heads.py).
 */
import { z } from "zod"
import { CorpusSpec, Language, ModelSpec } from "./common.js"
import { BootstrapOptions } from "./disparity.js"
import { defineKernel } from "./define.js"

/** The model as recorded with an analysis result (LoadedModel.describe()). */
export const ModelRecord = z.strictObject({
  id: z.string(),
  fingerprint: z.string(),
  n_params: z.number().int(),
  dtype: z.string(),
  device: z.string()
})

const PerLanguage = z.record(z.string(), z.number())
const Num = z.number().nullable()
const Interval = z.tuple([Num, Num])

export const attentionHeads = defineKernel({
  name: "attention-heads",
  version: "3",
  description: "per-head ablation per language: language-specific heads (share overall, per layer, in critical layers) and an activation statistic",
  with: z.strictObject({
    model: ModelSpec,
    corpus: CorpusSpec,
    languages: z.array(Language).min(2).optional().describe("defaults to the corpus languages; at least 2"),
    rule: z
      .strictObject({
        k: z.number().positive().default(3).describe("ΔNLL for L must be ≥ k × the median ΔNLL of the other languages"),
        floor: z.number().min(0).default(0.01).describe("... and ≥ this many nats per token")
      })
      .prefault({}),
    critical_layers: z.array(z.number().int()).optional().describe("e.g. from a layer-sweep; negative indices count from the end"),
    seq_len: z.number().int().min(2).default(128).describe("tokens per window"),
    max_windows: z.number().int().positive().default(16).describe("windows per language (cost is layers × heads × languages × windows)"),
    batch_size: z.number().int().positive().default(8),
    checkpoint_every: z.number().int().positive().default(1).describe("layers between checkpoints"),
    bootstrap: BootstrapOptions.omit({ unit: true }).prefault({}).describe("paired bootstrap over each language's windows")
  }),
  outputs: z.strictObject({
    languages: z.array(z.string()),
    layers: z.number().int(),
    heads_per_layer: z.number().int(),
    rule: z.strictObject({ k: z.number(), floor: z.number() }),
    base_nll: PerLanguage.describe("language → mean NLL (nats/token) of the unablated model"),
    heads: z.array(
      z.strictObject({
        layer: z.number().int(),
        head: z.number().int(),
        delta_nll: PerLanguage.describe("language → NLL increase when this head is ablated"),
        specific_to: z.array(z.string()),
        ablation_specificity: z.number(),
        top_language: z.string(),
        activation: PerLanguage.describe("language → mean L2 norm of the head's output"),
        activation_normalised: PerLanguage,
        activation_specificity: z.number(),
        activation_top_language: z.string(),
        p_specific: z.number().min(0).max(1).describe("share of bootstrap replicates in which the rule calls this head specific"),
        delta_ci: z.record(z.string(), Interval).describe("language → 95% CI of delta_nll")
      })
    ),
    n_heads: z.number().int(),
    n_specific: z.number().int(),
    share_specific: z.number().describe("share of language-specific heads (the seed quotes 16.7% for GPT-2)"),
    per_layer: z.array(z.strictObject({ layer: z.number().int(), specific: z.number().int(), heads: z.number().int(), share: z.number() })),
    per_language: z.record(z.string(), z.number().int()),
    agreement: z.strictObject({
      spearman: z.strictObject({ rho: Num, p: Num }).describe("activation vs ablation specificity over heads"),
      top_language_match: z.number()
    }),
    critical_layers: z
      .strictObject({
        layers: z.array(z.number().int()),
        share_in_critical: Num,
        share_elsewhere: Num,
        holds_more: z.boolean(),
        fisher_p: Num.describe("one-sided Fisher exact test: specific heads over-represented in critical layers")
      })
      .nullable(),
    uncertainty: z.strictObject({
      bootstrap: z.strictObject({ samples: z.number().int(), seed: z.number().int(), unit: z.literal("segment") }),
      share_specific_ci: Interval,
      per_layer: z.array(z.strictObject({ layer: z.number().int(), share_ci: Interval })),
      per_language_ci: z.record(z.string(), Interval).describe("language → 95% CI of its number of specific heads"),
      stable: z.number().min(0).max(1).describe("share of heads whose classification agrees with the point one in ≥ 95% of replicates"),
      mde: z.record(z.string(), z.number()).describe("language → smallest ablation ΔNLL (nats/token) this corpus tells from 0"),
      critical_layers: z
        .strictObject({
          difference_ci: Interval.describe("95% CI of share in critical layers − share elsewhere"),
          p_holds_more: z.number().min(0).max(1)
        })
        .nullable(),
      note: z.string().nullable().describe("set when the corpus cannot resolve the rule's floor")
    }),
    model: ModelRecord,
    windows: z.record(z.string(), z.number().int()),
    tokens: z.record(z.string(), z.number().int())
  }),
  models: ["model"],
  corpora: ["corpus"],
  checkpoints: true,
  gpu: true
})
