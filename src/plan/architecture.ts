/**
 * What a local model folder holds, read from its safetensors headers without loading a weight:
 * the decoder blocks (the `<prefix>.<i>.` numbering with the most blocks), each block's linears
 * (two-dimensional `.weight` tensors), their in_features, and the exact parameter count. The same
 * rule as python/polyquant/models/structure.py, which decides at run time; this answers
 * `validate` and `plan` before any Python starts, for any architecture.
 *
 * GPT-2-style Conv1D stores weights in × out. It is told apart from nn.Linear by its bias: a bias
 * as long as the weight's second dimension (and not its first) is a Conv1D's.
 *
 * safetensors layout (huggingface/safetensors, docs "Format"): 8 bytes little-endian header length
 * N, then N bytes of JSON mapping tensor names to {dtype, shape, data_offsets}, plus
 * `__metadata__`. A sharded folder lists its files in `model.safetensors.index.json`.
 */
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync } from "node:fs"
import { join } from "node:path"

export interface Architecture {
  readonly modelType: string
  /** e.g. "model.layers"; undefined when no numbered blocks with linears were found */
  readonly blocks?: string
  readonly layers: number
  /** block-relative names of block 0's linears */
  readonly linears: ReadonlyArray<string>
  /** distinct in_features of the block linears (what a group size must divide) */
  readonly inFeatures: ReadonlyArray<number>
  readonly conv1d: boolean
  readonly params: number
  /** full names of the modules with a 2-D weight (linears, embeddings, lm_head): what `protect.modules` and `overrides[].modules` match */
  readonly modules: ReadonlyArray<string>
}

const MAX_HEADER_BYTES = 100 * 1024 * 1024 // a header this large is not a safetensors file we can trust

type Header = Record<string, { readonly shape?: ReadonlyArray<number> }>

const readHeader = (path: string): Header => {
  const fd = openSync(path, "r")
  try {
    const lenBuf = Buffer.alloc(8)
    if (readSync(fd, lenBuf, 0, 8, 0) !== 8) throw new Error(`${path}: shorter than a safetensors header`)
    const n = Number(lenBuf.readBigUInt64LE(0))
    if (n <= 0 || n > MAX_HEADER_BYTES) throw new Error(`${path}: safetensors header length ${n} is not plausible`)
    const buf = Buffer.alloc(n)
    if (readSync(fd, buf, 0, n, 8) !== n) throw new Error(`${path}: truncated safetensors header`)
    return JSON.parse(buf.toString("utf8")) as Header
  } finally {
    closeSync(fd)
  }
}

/** The safetensors files of a folder: the index's when there is one, else every *.safetensors. */
export const safetensorsFiles = (dir: string): string[] => {
  const index = join(dir, "model.safetensors.index.json")
  if (existsSync(index)) {
    const map = (JSON.parse(readFileSync(index, "utf8")) as { weight_map?: Record<string, string> }).weight_map ?? {}
    return [...new Set(Object.values(map))].sort().map((f) => join(dir, f))
  }
  return readdirSync(dir).filter((f) => f.endsWith(".safetensors")).sort().map((f) => join(dir, f))
}

const BLOCK_NAME = /^(.+?)\.(\d+)\.(.+)$/

/** The architecture of a folder's weights; undefined when it has no safetensors files. */
export const readArchitecture = (dir: string): Architecture | undefined => {
  const files = safetensorsFiles(dir)
  if (files.length === 0) return undefined
  const shapes = new Map<string, ReadonlyArray<number>>()
  for (const f of files) {
    for (const [name, info] of Object.entries(readHeader(f))) if (name !== "__metadata__" && Array.isArray(info.shape)) shapes.set(name, info.shape)
  }
  let modelType = "unknown"
  let configLayers: number | undefined
  try {
    const config = JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as Record<string, unknown>
    modelType = String(config["model_type"] ?? "unknown")
    const text = (config["text_config"] as Record<string, unknown> | undefined) ?? config
    for (const k of ["num_hidden_layers", "n_layer", "num_layers", "n_layers"]) if (typeof text[k] === "number") configLayers ??= text[k] as number
  } catch {
    // no readable config.json: the weights alone still tell the structure
  }
  const params = [...shapes.values()].reduce((sum, s) => sum + s.reduce((a, b) => a * b, 1), 0)
  const modules = [...shapes].filter(([name, shape]) => name.endsWith(".weight") && shape.length === 2).map(([name]) => name.slice(0, -".weight".length))
  // blocks: prefix → indices that hold a 2-D weight
  const byPrefix = new Map<string, Set<number>>()
  for (const [name, shape] of shapes) {
    const m = BLOCK_NAME.exec(name)
    if (m && shape.length === 2 && name.endsWith(".weight")) {
      const set = byPrefix.get(m[1]!) ?? new Set<number>()
      set.add(Number(m[2]))
      byPrefix.set(m[1]!, set)
    }
  }
  const ranked = [...byPrefix.entries()].sort((a, b) => Number(b[1].size === configLayers) - Number(a[1].size === configLayers) || b[1].size - a[1].size)
  const best = ranked[0]
  if (best === undefined) return { modelType, layers: 0, linears: [], inFeatures: [], conv1d: false, params, modules }
  const [prefix, indices] = best
  const linears: string[] = []
  const inFeatures = new Set<number>()
  let conv1d = false
  for (const [name, shape] of shapes) {
    if (!name.startsWith(`${prefix}.0.`) || !name.endsWith(".weight") || shape.length !== 2) continue
    const rel = name.slice(prefix.length + 3, -".weight".length)
    const bias = shapes.get(`${prefix}.0.${rel}.bias`)
    const transposed = bias !== undefined && bias[0] === shape[1] && shape[0] !== shape[1]
    conv1d ||= transposed
    linears.push(rel)
    inFeatures.add(transposed ? shape[0]! : shape[1]!)
  }
  return { modelType, blocks: prefix, layers: indices.size, linears, inFeatures: [...inFeatures].sort((a, b) => a - b), conv1d, params, modules }
}

/** One line for validate and plan: what was found and which methods apply. */
export const describeArchitecture = (model: string, a: Architecture): string =>
  a.blocks === undefined
    ? `${model}: ${a.modelType}, no decoder blocks found in its weights (no numbered ${"`<prefix>.<i>.<name>.weight`"} matrices): perplexity, tokenizer-stats and task-eval run; quantization kernels cannot`
    : `${model}: ${a.modelType}, ${a.layers} blocks (${a.blocks}), ${a.linears.length} linears per block (${a.layers * a.linears.length} in all${a.conv1d ? ", Conv1D" : ""}), ` +
      `${formatParams(a.params)} parameters; rtn, gptq, awq and gguf apply (AWQ's scale groups are derived and verified when the step runs)`

const formatParams = (n: number): string => (n >= 1e9 ? `${(n / 1e9).toFixed(2)}B` : n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : `${(n / 1e3).toFixed(1)}K`)
