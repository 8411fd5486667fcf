/**
 * The peak memory of one step on the device that holds its model, before anything runs: what
 * `polyquant plan` compares with the platform's memory. One job, one place; plan.ts calls
 * `estimateMemory` from `resourcesOf` and print.ts prints the result.
 *
 * A step runs in phases (a forward pass, the logits, a quantization pass, a backward pass…), and
 * each phase holds the weights plus its own transients. The estimate lists every phase as parts
 * in bytes and takes the largest phase: its parts sum to the peak. Each term names the Python code
 * it models. What is counted is what `torch.cuda.max_memory_allocated` sees: tensors, including
 * the cuBLAS workspace that PyTorch allocates through its caching allocator (32 MiB a handle on
 * Hopper and Blackwell, 8.1 MiB before). The CUDA context (driver, kernels) is not in that count
 * but occupies the device: it is added as a margin for the verdict only (`marginGb`).
 *
 * Not modelled (said in the README): the caching allocator's fragmentation; models that an
 * earlier step left resident in the same worker (models/resident.py keeps them); a corpus's actual
 * window lengths (the estimate is for full windows of the protocol's context: rolling windows end
 * with their document, so short documents need less); host memory on a GPU platform (codes,
 * originals and KL distributions live on the CPU there).
 */
import type { MemoryPart, PlannedProtocol } from "./types.js"
import type { ModelGeometry } from "./vram.js"

const GB = 1e9
const MiB = 2 ** 20

/** python/polyquant/eval/perplexity.py: FALLBACK_CONTEXT, MIN_MEMORY_CONTEXT, NLL_CHUNK_ELEMENTS */
const FALLBACK_CONTEXT = 2048
const MIN_MEMORY_CONTEXT = 256
const NLL_CHUNK_ELEMENTS = 2 ** 26
const KL_CHUNK_ELEMENTS = 2 ** 24 // eval/compare.py KL_CHUNK_ELEMENTS
/** python/polyquant/eval/window_memory.py: NLL_CHUNK_BYTES, CUDA_SHARE, CPU_SHARE */
const WINDOW_NLL_CHUNK_BYTES = 2 * 4 * 2 ** 26
const CUDA_SHARE = 0.9
const CPU_SHARE = 0.8
/** quant/gptq_model.py GptqConfig.batch_size, quant/awq.py AwqConfig.batch_size: calibration sequences per forward */
const CALIBRATION_BATCH = 8
/** quant/calibration.py CalibrationConfig defaults */
const CALIBRATION_SAMPLES = 128
const CALIBRATION_SEQ_LEN = 512
/** quant/awq.py CLIP_TOKENS, OUT_CHUNK */
const CLIP_TOKENS = 512
const CLIP_OUT_CHUNK = 256
/**
 * A task-eval prompt is cut at the model's positions (eval/tasks.py `_max_len`); its real length
 * depends on the benchmark and shots, unknown here: assumed at most lm-eval's default max length.
 */
const PROMPT_TOKENS = 2048
/**
 * The CUDA context: driver state and loaded kernels, outside the caching allocator, so outside
 * max_memory_allocated (≈ 0.3–0.6 GB with CUDA's lazy module loading; this takes the upper end).
 */
export const CUDA_CONTEXT_GB = 0.5

/**
 * PyTorch's default cuBLAS workspace per handle (aten/src/ATen/cuda/CublasHandlePool.cpp,
 * `parseChosenWorkspaceSize`): ":4096:8" = 32 MiB on compute capability 9.x, 10.x and 12.x
 * (Hopper, Blackwell), ":4096:2:16:8" = 8.125 MiB on older GPUs. Told from the platform's GPU name.
 */
export const cublasWorkspaceBytes = (gpu: string): number =>
  /\b(H100|H200|H800|H20|GH200|B100|B200|GB200|B300|RTX\s*50\d\d|RTX PRO 6000)\b/i.test(gpu) ? 4096 * 8 * 1024 : 4096 * 1024 * 2 + 16 * 1024 * 8

export type { MemoryPart }
type MemoryProtocol = PlannedProtocol

export interface MemoryEstimate {
  /** peak: the step's phases were modelled; weights: no model of this kernel, or no geometry; none: no weights loaded */
  readonly basis: "peak" | "weights" | "none"
  readonly peakGb: number
  /** the phase at the peak (basis peak) */
  readonly peakPhase?: string
  /** the peak phase's parts, summing to peakGb */
  readonly parts: ReadonlyArray<MemoryPart>
  /** every phase's total, largest first */
  readonly phases: ReadonlyArray<{ readonly name: string; readonly gb: number }>
  /** outside the allocator's count, added for the verdict only: the CUDA context (GPU platforms) */
  readonly marginGb: number
  readonly protocol?: MemoryProtocol
  /** why the estimate is weights only, or what it assumed */
  readonly note?: string
}

export interface MemoryInput {
  readonly kernel: string
  /** the step's parsed `with` (kernel defaults applied) */
  readonly with: Record<string, unknown>
  readonly geometry: ModelGeometry | undefined
  readonly paramsB: number | undefined
  readonly dtype: string
  readonly dtypeBytes: number
  /** the platform's GPU name ("cpu" for none) and memory in GB, when known */
  readonly gpu: string
  readonly memoryGb?: number
  /** disparity's `variant.model`: a second resident model */
  readonly variant?: { readonly paramsB: number | undefined; readonly dtypeBytes: number }
}

// --- the model's shapes --------------------------------------------------------------------------

