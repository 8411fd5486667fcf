/**
 * `perplexity`: per-language NLL of a model on a corpus under a recorded protocol
 * (python/polyquant/kernels/perplexity.py, python/polyquant/eval/perplexity.py). Per language:
 * documents, tokens, UTF-8 bytes, chars, nll (nats), token PPL = exp(nll/tokens),
 * bits_per_byte = nll/(bytes·ln 2), bits_per_char = nll/(chars·ln 2). The model (with its
 * fingerprint) and the protocol as it ran are recorded next to the numbers.
 */
import { z } from "zod"
import { CorpusSpec, ModelSpec } from "./common.js"
import { defineKernel } from "./define.js"
import { EvalProtocol, EvalProtocolRecord } from "./disparity.js"

/** The model as recorded with every result (LoadedModel.describe()). */
export const ModelRecord = z.strictObject({
  id: z.string(),
  fingerprint: z.string().describe("sha256 of config.json and the weights (local), or id@revision (hub)"),
  n_params: z.number().int().nonnegative(),
  dtype: z.string(),
  device: z.string()
})

/** The corpus as recorded with every result. */
export const CorpusRecord = z.strictObject({
  source: z.string().nullable(),
  split: z.string().nullable(),
  digest: z.string().nullable()
})

/** Per-window NLL sums and token counts (when `segments: true`), for bootstraps. */
export const Segments = z.strictObject({
  doc: z.array(z.number().int()).describe("document index (chunked: chunk index)"),
  segment: z.array(z.number().int()).describe("window index within the document"),
  nll: z.array(z.number()).describe("summed NLL of the window's scored tokens, nats"),
  tokens: z.array(z.number().int()).describe("scored tokens in the window")
})

export const LanguagePerplexity = z.strictObject({
  documents: z.number().int().nonnegative(),
  tokens: z.number().int().positive().describe("scored tokens"),
  bytes: z.number().int().nonnegative().describe("UTF-8 bytes of the text the windows cover"),
  chars: z.number().int().nonnegative().describe("Unicode code points of that text"),
  nll: z.number().describe("summed negative log-likelihood, nats"),
  ppl: z.number().describe("exp(nll / tokens)"),
  bits_per_byte: z.number().describe("nll / (bytes · ln 2): comparable across tokenizers"),
  bits_per_char: z.number().describe("nll / (chars · ln 2)"),
  segments: Segments.optional(),
  doc_bytes: z.array(z.number().int()).optional().describe("UTF-8 bytes per document")
})

export const perplexity = defineKernel({
  name: "perplexity",
  version: "3",
  description: "per-language NLL, token perplexity, bits per byte and bits per char under a recorded protocol",
  with: z.strictObject({
    model: ModelSpec,
    corpus: CorpusSpec.prefault({}),
    protocol: EvalProtocol.prefault({}),
    segments: z.boolean().default(false).describe("also return per-window NLL sums and token counts")
  }),
  outputs: z.strictObject({
    model: ModelRecord,
    protocol: EvalProtocolRecord,
    corpus: CorpusRecord,
    languages: z.record(z.string(), LanguagePerplexity)
  }),
  models: ["model"],
  corpora: ["corpus"],
  checkpoints: false,
  gpu: true
})
