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

const Score = z.strictObject({
  accuracy: z.number().nullable(),
  ci: z.tuple([z.number().nullable(), z.number().nullable()]).describe("95% percentile-bootstrap interval over the questions"),
  correct: z.number().int(),
  mean_gold_loglik: z.number().nullable()
})

/** The hub benchmarks task-eval reads in their published layout (python/polyquant/eval/benchmarks.py). */
export const Benchmark = z.enum([
  "CohereForAI/Global-MMLU",
  "CohereForAI/Global-MMLU-Lite",
  "CohereLabs/Global-MMLU",
  "CohereLabs/Global-MMLU-Lite",
  "openai/MMMLU",
  "facebook/belebele",
  "CohereForAI/include-base-44",
  "CohereLabs/include-base-44"
])

export const taskEval = defineKernel({
  name: "task-eval",
  version: "5",
  description: "MMLU-format accuracy per language by answer-letter log-likelihood; base vs quantized, drop, and its correlation with perplexity degradation",
  with: z.strictObject({
    model: ModelSpec,
    data: z
      .strictObject({
        source: z.enum(["bundled", "files", "hub"]).optional().describe("default: files when `files` is given, else the bundled UDHR questions"),
        files: z
          .record(Language, z.string())
          .optional()
          .describe("language → .parquet, .jsonl or .csv in a benchmark's published columns (question, A-D / option_a-d / choices, answer; Belebele's mc_answer1-4)"),
        dev_files: z.record(Language, z.string()).optional().describe("with files and shots > 0: language → the dev split's file, where the shots come from"),
        dataset: Benchmark.optional().describe("hub: the benchmark, read through `datasets` and its cache (HF_HUB_OFFLINE=1 reads what is cached)"),
        split: z.string().optional().describe("hub: the questions' split (default: the benchmark's test split)"),
        revision: z.string().optional().describe("hub: pin the dataset to this commit, tag or branch")
      })
      .prefault({}),
    shots: z.number().int().min(0).max(5).default(0).describe("few-shot examples from the benchmark's dev split (lm-eval's MMLU: 0 or 5)"),
    bootstrap: z.strictObject({ samples: z.number().int().min(10).default(1000), seed: z.number().int().default(0) }).prefault({}),
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
        drop_ci: z.tuple([z.number().nullable(), z.number().nullable()]).nullable().describe("paired 95% bootstrap interval of the drop"),
        changed: z.number().int().nullable().describe("questions whose predicted letter changed"),
        ppl_degradation: z.number().nullable().describe("PPL_q / PPL_b − 1 on the corpus")
      })
    ),
    mean_accuracy_base: z.number(),
    mean_accuracy_quantized: z.number().nullable(),
    mean_drop: z.number().nullable(),
    quant: QuantSummary.nullable(),
    correlation: Correlation.nullable(),
    prompt: z.strictObject({ format: z.string().describe("e.g. mmlu-5-shot-letter, belebele-0-shot-letter"), shots: z.number().int(), description: z.boolean(), add_bos: z.boolean() }),
    data: z.strictObject({
      source: z.enum(["bundled", "files", "hub"]),
      dataset: z.string().nullable(),
      bundled: z.boolean().describe("true: the bundled UDHR questions, a pipeline check, not MMLU")
    }),
    bootstrap: z.strictObject({ samples: z.number().int(), seed: z.number().int(), unit: z.string() }),
    model: ModelRecord
  }),
  models: ["model"],
  files: ["data.files"],
  corpora: ["corpus", "quant.calibration.corpus"],
  checkpoints: false,
  gpu: true
})