interface Linear {
  readonly name: string
  readonly inF: number
  readonly outF: number
}

/** The sizes every term needs; absent when the geometry does not give them. */
interface Shape {
  readonly family: "llama" | "gpt2"
  readonly L: number
  readonly H: number
  readonly F: number
  readonly V: number
  readonly nh: number
  readonly nkv: number
  readonly hd: number
  readonly qDim: number
  readonly kvDim: number
  /** max positions (config), or FALLBACK_CONTEXT */
  readonly P: number
  readonly positionsKnown: boolean
  /** one block's linears (models/structure.py block_linears) */
  readonly linears: ReadonlyArray<Linear>
  /** elements of one block's linears */
  readonly blockLinear: number
  /** elements of the largest block linear */
  readonly largest: number
}

const shapeOf = (g: ModelGeometry | undefined): Shape | undefined => {
  if (g === undefined || g.family === "other") return undefined
  const { layers: L, hidden: H, intermediate: F, vocab: V, heads: nh } = g
  if (L === undefined || H === undefined || F === undefined || V === undefined || nh === undefined) return undefined
  const nkv = g.kvHeads ?? nh
  const hd = g.headDim ?? H / nh
  const qDim = nh * hd
  const kvDim = nkv * hd
  const linears: Linear[] =
    g.family === "gpt2"
      ? [
          { name: "attn.c_attn", inF: H, outF: 3 * H },
          { name: "attn.c_proj", inF: H, outF: H },
          { name: "mlp.c_fc", inF: H, outF: F },
          { name: "mlp.c_proj", inF: F, outF: H }
        ]
      : [
          { name: "self_attn.q_proj", inF: H, outF: qDim },
          { name: "self_attn.k_proj", inF: H, outF: kvDim },
          { name: "self_attn.v_proj", inF: H, outF: kvDim },
          { name: "self_attn.o_proj", inF: qDim, outF: H },
          { name: "mlp.gate_proj", inF: H, outF: F },
          { name: "mlp.up_proj", inF: H, outF: F },
          { name: "mlp.down_proj", inF: F, outF: H }
        ]
  const sizes = linears.map((l) => l.inF * l.outF)
  return {
    family: g.family,
    L,
    H,
    F,
    V,
    nh,
    nkv,
    hd,
    qDim,
    kvDim,
    P: g.maxPositions ?? FALLBACK_CONTEXT,
    positionsKnown: g.maxPositions !== undefined,
    linears,
    blockLinear: sizes.reduce((a, b) => a + b, 0),
    largest: Math.max(...sizes)
  }
}

// --- small readers of `with` ---------------------------------------------------------------------

const isMap = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v)
const at = (obj: unknown, dotted: string): unknown => dotted.split(".").reduce<unknown>((v, k) => (isMap(v) ? v[k] : undefined), obj)
const numAt = (obj: unknown, dotted: string, fallback: number): number => {
  const v = at(obj, dotted)
  return typeof v === "number" ? v : fallback
}
const intAt = (obj: unknown, dotted: string): number | undefined => {
  const v = at(obj, dotted)
  return typeof v === "number" ? v : undefined
}

interface Quant {
  readonly method: "rtn" | "gptq" | "awq" | "gguf"
  readonly bits: number
  readonly groupSize: number
  readonly embeddings: boolean
  readonly lmHead: boolean
  readonly samples: number
  readonly seqLen: number
  readonly actOrder: boolean
  readonly awqLoss: "module" | "block"
  readonly awqClip: boolean
}

const quantOf = (w: unknown): Quant => {
  const method = at(w, "method")
  return {
    method: method === "gptq" || method === "awq" || method === "gguf" ? method : "rtn",
    bits: numAt(w, "bits", 4),
    groupSize: numAt(w, "group_size", 128),
    embeddings: at(w, "include_embeddings") === true,
    lmHead: at(w, "include_lm_head") === true,
    samples: numAt(w, "calibration.samples", CALIBRATION_SAMPLES),
    seqLen: numAt(w, "calibration.seq_len", CALIBRATION_SEQ_LEN),
    actOrder: at(w, "gptq.act_order") === true,
    awqLoss: at(w, "awq.loss") === "block" ? "block" : "module",
    awqClip: at(w, "awq.clip") !== false
  }
}

// --- phases ------------------------------------------------------------------------------------

/** A part in bytes while the phases are built. */
interface Bytes {
  readonly name: string
  readonly bytes: number
  readonly detail?: string
}

interface Ctx {
  readonly s: Shape
  /** the model's dtype bytes */
  readonly d: number
  readonly onGpu: boolean
  readonly weights: Bytes
  readonly cublas: ReadonlyArray<Bytes>
}

const part = (name: string, bytes: number, detail?: string): Bytes => ({ name, bytes, ...(detail !== undefined ? { detail } : {}) })
const f = (n: number): string => n.toLocaleString("en-US")

