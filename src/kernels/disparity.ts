/**
 * `disparity`: a baseline and a quantized variant of one model on a multilingual corpus
 * (python/polyquant/kernels/disparity.py). Per language: d = PPL_q/PPL_b − 1 and ΔBPB with paired
 * bootstrap 95% CIs, KL(baseline ‖ quantized), Δp of the correct token, top-1 agreement; the
 * disparity index (mean non-reference d / reference d) with its CI, `defined: false` when the
 * reference's CI contains 0; the additive gap; the worst language.
 */
import { z } from "zod"
import { Estimate, Language, ModelSpec, Override, Protect, QuantConfig, CorpusSpec, ArchitectureRecord, AwqSearchRecord, StorageSummary } from "./common.js"
import { defineKernel } from "./define.js"

/** How perplexity windows are cut (python/polyquant/eval/perplexity.py `Protocol`). */
export const EvalProtocol = z.strictObject({
  name: z.enum(["rolling", "chunked", "sliding"]).default("rolling").describe("rolling: lm-eval loglikelihood_rolling; chunked: GPTQ papers; sliding: strided"),
  context_length: z.number().int().min(2).optional().describe("tokens per window; default the model's own length (lm-eval's max_length), halved while one window does not fit in memory (recorded as context_from: memory)"),
  stride: z.number().int().positive().optional().describe("sliding only; default context_length / 2"),
  batch_size: z.number().int().positive().default(8).describe("windows per forward pass; halved while a batch does not fit in memory; changes no number"),
  add_bos: z.boolean().default(true),
  compat: z
    .enum(["none", "lm_eval"])
    .default("none")
    .describe("lm_eval: encode documents with the tokenizer's own special tokens as lm-eval's HFLM does (Llama-2/3 tokenizers add BOS, so windows start with two and the second is scored); rolling only")
})

/** The protocol as it ran (context length resolved). */
export const EvalProtocolRecord = z.strictObject({
  name: z.enum(["rolling", "chunked", "sliding"]),
  context_length: z.number().int(),
  stride: z.number().int().nullable(),
  batch_size: z.number().int(),
  add_bos: z.boolean(),
  compat: z.enum(["none", "lm_eval"]),
  context_from: z.enum(["given", "model", "memory"]).describe("given: context_length was set; model: the model's own length; memory: halved from it to fit")
})

export const BootstrapOptions = z.strictObject({
  samples: z.number().int().min(10).default(1000),
  seed: z.number().int().default(0),
  unit: z.enum(["segment", "document"]).default("segment").describe("segment: an evaluation window; document: a UDHR article")
})

export const KlOptions = z.strictObject({
  kl_memory_mb: z
    .number()
    .nonnegative()
    .default(2048)
    .describe("memory for the baseline's per-token distributions; above it they are recomputed batch by batch (exact, a second forward pass per batch)"),
  top_k: z.number().int().positive().default(64).describe("with approximate: tokens per position kept"),
  approximate: z.boolean().default(false).describe("above kl_memory_mb, a top-k approximation instead of recomputing: a lower bound on KL, labelled so in kl_mode")
})

export const LanguageDisparity = z.strictObject({
  ppl_base: z.number(),
  ppl_quant: z.number(),
  bpb_base: z.number(),
  bpb_quant: z.number(),
  tokens: z.number().int(),
  degradation: Estimate.describe("PPL_q / PPL_b − 1"),
  delta_bpb: Estimate.describe("BPB_q − BPB_b"),
  kl: z.number().describe("mean KL(baseline ‖ quantized) of next-token distributions, nats"),
  delta_p: z.number().describe("mean p_q(correct) − p_b(correct)"),
  top1_agreement: z.number().min(0).max(1)
})

export const DisparityIndex = z.strictObject({
  ...Estimate.shape,
  defined: z.boolean().describe("false when the reference degradation's CI contains 0"),
  reason: z.string().optional()
})

export const disparity = defineKernel({
  name: "disparity",
  version: "4",
  description: "baseline vs quantized: per-language degradation with paired bootstrap CIs, KL, Δp, top-1 agreement, and the disparity index",
  with: z.strictObject({
    model: ModelSpec,
    corpus: CorpusSpec,
    quant: QuantConfig.optional().describe("quantize the model in place (default: rtn 4-bit, group 128)"),
    protect: Protect.prefault({}),
    overrides: z.array(Override).default([]),
    variant: z.strictObject({ model: ModelSpec }).optional().describe("a pre-quantized model with the same tokenizer, instead of `quant`"),
    reference: Language.default("en"),
    bootstrap: BootstrapOptions.prefault({}),
    protocol: EvalProtocol.prefault({}),
    kl: KlOptions.prefault({})
  }),
  outputs: z.strictObject({
    reference: z.string(),
    quant: z
      .strictObject({
        method: z.enum(["rtn", "gptq", "awq", "gguf"]),
        bits: z.number().int(),
        group_size: z.number().int(),
        sym: z.boolean(),
        gguf_type: z.string().optional().describe("method gguf: the file type or block type, e.g. Q4_K_M"),
        modules: z.number().int(),
        mean_rel_error: z.number().nullable(),
        storage: StorageSummary.optional(),
        calibration: z
          .strictObject({
            languages: z.array(z.string()),
            mix: z.string().nullable(),
            samples: z.number().int().nullable(),
            seq_len: z.number().int().nullable(),
            per_language: z.record(z.string(), z.strictObject({ samples: z.number().int(), tokens: z.number().int(), bytes: z.number().int() }))
          })
          .nullable()
          .optional()
          .describe("GPTQ / AWQ: what the calibration set held per language (samples, tokens, UTF-8 bytes)")
      })
      .nullable(),
    architecture: ArchitectureRecord.nullable().optional().describe("the structure found in the model, when the step quantized it"),
    awq: AwqSearchRecord.nullable().optional().describe("AWQ only: the scale groups found and verified"),
    variant: z.strictObject({ id: z.string(), fingerprint: z.string() }).nullable(),
    protected: z.array(z.string()),
    languages: z.record(z.string(), LanguageDisparity),
    disparity: DisparityIndex,
    gap: Estimate.describe("mean non-reference d − reference d"),
    worst_language: z.string(),
    bootstrap: z.strictObject({ samples: z.number().int(), seed: z.number().int(), unit: z.enum(["segment", "document"]) }),
    protocol: EvalProtocolRecord,
    windows: z
      .record(
        z.string(),
        z.strictObject({
          doc: z.array(z.number().int()),
          nll_base: z.array(z.number()),
          nll_quant: z.array(z.number()),
          tokens: z.array(z.number().int()),
          bytes: z.array(z.number())
        })
      )
      .optional()
      .describe("language → per evaluation window: its document, baseline and quantized NLL sums (nats), scored tokens, UTF-8 bytes; `polyquant export RUN --windows` writes them as rows"),
    kl_mode: z.string().describe("float32 | float16 | recompute (all exact) | top-<k> lower bound: how the baseline distributions were kept")
  }),
  models: ["model", "variant.model"],
  corpora: ["corpus", "quant.calibration.corpus"],
  checkpoints: false,
  gpu: true
})
