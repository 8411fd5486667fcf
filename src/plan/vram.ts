/**
 * How big a model is, without loading it: parameters from the ModelSpec (`params_b`), else from a
 * local config.json (fixtures in $POLYQUANT_CACHE/fixtures/<name>/, or a local directory), else a
 * small table of well-known hub models. Weights need parameters × dtype bytes of memory. The same
 * config gives the layer count and linear in_features that the loader checks `protect` layers and
 * `group_size` against, and the sizes (hidden, ffn, vocabulary, heads, positions) from which
 * memory.ts estimates a step's peak memory.
 */
import { readFileSync } from "node:fs"
import { dirname } from "node:path"
import { describeArchitecture, readArchitecture, type Architecture } from "./architecture.js"
import { isDirectory, isLocalModelId, localConfigPath, localModelDir } from "../model/facts.js"

/** Parameter counts (billions) of hub models named in the seed and their neighbours. */
export const KNOWN_PARAMS_B: ReadonlyArray<readonly [RegExp, number]> = [
  [/llama-2-7b/i, 6.74],
  [/llama-2-13b/i, 13.02],
  [/llama-2-70b/i, 68.98],
  [/meta-llama-3(\.1)?-8b|llama-3(\.1)?-8b/i, 8.03],
  [/mistral-7b/i, 7.24],
  [/qwen-7b/i, 7.72],
  [/qwen2(\.5)?-7b/i, 7.62],
  [/qwen2(\.5)?-0\.5b/i, 0.49],
  [/tinyllama-1\.1b/i, 1.1],
  [/gpt2-xl$/i, 1.558],
  [/gpt2-large$/i, 0.774],
  [/gpt2-medium$/i, 0.355],
  [/(^|\/)gpt2$/i, 0.124]
]

/** What `plan` knows of a well-known hub model before it is downloaded (its config.json's figures). */
export interface KnownGeometry {
  readonly family: "llama" | "gpt2"
  readonly layers: number
  readonly inFeatures: ReadonlyArray<number>
  readonly hidden: number
  /** the MLP's inner size (Qwen-7B's config says 22016 for its two halves: 11008 each) */
  readonly intermediate: number
  readonly vocab: number
  readonly heads: number
  readonly kvHeads: number
  readonly headDim: number
  readonly maxPositions: number
  readonly tied: boolean
}

const llama = (layers: number, hidden: number, intermediate: number, vocab: number, heads: number, kvHeads: number, maxPositions: number, tied = false): KnownGeometry => ({
  family: "llama",
  layers,
  inFeatures: [hidden, intermediate],
  hidden,
  intermediate,
  vocab,
  heads,
  kvHeads,
  headDim: hidden / heads,
  maxPositions,
  tied
})
const gpt2 = (layers: number, hidden: number, heads: number): KnownGeometry => ({
  family: "gpt2",
  layers,
  inFeatures: [hidden, 4 * hidden],
  hidden,
  intermediate: 4 * hidden,
  vocab: 50257,
  heads,
  kvHeads: heads,
  headDim: hidden / heads,
  maxPositions: 1024,
  tied: true
})

/**
 * Layer counts, the in_features of the block linears and the sizes `plan`'s memory estimate needs
 * (src/plan/memory.ts) of the same hub models, from their config.json (hidden size, intermediate
 * size, vocabulary, attention and key/value heads, max positions; Qwen-7B's MLP halves its 22016),
 * so that a group size or a protected layer is checked before a download: group_size 48 does not
 * divide Llama-2-7B's 4096 and 11008.
 */