/**
 * One forward pass under no_grad at batch B × T tokens, one block's transients at a time
 * (transformers' LlamaDecoderLayer / GPT2Block):
 * - Llama's MLP `down(act(gate(x)) * up(x))` holds act(gate), up and their product: 3 × ffn per
 *   token; GPT-2's gelu_new (0.5·x·(1 + tanh(…))) holds c_fc's output and three of its temporaries: 4 × n_inner;
 * - attention under SDPA (transformers' default here): no T × T scores; Llama holds the rotated
 *   queries and keys, the values, keys and values repeated to every query head (GQA, done when a
 *   mask is passed) and the output, (4 · heads + 2 · kv heads) × head_dim per token; GPT-2 c_attn's
 *   3 × hidden, the output and its merged copy;
 * - 4 hidden-size tensors live across the block (the embeddings LlamaModel keeps, the block's
 *   input, the residual after attention, the normed input of the MLP): window_memory.py's count;
 * - a padded batch (eval/perplexity.py iterate_batches passes attention_mask) gets a 4-D mask
 *   B × T × T as booleans and, inside SDPA's memory-efficient kernel, in the dtype; on a CPU the math
 *   backend materialises the scores and their softmax, heads × T × T float32 each;
 * - without use_cache=False (analysis/windows.py batch_nll, eval/tasks.py, analysis/importance.py)
 *   the model keeps every layer's keys and values: 2 × layers × T × kv heads × head_dim.
 */
const forward = (c: Ctx, B: number, T: number, o: { readonly mask: boolean; readonly cache: boolean }): Bytes[] => {
  const { s, d } = c
  const mlp = s.family === "gpt2" ? 4 * s.F : 3 * s.F
  const attn = s.family === "gpt2" ? 5 * s.H : (4 * s.nh + 2 * s.nkv) * s.hd
  const out = [part("activations", B * T * d * (Math.max(mlp, attn) + 4 * s.H), `batch ${B} × ${T}`)]
  if (o.mask) {
    out.push(
      c.onGpu
        ? part("attention mask", B * T * T * (1 + d), "padded batch: B × T × T bool and its dtype copy in SDPA")
        : part("attention scores", 2 * B * s.nh * T * T * 4, "CPU math SDPA on a padded batch: scores and softmax in float32")
    )
  }
  if (o.cache) out.push(part("KV cache", 2 * s.L * B * T * s.kvDim * d, "the forward keeps every layer's keys and values (no use_cache=False)"))
  return out
}

/** eval/perplexity.py token_nll: float32 rows of ≤ NLL_CHUNK_ELEMENTS logits; its .float() copy (not in float32), z − m and exp(z − m) live at once. */
const nllChunk = (c: Ctx, B: number, T: number): Bytes => {
  const rows = Math.min(B * T, Math.max(1, Math.floor(NLL_CHUNK_ELEMENTS / c.s.V)))
  const copies = c.d === 4 ? 2 : 3
  return part("NLL chunk", copies * 4 * rows * c.s.V + 8 * B * T, `token_nll: ${copies} float32 copies of ${f(rows)} rows × vocab`)
}

const logits = (c: Ctx, B: number, T: number, name = "logits"): Bytes => part(name, B * T * c.s.V * c.d, `${B} × ${T} × vocab ${f(c.s.V)} (every position)`)

/** log_softmax(logits[mask].float()) of n scored rows: the masked copy, its float32 copy (not in float32) and the result (eval/compare.py). */
const logSoftmaxRows = (c: Ctx, n: number, name: string, detail: string): Bytes =>
  part(name, n * c.s.V * (c.d + (c.d === 4 ? 0 : 4) + 4), detail)

/** analysis/windows.py batch_nll: log_softmax(logits[:, :-1].float()) — the float32 copy (not in float32) and the result. */
const batchLogSoftmax = (c: Ctx, B: number, T: number): Bytes =>
  part("log-softmax", B * Math.max(1, T - 1) * c.s.V * ((c.d === 4 ? 0 : 4) + 4), "batch_nll: float32 log-probabilities")

/**
 * RTN of one weight of n elements (quant/grid.py quantize_weight, QuantizedWeight.dequantize,
 * quant/rtn.py relative_error), the largest of its three moments:
 * - codes: W.float() (a copy unless float32; GPT-2's transposed Conv1D weight is copied again by
 *   reshape), x / s rounded in place (4n), its uint8 codes (n);
 * - dequantize: codes (n), their float (4n), the dtype copy (unless float32);
 * - error: codes, Ŵ, then W and Ŵ in float32 (copies unless float32) and W − Ŵ (4n), except
 *   where the coded path (layer sweep) subtracts in Ŵ's own float32 storage.
 */
const rtnBytes = (c: Ctx, n: number, coded: boolean): number => {
  const copy32 = c.d === 4 ? 0 : 4
  const transposed = c.s.family === "gpt2" ? 4 : 0
  const codes = (copy32 + transposed + 4 + 1) * n
  const deq = (1 + 4 + (c.d === 4 ? 0 : c.d)) * n
  const err = coded && transposed === 0 ? (1 + c.d + 2 * copy32) * n : (1 + c.d + 2 * copy32 + 4) * n
  return Math.max(codes, deq, err)
}

interface Targets {
  /** the largest target weight, elements */
  readonly largest: number
  /** all targets, elements */
  readonly total: number
  readonly label: string
}

/** quant/plan.py targets: every block linear, plus the embedding and lm_head when the quant config includes them (protection ignored: an upper bound). */
const targetsOf = (s: Shape, q: Quant): Targets => {
  const head = s.V * s.H
  const extra = (q.embeddings ? head : 0) + (q.lmHead ? head : 0)
  return {
    largest: Math.max(s.largest, q.embeddings || q.lmHead ? head : 0),
    total: s.L * s.blockLinear + extra,
    label: `the largest target, ${f(Math.max(s.largest, extra > 0 ? head : 0))} weights`
  }
}

