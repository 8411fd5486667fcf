/**
 * `task-eval` (KAGGLE-003): MMLU-format multiple choice scored by the log-likelihood of the answer
 * letter (lm-eval's MMLU prompt), per language; base vs a quantized variant, and the correlation of
 * the accuracy drop with perplexity degradation when a corpus is given (python/polyquant/kernels/task_eval.py).
 */
import { z } from "zod"
import { CorpusSpec, Language, ModelSpec, Override, Protect, QuantConfig } from "./common.js"
import { defineKernel } from "./define.js"
import { ModelRecord } from "./attention-heads.js"
import { Correlation } from "./correlation.js"
import { EvalProtocol } from "./disparity.js"
import { QuantSummary } from "./quantize.js"

const Score = z.strictObject({ accuracy: z.number().nullable(), correct: z.number().int(), mean_gold_loglik: z.number().nullable() })

export const taskEval = defineKernel({
  name: "task-eval",
  version: "1",
  description: "MMLU-format accuracy per language by answer-letter log-likelihood; base vs quantized, drop, and its correlation with perplexity degradation",
  with: z.strictObject({
    model: ModelSpec,
    data: z
      .strictObject({
        source: z.enum(["bundled", "files", "hub"]).optional().describe("default: files when `files` is given, else the bundled UDHR questions"),
        files: z.record(Language, z.string()).optional().describe("language → .jsonl or .csv (question, A-D or choices, answer)"),
        dataset: z.enum(["CohereForAI/Global-MMLU", "openai/MMMLU"]).optional().describe("hub only; needs `datasets` and a network"),
        split: z.string().optional()
      })
      .prefault({}),
    languages: z.array(Language).min(1).optional().describe("default: the files' languages, or en, he, ar, zh"),
    limit: z.number().int().positive().optional().describe("questions per language"),
    description: z.boolean().default(true).describe("prefix lm-eval's 'The following are multiple choice questions…' line"),
    add_bos: z.boolean().default(false).describe("lm-eval adds no BOS by default"),
    quant: QuantConfig.optional().describe("evaluate this quantized variant too"),
    protect: Protect.prefault({}),
    overrides: z.array(Override).default([]),
    corpus: CorpusSpec.optional().describe("with quant: also measure perplexity degradation and correlate it with the accuracy drop"),
    protocol: EvalProtocol.optional()
  }),
  outputs: z.strictObject({
    languages: z.array(z.string()),
    per_language: z.record(
      z.string(),
      z.strictObject({
        n: z.number().int(),
        base: Score,
        quantized: Score.nullable(),
        drop: z.number().nullable().describe("accuracy_base − accuracy_quantized"),
        changed: z.number().int().nullable().describe("questions whose predicted letter changed"),
        ppl_degradation: z.number().nullable().describe("PPL_q / PPL_b − 1 on the corpus")
      })
    ),
    mean_accuracy_base: z.number(),
    mean_accuracy_quantized: z.number().nullable(),
    mean_drop: z.number().nullable(),
    quant: QuantSummary.nullable(),
    correlation: Correlation.nullable(),
    prompt: z.strictObject({ format: z.string(), description: z.boolean(), add_bos: z.boolean() }),
    model: ModelRecord
  }),
  models: ["model"],
  files: ["data.files"],
  corpora: ["corpus", "quant.calibration.corpus"],
  checkpoints: false,
  gpu: true
})
