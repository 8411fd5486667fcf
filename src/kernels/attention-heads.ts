/**
 * `attention-heads` (COLAB-003): per-head ablation ΔNLL per language, the language-specific rule,
 * a cheap activation statistic and its agreement with ablation, and the share of specific heads
 * overall, per layer and in critical layers (python/polyquant/kernels/attention_heads.py).
 */
import { z } from "zod"
import { CorpusSpec, Language, ModelSpec } from "./common.js"
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

export const attentionHeads = defineKernel({
  name: "attention-heads",
  version: "2",
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
    checkpoint_every: z.number().int().positive().default(1).describe("layers between checkpoints")
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
        activation_top_language: z.string()
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
    model: ModelRecord,
    windows: z.record(z.string(), z.number().int()),
    tokens: z.record(z.string(), z.number().int())
  }),
  models: ["model"],
  corpora: ["corpus"],
  checkpoints: true,
  gpu: true
})