/** Calibration hidden states: samples × seq_len × hidden in the dtype (quant/calibration.py capture_block_inputs). */
const calibrationHidden = (c: Ctx, q: Quant): { bytes: number; S: number } => {
  const S = Math.min(q.seqLen, c.s.P)
  return { bytes: q.samples * S * c.s.H * c.d, S }
}

/**
 * A quantization pass over every target (quant/methods.py quantize_model), as phases.
 * coded: the layer sweep's and allocate's codes (quant/coded.py), kept on the CPU; otherwise the
 * float results are moved to the CPU one by one (disparity, quantize, task-eval, layer-importance).
 */
const quantPhases = (c: Ctx, q: Quant, coded: boolean): Array<[string, Bytes[]]> => {
  const { s, d } = c
  const t = targetsOf(s, q)
  if (q.method === "rtn" || q.method === "gguf") {
    const what = q.method === "gguf" ? "gguf (its blocks counted as RTN)" : "RTN"
    return [[`quantization (${what})`, [part("quantization transients", rtnBytes(c, t.largest, coded), `${what} of ${t.label} (quant/grid.py, rtn.py)`)]]]
  }
  const { bytes: hidden, S } = calibrationHidden(c, q)
  const cal = `${q.samples} × ${S} × hidden ${f(s.H)}`
  const phases: Array<[string, Bytes[]]> = [
    // capture_block_inputs: a forward of each calibration batch up to the last block, block 0's inputs kept
    [`${q.method.toUpperCase()}: calibration forward`, [part("calibration inputs", hidden, cal), ...forward(c, CALIBRATION_BATCH, S, { mask: false, cache: false })]]
  ]
  // every block: block 0's inputs (kept by BlockCalls), this block's inputs and the outputs run_block collects
  const threeHidden = part("calibration inputs", 3 * hidden, `${cal}: block 0's, this block's inputs and its outputs`)
  const block = forward(c, CALIBRATION_BATCH, S, { mask: false, cache: false })
  const previous = part("previous block's new weights", s.blockLinear * d, "gptq_model.py: `new` is rebound only after the next block is solved")
  if (q.method === "gptq") {
    // gptq.py Hessian: in² float32 per target linear, all of one block's at once; add_batch's float32 copy of the input and xᵀx
    const hessians = s.linears.reduce((a, l) => a + 4 * l.inF * l.inF, 0)
    const inMax = Math.max(...s.linears.map((l) => l.inF))
    const addBatch = (d === 4 ? 1 : 2) * 4 * CALIBRATION_BATCH * S * inMax + 4 * inMax * inMax
    phases.push([
      "GPTQ: a block's Hessians",
      [threeHidden, part("Hessians", hessians, `in_features² float32 for the ${s.linears.length} linears of one block`), part("Hessian update", addBatch, "add_batch: the batch's inputs in float32, xᵀx"), ...block, previous]
    ])
    // solving: the block's remaining Hessians, the new weights of those done, and one target's work:
    // gptq_codes (W and Q in float32, codes, H's clone, its Cholesky factor and the inverse's), then
    // GptqCodes.dequantize (codes, their float, zeros and scales gathered per column) and relative_error
    let worst = 0
    let worstName = ""
    s.linears.forEach((l, i) => {
      const n = l.inF * l.outF
      const remaining = s.linears.slice(i).reduce((a, m) => a + 4 * m.inF * m.inF, 0)
      const done = s.linears.slice(0, i).reduce((a, m) => a + d * m.inF * m.outF, 0)
      const solve = 9 * n + 12 * l.inF * l.inF + 4 * 4 * l.outF * 128
      const deq = 13 * n
      const err = (1 + d + (d === 4 ? 0 : 8) + 4) * n
      const total = remaining + done + Math.max(solve, deq, err)
      if (total > worst) {
        worst = total
        worstName = l.name
      }
    })
    phases.push([
      "GPTQ: solving a block",
      [part("calibration inputs", 2 * hidden, `${cal}: block 0's and this block's inputs`), part("Hessians and GPTQ work", worst, `at ${worstName}: the block's remaining Hessians, its new weights so far, Cholesky factors, W and Q in float32`), previous]
    ])
    if (q.lmHead) {
      phases.push([
        "GPTQ: lm_head",
        [part("calibration inputs", hidden, cal), ...forward(c, CALIBRATION_BATCH, S, { mask: false, cache: false }), logits(c, CALIBRATION_BATCH, S), part("Hessian", 4 * s.H * s.H, "lm_head's in_features² float32")]
      ])
    }
    return phases
  }
  // AWQ (quant/awq.py search_awq): block 0's inputs, this block's and its full-precision outputs (ref),
  // with loss "module" every inspected module's recorded inputs and outputs (_Calls: self_attn, o_proj,
  // mlp, down_proj: 6 × hidden + q dim + ffn per token), the group's original weights and the fake-quantized ones
  const inspect = q.awqLoss === "module" ? [part("inspected module calls", q.samples * S * d * (6 * s.H + s.qDim + s.F), "loss module: each inspected module's inputs and outputs (_Calls)")] : []
  const group = s.family === "gpt2" ? 3 * s.H * s.H : 2 * s.H * s.F
  phases.push([
    "AWQ: scale search",
    [threeHidden, ...inspect, part("scale-search weights", group * (d + 4) + 13 * s.largest, "a group's originals, its fake-quantized float32 weights, Q(W·s)/s's temporaries"), ...block]
  ])
  if (q.awqClip) {
    const widest = Math.max(s.H, s.F)
    const G = q.groupSize > 0 ? Math.max(1, Math.ceil(widest / q.groupSize)) : 1 // groups of the widest input
    phases.push([
      "AWQ: clip search",
      [threeHidden, ...inspect, part("block's scaled weights", s.blockLinear * d, "apply_awq: the block's folded linears"), part("clip search", 4 * CLIP_TOKENS * widest + 3 * 4 * CLIP_TOKENS * CLIP_OUT_CHUNK * G + 16 * CLIP_OUT_CHUNK * widest, "clip_search: 512 sampled tokens, per 256 output rows each group's outputs")]
    ])
  }
  // check_fold_invariance: logits of one batch with and without every scale folded (a copy of every
  // scaled parameter); then awq_weights clones every scaled or clipped linear on the model's device
  // (awq_groups.py fold_weights) and each target is quantized from it
  const scaled = part("scaled copy of the block linears", s.L * s.blockLinear * d, "awq_weights / fold_weights: every scaled or clipped linear cloned on the device")
  phases.push([
    "AWQ: fold check",
    [part("calibration inputs", hidden, cal), scaled, logits(c, CALIBRATION_BATCH, S), logits(c, CALIBRATION_BATCH, S, "folded logits"), ...forward(c, CALIBRATION_BATCH, S, { mask: false, cache: false })]
  ])
  phases.push(["AWQ: quantizing", [part("calibration inputs", hidden, cal), scaled, part("quantization transients", rtnBytes({ ...c, d: 4 }, t.largest, coded) + (d === 4 ? 0 : 4 + d) * t.largest, `RTN of the scaled ${t.label} in float32`)]])
  return phases
}

