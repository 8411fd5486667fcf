/**
 * `fixture`: train a fixture model (`tiny-llama` or `tiny-gpt2`) on the UDHR training split into
 * `$POLYQUANT_CACHE/fixtures/<name>` unless it is there (python/polyquant/kernels/fixture.py,
 * python/polyquant/models/fixture.py). The engine runs it through `ensureFixture`
 * (src/python/fixtures.ts) before a step that names `fixture:<name>`; its outputs are the
 * fixture's polyquant-fixture.json plus where it lives and whether this call trained it.
 */
import { z } from "zod"
import { CorpusSpec } from "./common.js"
import { defineKernel } from "./define.js"
import { FIXTURE_NAMES } from "../model/facts.js"

export const FixtureConfigRecord = z.strictObject({
  vocab_size: z.number().int(),
  hidden: z.number().int(),
  layers: z.number().int(),
  heads: z.number().int(),
  ffn: z.number().int(),
  context: z.number().int(),
  steps: z.number().int(),
  batch_size: z.number().int(),
  lr: z.number(),
  warmup: z.number().int(),
  weight_decay: z.number(),
  threads: z.number().int()
})

export const fixture = defineKernel({
  name: "fixture",
  version: "1",
  description: "train a fixture model (tiny-llama, tiny-gpt2) on the UDHR training split, unless cached",
  with: z.strictObject({
    name: z.enum(FIXTURE_NAMES),
    corpus: CorpusSpec.prefault({ split: "train" }).describe("the training text (default: UDHR train split)"),
    seed: z.number().int().default(0),
    steps: z.number().int().positive().optional().describe("optimizer steps (default: the trainer's)"),
    force: z.boolean().default(false).describe("train again even if the fixture exists")
  }),
  outputs: z.strictObject({
    name: z.enum(FIXTURE_NAMES),
    seed: z.number().int(),
    threads: z.number().int(),
    steps: z.number().int(),
    config: FixtureConfigRecord,
    n_params: z.number().int().positive(),
    tokens: z.number().int().positive().describe("training tokens (documents wrapped in <s> … </s>)"),
    initial_loss: z.number(),
    final_loss: z.number().describe("mean training loss of the last 20 steps, nats"),
    unigram_loss: z.number().describe("entropy of the training tokens' unigram distribution, nats"),
    corpus_digest: z.string().nullable(),
    corpus_split: z.string().nullable(),
    languages: z.array(z.string()),
    training_seconds: z.number().describe("wall clock, tokenizer included"),
    cpu_seconds: z.number().optional().describe("CPU time of the training process, all threads"),
    torch: z.string(),
    path: z.string(),
    trained: z.boolean().describe("false when the cached fixture was returned")
  }),
  models: [],
  corpora: ["corpus"],
  checkpoints: false,
  gpu: false
})
