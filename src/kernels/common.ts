/**
 * Schemas shared by several kernels' `with` blocks: models, corpora, quantization settings.
 * One place, so that YAML, the TypeScript DSL, the JSON Schema and Python all see one shape.
 * Every object is strict: an unknown key is an error, never a silent default.
 */
import { z } from "zod"

/** A model: a fixture (`fixture:tiny-llama`), a hub id (`NousResearch/Llama-2-7b-hf`) or a local dir. */
export const ModelSpec = z.strictObject({
  id: z.string().min(1).describe("fixture:tiny-llama | fixture:tiny-gpt2 | a Hugging Face id | a local directory"),
  revision: z.string().optional().describe("hub revision (branch, tag or commit)"),
  dtype: z.enum(["auto", "float32", "float16", "bfloat16"]).default("auto").describe("auto: float32 on CPU, float16 on CUDA"),
  device: z.string().regex(/^(auto|cpu|cuda(:\d+)?)$/, "device must be auto, cpu, cuda or cuda:N").default("auto"),
  format: z
    .enum(["hf", "gptq", "awq", "compressed-tensors", "gguf"])
    .default("hf")
    .describe(
      "gptq/awq/compressed-tensors: a pre-quantized checkpoint, dequantized on load (a local compressed-tensors folder is found under hf too); gguf: a llama.cpp file, its folder as id"
    ),
  file: z
    .string()
    .regex(/^[^/\\]+\.gguf$/, "file is the name of a .gguf file inside the model's folder or hub repo")
    .optional()
    .describe("gguf: which .gguf of the folder or hub repo (required when it holds several, and for the hub)"),
  trust_remote_code: z.boolean().default(false).describe("run code shipped with the model; off unless you trust its source"),
  params_b: z.number().positive().optional().describe("parameter count in billions, for planning when the config is not local")
})
export type ModelSpec = z.infer<typeof ModelSpec>

/** ISO 639-1 codes (or any code the corpus source knows); validated against the source at load. */
export const Language = z.string().regex(/^[a-z]{2,3}(_[A-Za-z0-9]+)*$/, "a language is an ISO 639-1 code such as en, he, zh, or a UDHR code such as cmn_hant")

/** polyquant's splits: UDHR articles, and what a hub corpus maps them to (FLORES+: dev / devtest). */
export const CORPUS_SPLITS = ["train", "heldout", "all"] as const

/**
 * A corpus: the UDHR (default), files per language (plain text, or parquet / jsonl / csv with a text
 * column), or a hub dataset read through `datasets` (its cache serves it offline).
 */
export const CorpusSpec = z
  .strictObject({
    source: z.enum(["udhr", "files", "hub"]).default("udhr"),
    languages: z.array(Language).min(1).optional().describe("defaults to every language of `files`, or en, he, ar, zh"),
    split: z
      .string()
      .regex(/^[A-Za-z0-9_.-]+$/, "a split is a name such as heldout, train, devtest")
      .default("heldout")
      .describe("UDHR: train = preamble + articles 1-25, heldout = 26-30, all; hub: train / heldout (FLORES+: dev / devtest; others: train / test) or the dataset's own split name"),
    files: z
      .record(Language, z.string())
      .optional()
      .describe("language → path: a UTF-8 text file (paragraphs = documents), or .parquet / .jsonl / .csv (a row = a document, column text_field)"),
    dataset: z.string().min(1).optional().describe("hub dataset id, e.g. openlanguagedata/flores_plus (languages map to its configs by polyquant's table)"),
    config: z.string().min(1).optional().describe("hub: the dataset config; `{language}` in it stands for each language (FLORES+ needs none)"),
    text_field: z.string().min(1).optional().describe("the column holding the text (default: text)"),
    revision: z.string().min(1).optional().describe("hub: pin the dataset to this commit, tag or branch"),
    max_bytes: z.number().int().positive().optional().describe("truncate each language to this many UTF-8 bytes")
  })
  .superRefine((c, ctx) => {
    if (c.source === "hub" && c.dataset === undefined) ctx.addIssue({ code: "custom", path: ["dataset"], message: "source hub names a dataset, e.g. openlanguagedata/flores_plus" })
    if (c.source !== "hub") {
      for (const key of ["dataset", "config", "revision"] as const)
        if (c[key] !== undefined) ctx.addIssue({ code: "custom", path: [key], message: `${key} is read only with source: hub (source is ${c.source})` })
      if (c.source === "udhr" && c.files === undefined && !(CORPUS_SPLITS as ReadonlyArray<string>).includes(c.split))
        ctx.addIssue({ code: "custom", path: ["split"], message: `the UDHR's splits are ${CORPUS_SPLITS.join(", ")}; got ${c.split}` })
    }
  })