/**
 * A layer sweep's (and allocate's) per-configuration dequantization of one linear onto the device
 * (quant/coded.py CodedWeight.dequantize): its packed codes, scales and zeros moved there, the
 * unpacked uint8 codes (≤ 4 bits), the float32 result, its dtype copy (unless float32); GPTQ's
 * act_order gathers a scale and zero per column. The in-place path (quant/mixture.py) does this
 * between evaluations; its fallback (quant/swap.py, when no temporary file can be written) keeps
 * these work tensors through every forward. They are counted in the forward: an upper bound for both.
 */
const dequantWork = (c: Ctx, q: Quant, n: number): Bytes => {
  const g = q.groupSize > 0 ? q.groupSize : c.s.H
  const packed = q.bits <= 4 ? 0.5 * n : n
  const bytes = packed + (5 * n) / g + (q.bits <= 4 ? n : 0) + 4 * n + (c.d === 4 ? 0 : c.d * n) + (q.method === "gptq" && q.actOrder ? 5 * n : 0)
  return part("dequantization work", bytes, `CodedWeight.dequantize of ${f(n)} weights (kept through the forward by quant/swap.py)`)
}

// --- the run's protocol ------------------------------------------------------------------------------

/**
 * What eval/perplexity.py Protocol.resolve does with the requested batch and context: the model's
 * positions when no context is given, then halved while one window does not fit (not below 256),
 * then the batch halved until a batch fits, by window_memory.py's own estimate (dtype × (vocab +
 * 3 × ffn + 4 × hidden) a token, the NLL chunk, the scores on a CPU) against 0.9 of the free CUDA
 * memory after the model loaded (here: memory − weights − the CUDA context) or 0.8 of the RAM left.
 */
const resolveProtocol = (c: Ctx, w: unknown, memoryBytes: number | undefined, resident: number): MemoryProtocol => {
  const { s, d } = c
  const requestedBatch = numAt(w, "batch_size", 8)
  const given = intAt(w, "context_length")
  let context = given ?? s.P
  let contextFrom: MemoryProtocol["contextFrom"] = given !== undefined ? "given" : "model"
  let batch = requestedBatch
  if (memoryBytes !== undefined) {
    const available = c.onGpu ? (memoryBytes - resident - CUDA_CONTEXT_GB * GB) * CUDA_SHARE : (memoryBytes - resident) * CPU_SHARE
    // eval/window_memory.py WindowMemory.batch_bytes: the forward's transients (MLP, residual stream, CPU scores),
    // or the scoring (two logits and their float32 log-probs, the larger NLL / KL chunk), whichever is larger
    const windowBytes = (b: number, t: number): number =>
      Math.max(b * (t * d * (3 * s.F + 4 * s.H) + (c.onGpu ? 0 : 4 * s.nh * t * t)), b * t * (2 * d + 4) * s.V + Math.max(WINDOW_NLL_CHUNK_BYTES, 32 * KL_CHUNK_ELEMENTS))
    if (contextFrom === "model") {
      while (context > MIN_MEMORY_CONTEXT && windowBytes(1, context) > available) {
        context = Math.max(MIN_MEMORY_CONTEXT, Math.floor(context / 2))
        contextFrom = "memory"
      }
    }
    while (batch > 1 && windowBytes(batch, context) > available) batch = Math.floor(batch / 2)
  }
  return { batch, context, requestedBatch, contextFrom }
}

// --- kernels -----------------------------------------------------------------------------------------

type Phases = Array<[string, Bytes[]]>

/** A perplexity evaluation (eval/perplexity.py measure, eval/compare.py window_nll): the forward, then the logits and token_nll. */
const evaluation = (c: Ctx, B: number, T: number, extra: Bytes[] = [], label = "evaluation"): Phases => [
  [`${label}: forward`, [...forward(c, B, T, { mask: true, cache: false }), ...extra]],
  [`${label}: logits`, [logits(c, B, T), nllChunk(c, B, T), ...extra]]
]