export const KNOWN_GEOMETRY: ReadonlyArray<readonly [RegExp, KnownGeometry]> = [
  [/llama-2-7b/i, llama(32, 4096, 11008, 32000, 32, 32, 4096)],
  [/llama-2-13b/i, llama(40, 5120, 13824, 32000, 40, 40, 4096)],
  [/llama-2-70b/i, llama(80, 8192, 28672, 32000, 64, 8, 4096)],
  [/meta-llama-3(\.1)?-8b|llama-3(\.1)?-8b/i, llama(32, 4096, 14336, 128256, 32, 8, 8192)],
  [/mistral-7b/i, llama(32, 4096, 14336, 32000, 32, 8, 32768)],
  [/qwen-7b/i, llama(32, 4096, 11008, 151936, 32, 32, 8192)],
  [/qwen2(\.5)?-7b/i, llama(28, 3584, 18944, 152064, 28, 4, 32768)],
  [/qwen2(\.5)?-0\.5b/i, llama(24, 896, 4864, 151936, 14, 2, 32768, true)],
  [/tinyllama-1\.1b/i, llama(22, 2048, 5632, 32000, 32, 4, 2048)],
  [/gpt2-xl$/i, gpt2(48, 1600, 25)],
  [/gpt2-large$/i, gpt2(36, 1280, 20)],
  [/gpt2-medium$/i, gpt2(24, 1024, 16)],
  [/(^|\/)gpt2$/i, gpt2(12, 768, 12)]
]

export const DTYPE_BYTES: Readonly<Record<string, number>> = { float32: 4, float16: 2, bfloat16: 2 }

/** `auto` is float32 on a CPU and float16 on a GPU (ModelSpec.dtype). */
export const dtypeFor = (dtype: string | undefined, gpu: boolean): string => (dtype === undefined || dtype === "auto" ? (gpu ? "float16" : "float32") : dtype)

/** A Hugging Face config.json, as far as sizes go. */
export interface ModelGeometry {
  readonly family: "llama" | "gpt2" | "other"
  readonly layers?: number
  readonly hidden?: number
  readonly intermediate?: number
  /** in_features of the block linears (what a quantization group must divide) */
  readonly inFeatures: ReadonlyArray<number>
  readonly params?: number
  readonly vocab?: number
  readonly heads?: number
  readonly kvHeads?: number
  readonly headDim?: number
  /** the context length the config names (max_position_embeddings / n_positions) */
  readonly maxPositions?: number
  /** lm_head shares the token embedding */
  readonly tied?: boolean
}

const num = (c: Record<string, unknown>, ...keys: string[]): number | undefined => {
  for (const k of keys) if (typeof c[k] === "number") return c[k] as number
  return undefined
}

/** Sizes from a config.json: Llama-like (Llama, Mistral, Qwen2) and GPT-2 are counted exactly. */
export const geometryOf = (config: Record<string, unknown>): ModelGeometry => {
  const type = String(config["model_type"] ?? "")
  const vocab = num(config, "vocab_size") ?? 0
  if (type === "gpt2") {
    const h = num(config, "n_embd", "hidden_size") ?? 0
    const L = num(config, "n_layer", "num_hidden_layers") ?? 0
    const inner = num(config, "n_inner") ?? 4 * h
    const positions = num(config, "n_positions", "max_position_embeddings") ?? 0
    // per block: ln_1, ln_2 (2h each); c_attn (h×3h + 3h); attn c_proj (h×h + h); c_fc (h×inner + inner); mlp c_proj (inner×h + h)
    const block = 4 * h + (3 * h * h + 3 * h) + (h * h + h) + (h * inner + inner) + (inner * h + h)
    const params = vocab * h + positions * h + L * block + 2 * h // lm_head tied to wte
    const heads = num(config, "n_head", "num_attention_heads")
    return {
      family: "gpt2",
      layers: L,
      hidden: h,
      intermediate: inner,
      inFeatures: [h, inner],
      params,
      ...(vocab > 0 ? { vocab } : {}),
      ...(heads !== undefined ? { heads, kvHeads: heads, headDim: h / heads } : {}),
      ...(positions > 0 ? { maxPositions: positions } : {}),
      tied: true
    }
  }
  const h = num(config, "hidden_size")
  const L = num(config, "num_hidden_layers")
  const ffn = num(config, "intermediate_size")
  if (h === undefined || L === undefined || ffn === undefined) {
    return { family: "other", ...(L !== undefined ? { layers: L } : {}), inFeatures: [] }
  }
  const heads = num(config, "num_attention_heads") ?? 1
  const kvHeads = num(config, "num_key_value_heads") ?? heads
  const headDim = num(config, "head_dim") ?? h / heads
  const kv = kvHeads * headDim
  const qDim = heads * headDim
  const bias = config["attention_bias"] === true || type === "qwen2" ? qDim + 2 * kv : 0
  // per block: q (h×qDim), k, v (h×kv), o (qDim×h), gate, up (h×ffn), down (ffn×h), two RMSNorms (h)
  const block = h * qDim + 2 * h * kv + qDim * h + bias + 3 * h * ffn + 2 * h
  const tied = config["tie_word_embeddings"] === true
  const params = vocab * h * (tied ? 1 : 2) + L * block + h
  const positions = num(config, "max_position_embeddings", "n_positions", "n_ctx", "seq_length")
  return {
    family: "llama",
    layers: L,
    hidden: h,
    intermediate: ffn,
    inFeatures: [...new Set([h, qDim, ffn])],
    params,
    ...(vocab > 0 ? { vocab } : {}),
    heads,
    kvHeads,
    headDim,
    ...(positions !== undefined ? { maxPositions: positions } : {}),
    tied
  }
}