export type CorpusSpec = z.infer<typeof CorpusSpec>

/**
 * A corpus after the engine loaded it (src/corpus/resolve.ts): what Python receives. The engine
 * always records source, split and digest; a script calling a kernel directly may pass documents only.
 */
export const ResolvedCorpus = z.strictObject({
  source: z.string().optional(),
  split: z.string().optional(),
  digest: z.string().optional().describe("sha256 of the exact documents used"),
  languages: z.record(z.string(), z.array(z.string())).describe("language → documents")
})
export type ResolvedCorpus = z.infer<typeof ResolvedCorpus>
/** What the engine's corpus loader returns: every field recorded. */
export type LoadedCorpus = Required<ResolvedCorpus>

/** A model spec as the engine passes it to Python: its fingerprint computed once, in TypeScript. */
export const ResolvedModel = z.strictObject({
  ...ModelSpec.shape,
  fingerprint: z.string().optional().describe("the engine's fingerprint; Python computes the same when absent")
})

export const Bits = z.number().int().min(2, "bits must be between 2 and 8").max(8, "bits must be between 2 and 8")
export const GroupSize = z
  .number()
  .int()
  .refine((g) => g === -1 || g > 0, "group_size is -1 (per channel) or a positive divisor of in_features")

export const CalibrationSpec = z.strictObject({
  corpus: CorpusSpec.optional().describe("defaults to the workflow corpus, split train"),
  languages: z.array(Language).min(1).optional().describe("defaults to the corpus languages"),
  mix: z.enum(["bytes", "samples"]).default("bytes").describe("bytes: each language contributes equal UTF-8 bytes"),
  samples: z.number().int().positive().default(128),
  seq_len: z.number().int().positive().default(512),
  seed: z.number().int().default(0)
})
export type CalibrationSpec = z.infer<typeof CalibrationSpec>

export const GptqOptions = z.strictObject({
  damp_percent: z.number().positive().max(1).default(0.01).describe("dampening as a fraction of the mean Hessian diagonal"),
  block_size: z.number().int().positive().default(128),
  act_order: z.boolean().default(false).describe("desc_act: quantize columns by decreasing Hessian diagonal"),
  static_groups: z.boolean().default(false).describe("with act_order: fix group grids before reordering"),
  group_grid: z
    .enum(["reference", "updated"])
    .default("reference")
    .describe("a group starting inside a block: its grid from the weights at the block's start, as IST-DASLab/gptq and GPTQModel (reference), or from the error-updated ones (updated)")
})

export const AwqOptions = z.strictObject({
  grid: z.number().int().min(2).default(20).describe("number of α values tried in [0, 1]"),
  alpha_grid: z.enum(["llm-awq", "linspace"]).default("llm-awq").describe("llm-awq: α = k / grid for k < grid, as mit-han-lab/llm-awq; linspace: both ends included"),
  loss: z
    .enum(["module", "block"])
    .default("module")
    .describe("module: score a scale group on the output of the module it feeds (self_attn, o_proj, mlp, down_proj), as llm-awq; block: on the whole block's output"),
  clip: z.boolean().default(true).describe("search a per-group clipping ratio after scaling"),
  clip_grid: z.number().int().min(2).default(20)
})