/** analysis/windows.py window_nlls / batch_nll on equal-length windows (no mask, a KV cache kept). */
const windowsEvaluation = (c: Ctx, B: number, T: number, extra: Bytes[] = [], label = "evaluation"): Phases => [
  [`${label}: forward`, [...forward(c, B, T, { mask: false, cache: true }), ...extra]],
  [`${label}: logits`, [logits(c, B, T), batchLogSoftmax(c, B, T), ...extra]]
]

/** Host copies that count only where the model itself lives on the host (a CPU platform). */
const hostOnly = (c: Ctx, ...parts: Bytes[]): Bytes[] => (c.onGpu ? [] : parts)

const protocolKernels = new Set(["perplexity", "disparity", "layer-sweep", "allocate"])

interface Built {
  readonly phases: Phases
  readonly protocol?: MemoryProtocol
  readonly note?: string
}

const build = (input: MemoryInput, c: Ctx, memoryBytes: number | undefined): Built | undefined => {
  const { s, d } = c
  const w = input.with
  const linearsBytes = s.L * s.blockLinear * d
  switch (input.kernel) {
    case "perplexity": {
      const p = resolveProtocol(c, w["protocol"], memoryBytes, c.weights.bytes)
      return { phases: evaluation(c, p.batch, p.context), protocol: p }
    }
    case "disparity": {
      const q = quantOf(w["quant"])
      const variantModel = at(w, "variant.model")
      const p = resolveProtocol(c, w["protocol"], memoryBytes, c.weights.bytes)
      const n = p.batch * p.context // scored rows: every position of a full window (an upper bound)
      const B = p.batch
      const T = p.context
      const klMb = numAt(w, "kl.kl_memory_mb", 2048)
      // eval/compare.py record_baseline keeps the distributions on the CPU, ≤ kl_memory_mb
      const kept = hostOnly(c, part("baseline distributions", Math.min(klMb * MiB, n * s.V * 4), `≤ kl_memory_mb ${klMb} MiB, on the host`))
      const phases: Phases = [
        ...evaluation(c, B, T, [], "baseline pass"),
        ["baseline pass: log-probabilities", [logits(c, B, T), logSoftmaxRows(c, n, "log-probabilities", "log_softmax(logits[mask].float()): the masked copy, float32 copy, result")]]
      ]
      const other: Bytes[] = []
      if (isMap(variantModel)) {
        const vb = input.variant?.paramsB
        const bytes = (vb ?? input.paramsB ?? 0) * 1e9 * (input.variant?.dtypeBytes ?? d)
        other.push(part("variant weights", bytes, `${String(variantModel["id"])}${vb === undefined ? " (its size taken as the base model's)" : ""}: a second resident model, dequantized on load`))
      } else {
        // quantize_model (not coded) moves every float result to the CPU; apply_weights copies them in and keeps the originals on the CPU
        for (const [name, ps] of quantPhases(c, q, false)) phases.push([name, [...ps, ...kept]])
        other.push(...hostOnly(c, part("quantized weights", linearsBytes, "result.weights, on the host"), part("originals", linearsBytes, "apply_weights' snapshot, on the host")))
      }
      // compare(): in recompute mode (distributions above kl_memory_mb) the baseline's logits of the batch
      // are kept beside the quantized batch; the quantized rows' log-probabilities; _kl_full's float64
      // baseline rows, their exp, lq in float64 and the difference, per row chunk: 32 bytes × chunk rows × vocab
      const baseLogits = logits(c, B, T, "baseline logits")
      phases.push([`quantized pass: forward`, [...other, ...kept, baseLogits, ...forward(c, B, T, { mask: true, cache: false })]])
      phases.push([`quantized pass: logits`, [...other, ...kept, baseLogits, logits(c, B, T), nllChunk(c, B, T)]])
      phases.push([
        "quantized pass: KL",
        [
          ...other,
          ...kept,
          baseLogits,
          logits(c, B, T),
          part("quantized log-probabilities", n * s.V * 4, "log_softmax(logits[mask].float())"),
          part("KL float64 temporaries", 32 * Math.min(n, Math.max(1, Math.floor(KL_CHUNK_ELEMENTS / s.V))) * s.V, "eval/compare.py _kl_full: 4 float64 tensors of a chunk of ≤ 2²⁴ logits")
        ]
      ])
      return { phases, protocol: p, note: "KL: baseline logits counted as in mode recompute" }
    }
    case "layer-sweep":
    case "allocate": {
      const q = quantOf(w["quant"])
      const p = resolveProtocol(c, w["protocol"], memoryBytes, c.weights.bytes)
      const t = targetsOf(s, q)
      const candidates = input.kernel === "allocate" && Array.isArray(w["candidates"]) ? w["candidates"].length : 1
      // quant/coded.py: packed codes (half a byte up to 4 bits), a float32 scale and a uint8 zero per group, on the host
      const g = q.groupSize > 0 ? q.groupSize : s.H
      const codes = hostOnly(c, part("codes", candidates * t.total * ((q.bits <= 4 ? 0.5 : 1) + 5 / g), `${candidates} quantization${candidates > 1 ? "s" : ""} kept as codes, on the host`))
      const phases: Phases = []
      for (const [name, ps] of quantPhases(c, q, true)) phases.push([name, [...ps, ...codes]])
      // embedding / lm_head targets are dequantized onto the device and copied in (apply_weights) for the evaluation
      const headCopies = (q.embeddings ? 1 : 0) + (q.lmHead ? 1 : 0)
      const copied = headCopies > 0 ? [part("embedding / lm_head copies", headCopies * s.V * s.H * d, "dequantized and applied with apply_weights")] : []
      phases.push(...evaluation(c, p.batch, p.context, [dequantWork(c, q, s.largest), ...copied, ...codes]))
      if (input.kernel === "allocate") {
        // the verification re-quantizes the plan (not coded) and measures it
        for (const [name, ps] of quantPhases(c, q, false)) phases.push([`verify: ${name}`, [...ps, ...codes, ...hostOnly(c, part("quantized weights", linearsBytes, "on the host"))]])
      }
      return { phases, protocol: p }
    }
    case "quantize": {
      const q = quantOf(w["quant"])
      const held = hostOnly(c, part("quantized weights", linearsBytes, "result.weights, on the host"))
      return { phases: quantPhases(c, q, false).map(([name, ps]) => [name, [...ps, ...held]]) }
    }
    case "attention-heads": {
      // analysis/heads.py: batch_nll over equal-length windows of seq_len; the ablation hook clones
      // o_proj's input, record_head_norms takes its float32 copy and the per-head norms
      const B = numAt(w, "batch_size", 8)
      const T = Math.min(numAt(w, "seq_len", 128), s.P)
      const hooks = part("head hooks", B * T * (s.qDim * d + (d === 4 ? 0 : 4 * s.qDim) + 4 * s.nh), "o_proj input's clone (ablation) and float32 copy (head norms)")
      return { phases: windowsEvaluation(c, B, T, [hooks]) }
    }
    case "layer-importance":
      return { phases: importancePhases(c, w) }
    case "task-eval": {
      // eval/tasks.py letter_logliks: one prompt at a time, cut at the model's positions; model(...) keeps a
      // KV cache; the multi-token path takes log_softmax(logits[0].float()) over the prompt
      const T = Math.min(s.P, PROMPT_TOKENS)
      const phases: Phases = [
        ["prompt: forward", forward(c, 1, T, { mask: false, cache: true })],
        ["prompt: logits", [logits(c, 1, T), part("log-softmax", T * s.V * 8, "logits[0].float() and its log_softmax")]]
      ]
      const quant = w["quant"]
      let protocol: MemoryProtocol | undefined
      if (isMap(quant)) {
        const q = quantOf(quant)
        const held = hostOnly(c, part("quantized weights", linearsBytes, "on the host"), part("originals", linearsBytes, "apply_weights' snapshot, on the host"))
        for (const [name, ps] of quantPhases(c, q, false)) phases.push([name, ps])
        phases.push(...phases.slice(0, 2).map(([name, ps]): [string, Bytes[]] => [`quantized ${name}`, [...ps, ...held]]))
        if (isMap(w["corpus"])) {
          protocol = resolveProtocol(c, w["protocol"], memoryBytes, c.weights.bytes)
          phases.push(...evaluation(c, protocol.batch, protocol.context, held, "perplexity"))
        }
      }
      return { phases, note: `a prompt of up to ${T} tokens`, ...(protocol ? { protocol } : {}) }
    }
    case "load-quantized":
      // models/quantized.py dequantizes on the CPU, then moves the model: the device holds the dequantized weights
      return { phases: [["load", []]] }
    default:
      return undefined
  }
}