/** The architecture of a local model's weights (architecture.ts), when it has safetensors files. */
export const localArchitecture = (modelId: string, baseDir: string, env: NodeJS.ProcessEnv = process.env): Architecture | undefined => {
  const path = localConfigPath(modelId, baseDir, env)
  if (path === undefined) return undefined
  try {
    return readArchitecture(dirname(path))
  } catch {
    return undefined
  }
}

/**
 * Sizes of a local model: from its safetensors headers when it has them (exact for every
 * architecture: layers, in_features, parameters), else estimated from config.json.
 */
export const readGeometry = (modelId: string, baseDir: string, env: NodeJS.ProcessEnv = process.env): ModelGeometry | undefined => {
  const path = localConfigPath(modelId, baseDir, env)
  if (path === undefined) {
    const known = isLocalModelId(modelId) ? undefined : KNOWN_GEOMETRY.find(([pattern]) => pattern.test(modelId))?.[1]
    // no params here: a hub model's count comes from KNOWN_PARAMS_B (modelParams), labelled "table"
    return known ? { ...known } : undefined
  }
  let fromConfig: ModelGeometry | undefined
  try {
    fromConfig = geometryOf(JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>)
  } catch {
    fromConfig = undefined
  }
  const arch = localArchitecture(modelId, baseDir, env)
  if (arch === undefined || arch.blocks === undefined) return fromConfig
  return { family: fromConfig?.family ?? "other", ...fromConfig, layers: arch.layers, inFeatures: arch.inFeatures, params: arch.params }
}

/** Parameters in billions and where the number came from. */
export const modelParams = (
  spec: { readonly id: string; readonly params_b?: number | undefined },
  baseDir: string,
  env: NodeJS.ProcessEnv = process.env
): { paramsB: number; source: "spec" | "config" | "table" } | undefined => {
  if (spec.params_b !== undefined) return { paramsB: spec.params_b, source: "spec" }
  const geometry = readGeometry(spec.id, baseDir, env)
  if (geometry?.params !== undefined) return { paramsB: geometry.params / 1e9, source: "config" }
  const known = KNOWN_PARAMS_B.find(([pattern]) => pattern.test(spec.id))
  return known ? { paramsB: known[1], source: "table" } : undefined
}

/** Bytes of weights in GB (10⁹ bytes): parameters × dtype bytes. */
export const weightsGb = (paramsB: number, dtypeBytes: number): number => paramsB * dtypeBytes

/** What `validate` and `plan` say about a model before anything runs. */
export const describeModel = (modelId: string, baseDir: string, env: NodeJS.ProcessEnv = process.env): string => {
  const arch = localArchitecture(modelId, baseDir, env)
  if (arch !== undefined) return describeArchitecture(modelId, arch)
  if (localConfigPath(modelId, baseDir, env) !== undefined) return `${modelId}: local, no safetensors weights to read before loading; its blocks are found when it loads`
  const dir = localModelDir(modelId, baseDir, env)
  if (dir !== undefined && isDirectory(dir)) return `${modelId}: local folder without config.json (a tokenizer, or a GGUF file: its structure is found when it loads)`
  const known = KNOWN_PARAMS_B.find(([pattern]) => pattern.test(modelId))
  return `${modelId}: hub id, not on this machine; its blocks and linears are found when it loads${known ? ` (${known[1]}B parameters from the table of known models)` : ""}`
}