/** llama.cpp's block formats (ggml types), as polyquant quantizes to them (python/polyquant/quant/ggml_blocks.py). */
export const GgmlType = z.enum(["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"])
/** llama-quantize's file types: a default block type plus its per-tensor rules (python/polyquant/quant/ggml_mix.py). */
export const GgufFileType = z.enum(["Q2_K", "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_K_S", "Q4_K_M", "Q5_K_S", "Q5_K_M", "Q6_K", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1"])

export const GgufOptions = z
  .strictObject({
    type: z
      .union([GgufFileType, GgmlType])
      .default("Q4_K_M")
      .describe("with rules llama-quantize: a llama-quantize file type (Q4_K_M, Q5_K_M, …); with rules uniform: one block type for every tensor"),
    rules: z
      .enum(["llama-quantize", "uniform"])
      .default("llama-quantize")
      .describe("llama-quantize: its per-tensor choice (output and some attn_v / ffn_down get more bits); uniform: `type` everywhere")
  })
  .refine((g) => g.rules === "uniform" || (GgufFileType.options as ReadonlyArray<string>).includes(g.type), {
    message: "with rules llama-quantize, type is a llama-quantize file type (Q4_K_M, Q5_K_M, …); a bare block type such as Q4_K needs rules: uniform",
    path: ["type"]
  })

export const QuantConfig = z.strictObject({
  method: z
    .enum(["rtn", "gptq", "awq", "gguf"])
    .default("rtn")
    .describe("gguf: llama.cpp's block formats; it quantizes what llama-quantize does (block linears, token embedding, output), and bits/group_size do not apply"),
  bits: Bits.default(4),
  group_size: GroupSize.default(128),
  sym: z.boolean().default(false),
  include_embeddings: z.boolean().default(false),
  include_lm_head: z.boolean().default(false),
  gptq: GptqOptions.optional(),
  awq: AwqOptions.optional(),
  gguf: GgufOptions.optional().describe("method gguf: the llama.cpp type (default Q4_K_M with llama-quantize's rules)"),
  calibration: CalibrationSpec.optional().describe("required by gptq and awq")
})
export type QuantConfig = z.infer<typeof QuantConfig>

/** Modules left in full precision: layer indices (negative from the end) and/or module-name regexes. */
export const Protect = z.strictObject({
  layers: z.array(z.number().int()).default([]),
  modules: z.array(z.string()).default([]).describe("regular expressions matched against full module names")
})
export type Protect = z.infer<typeof Protect>

/** Layer-aware quantization: chosen layers or modules get other bits or group sizes. */
export const Override = z
  .strictObject({
    layers: z.array(z.number().int()).optional(),
    modules: z.string().optional().describe("a regular expression matched against full module names"),
    bits: Bits.optional(),
    group_size: GroupSize.optional(),
    sym: z.boolean().optional(),
    type: GgmlType.optional().describe("method gguf: the block type of the matched modules (instead of bits / group_size / sym)")
  })
  .refine((o) => o.layers !== undefined || o.modules !== undefined, "an override names `layers` or `modules`")
export type Override = z.infer<typeof Override>

/** What a quantization stores (python/polyquant/quant/plan.py `grid_summary`): overrides made visible. */
export const StorageSummary = z.strictObject({
  bpw: z.number().nullable().describe("bits per weight over every quantizable module, scales and zeros included, protected ones at 16"),
  grids: z
    .array(
      z.strictObject({
        bits: z.number().int(),
        group_size: z.number().int(),
        sym: z.boolean(),
        type: z.string().optional().describe("method gguf: the llama.cpp block type"),
        modules: z.number().int(),
        layers: z.array(z.number().int())
      })
    )
    .describe("the quantized modules grouped by grid, most modules first: more than one when overrides apply")
})

/** A point estimate with its 95% confidence interval. */
export const Estimate = z.strictObject({
  value: z.number().nullable(),
  ci: z.tuple([z.number().nullable(), z.number().nullable()])
})

/** What python/polyquant/models/structure.py found in the model a quantizing step ran on. */
export const ArchitectureRecord = z.strictObject({
  model_type: z.string(),
  blocks: z.string().describe("the module list of decoder blocks, e.g. model.layers"),
  layers: z.number().int(),
  linears_per_block: z.number().int(),
  linears: z.number().int().describe("block linears in all (fused projections count once)"),
  conv1d: z.boolean().describe("weights stored in × out (GPT-2's Conv1D)"),
  attn_out: z.string().nullable().describe("block-relative attention output projection (head ablation)")
})

/** AWQ's scale groups as derived from the model and verified (python/polyquant/quant/awq_groups.py). */
export const AwqSearchRecord = z.strictObject({
  groups: z.array(
    z.strictObject({
      prev: z.string().describe("the norm or linear that absorbs 1/s"),
      linears: z.array(z.string()),
      fold: z.enum(["divide", "one_plus"]).describe("a norm's weight w/s, or (1 + w)/s − 1"),
      alpha: z.number()
    })
  ),
  unscaled: z.array(z.string()).describe("linears left without a scale, each with the reason"),
  fold_logit_change: z.number().describe("max |Δ logit| / max |logit| with every scale folded and nothing quantized")
})