/**
 * analysis/importance.py, per criterion:
 * - fisher: torch.autograd.grad of one window's loss (1 × seq_len) with respect to every block
 *   linear weight: the gradients (one more model's block linears), the graph's saved activations
 *   of every block (≈ dtype × (6 × hidden + 2 × kv dim + 4 × ffn) + 16 × hidden float32 norm
 *   inputs a token, an estimate), the logits, their float32 copy, log_softmax and gradient, a KV
 *   cache, float64 squares of one gradient, and a second cuBLAS workspace (the backward thread);
 * - hessian_trace: create_graph=True keeps the gradients with their graph, plus the Rademacher
 *   vectors and the Hessian-vector products (three block-linear sizes), the double backward's
 *   graph (≈ twice the saved activations) and, under the math SDPA backend it forces, every
 *   layer's heads × T × T scores, softmax and gradient;
 * - activation_variance / block_influence: a no_grad forward at batch_size × seq_len with a KV
 *   cache, each block's input and output in float64 in the hook, y², cosine similarity;
 * - quant_sensitivity: a quantization pass, then window_nlls per layer.
 */
const importancePhases = (c: Ctx, w: Record<string, unknown>): Phases => {
  const { s, d } = c
  const criteria = Array.isArray(w["criteria"]) ? (w["criteria"] as unknown[]).map(String) : ["fisher", "hessian_trace", "activation_variance", "block_influence", "quant_sensitivity"]
  const B = numAt(w, "batch_size", 8)
  const T = Math.min(numAt(w, "seq_len", 128), s.P)
  const grads = s.L * s.blockLinear * d
  const savedTok = d * (6 * s.H + 2 * s.kvDim + 4 * s.F) + 16 * s.H
  const saved = part("saved activations", s.L * T * savedTok, `every block's, one window of ${T} tokens (estimate)`)
  const logitsGrad = part("logits and their gradient", T * s.V * (2 * d + 8), "logits, float32 copy, log_softmax, gradient")
  const cache = part("KV cache", 2 * s.L * T * s.kvDim * d, "model(input_ids=…) keeps keys and values")
  const backwardWorkspace = c.onGpu ? [part("cuBLAS workspace (backward)", c.cublas[0]!.bytes, "the autograd thread's handle")] : []
  const phases: Phases = []
  if (criteria.includes("fisher")) {
    phases.push(["Fisher: backward", [part("gradients", grads, "every block linear's weight"), saved, logitsGrad, cache, part("float64 squares", 16 * s.largest, "grads[k].double().pow(2)"), ...backwardWorkspace]])
  }
  if (criteria.includes("hessian_trace")) {
    phases.push([
      "Hutchinson: Hessian-vector product",
      [
        part("gradients with graph, v, Hv", 3 * grads, "create_graph gradients, Rademacher vectors, Hessian-vector products"),
        part("double-backward graph", 2 * saved.bytes, "≈ twice the saved activations (estimate)"),
        part("attention scores", 3 * s.L * s.nh * T * T * d, "math SDPA: every layer's scores, softmax and gradient"),
        logitsGrad,
        cache,
        part("float64 products", 24 * s.largest, "v.double() · Hv.double()"),
        ...backwardWorkspace
      ]
    ])
  }
  if (criteria.includes("activation_variance") || criteria.includes("block_influence")) {
    phases.push(["activation statistics", [...forward(c, B, T, { mask: false, cache: true }), part("hook float64 copies", 5 * B * T * s.H * 8, "block input and output in float64, y², cosine similarity")]])
  }
  if (criteria.includes("quant_sensitivity")) {
    const q = quantOf(w["quant"])
    const held = hostOnly(c, part("quantized weights", s.L * s.blockLinear * d, "result.weights, on the host"))
    for (const [name, ps] of quantPhases(c, q, false)) phases.push([name, [...ps, ...held]])
    phases.push(...windowsEvaluation(c, B, T, held, "quant sensitivity"))
  }
  return phases
}

