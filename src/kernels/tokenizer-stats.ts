/**
 * `tokenizer-stats`: tokens per UTF-8 byte and per character of the same parallel text per
 * language, and the tokenizer premium tokens(language) / tokens(reference)
 * (python/polyquant/kernels/tokenizer_stats.py). Loads only the tokenizer of `model`.
 */
import { z } from "zod"
import { CorpusSpec, Language, ModelSpec } from "./common.js"
import { defineKernel } from "./define.js"
import { CorpusRecord } from "./perplexity.js"

export const LanguageTokenizerStats = z.strictObject({
  documents: z.number().int().nonnegative(),
  tokens: z.number().int().nonnegative(),
  bytes: z.number().int().positive(),
  chars: z.number().int().positive(),
  tokens_per_byte: z.number(),
  tokens_per_char: z.number(),
  bytes_per_token: z.number().nullable(),
  premium: z.number().describe("tokens / the reference language's tokens on the same text")
})

export const tokenizerStats = defineKernel({
  name: "tokenizer-stats",
  version: "1",
  description: "tokens per byte and per character per language, and the tokenizer premium over the reference",
  with: z.strictObject({
    model: ModelSpec.describe("whose tokenizer is measured (a fixture, a local HF model or tokenizer dir, or a hub id)"),
    corpus: CorpusSpec.prefault({}),
    reference: Language.default("en")
  }),
  outputs: z.strictObject({
    tokenizer: z.strictObject({ id: z.string(), class: z.string(), vocab_size: z.number().int().positive() }),
    reference: z.string(),
    corpus: CorpusRecord,
    languages: z.record(z.string(), LanguageTokenizerStats)
  }),
  models: ["model"],
  corpora: ["corpus"],
  checkpoints: false,
  gpu: false
})