// --- the estimate -----------------------------------------------------------------------------------

const toGb = (b: Bytes): MemoryPart => ({ name: b.name, gb: b.bytes / GB, ...(b.detail !== undefined ? { detail: b.detail } : {}) })

/** Kernels whose memory is modelled here (the rest: weights only, labelled). */
export const MODELLED_KERNELS: ReadonlySet<string> = new Set([
  "perplexity",
  "disparity",
  "layer-sweep",
  "allocate",
  "quantize",
  "attention-heads",
  "layer-importance",
  "task-eval",
  "load-quantized",
  "tokenizer-stats"
])

/** The step's peak memory on the device that holds its model (module docstring). */
export const estimateMemory = (input: MemoryInput): MemoryEstimate => {
  const onGpu = input.gpu !== "cpu"
  const marginGb = onGpu ? CUDA_CONTEXT_GB : 0
  const weightsBytes = (input.paramsB ?? 0) * 1e9 * input.dtypeBytes
  const paramsText = input.paramsB === undefined ? "" : input.paramsB >= 0.1 ? `${Number(input.paramsB.toFixed(2))}B` : `${Number((input.paramsB * 1000).toFixed(3))}M`
  const weights = part("weights", weightsBytes, `${paramsText} × ${input.dtypeBytes} B ${input.dtype}`)
  const weightsOnly = (note: string): MemoryEstimate => ({
    basis: "weights",
    peakGb: weightsBytes / GB,
    parts: [toGb(weights)],
    phases: [],
    marginGb,
    note
  })
  if (input.kernel === "tokenizer-stats") return { basis: "none", peakGb: 0, parts: [], phases: [], marginGb: 0, note: "loads the tokenizer only" }
  if (!MODELLED_KERNELS.has(input.kernel)) return weightsOnly(`weights only: no memory model for kernel ${input.kernel}`)
  const s = shapeOf(input.geometry)
  if (s === undefined) return weightsOnly("weights only: the model's geometry (hidden, ffn, vocabulary, heads) is unknown before it loads")
  const cublas = onGpu ? [part("cuBLAS workspace", cublasWorkspaceBytes(input.gpu), `${(cublasWorkspaceBytes(input.gpu) / MiB).toFixed(cublasWorkspaceBytes(input.gpu) % MiB === 0 ? 0 : 1)} MiB for ${input.gpu}`)] : []
  const c: Ctx = { s, d: input.dtypeBytes, onGpu, weights, cublas }
  const memoryBytes = input.memoryGb === undefined ? undefined : input.memoryGb * GB
  const built = build(input, c, memoryBytes)
  if (built === undefined) return weightsOnly(`weights only: no memory model for kernel ${input.kernel}`)
  const phases = built.phases.map(([name, ps]) => {
    const parts = [weights, ...ps.filter((p) => p.bytes > 0), ...cublas]
    return { name, parts, bytes: parts.reduce((a, p) => a + p.bytes, 0) }
  })
  const peak = phases.reduce((a, b) => (b.bytes > a.bytes ? b : a))
  const notes = [!s.positionsKnown && (protocolKernels.has(input.kernel) || input.kernel === "task-eval") ? `context ${FALLBACK_CONTEXT}: the config names no max positions` : "", built.note ?? ""].filter(Boolean)
  return {
    basis: "peak",
    peakGb: peak.bytes / GB,
    peakPhase: peak.name,
    parts: peak.parts.map(toGb),
    phases: [...phases].sort((a, b) => b.bytes - a.bytes).map((p) => ({ name: p.name, gb: p.bytes / GB })),
    marginGb,
    ...(built.protocol ? { protocol: built.protocol } : {}),
    ...(notes.length > 0 ? { note: notes.join("; ") } : {})
  }
}
