/**
 * `quantize`: RTN, GPTQ or AWQ on the resident model (python/polyquant/kernels/quantize.py).
 * Writes the changed weights as a content-addressed safetensors artifact and reports the
 * per-module relative Frobenius error ‖W − Ŵ‖ / ‖W‖; the resident model is restored bit-exactly.
 */
import { z } from "zod"
import { GroupSize, Bits, ModelSpec, Override, Protect, QuantConfig, ArchitectureRecord, AwqSearchRecord, StorageSummary } from "./common.js"
import { defineKernel } from "./define.js"

/** One quantized module in an output: where it is, how it was quantized, how much it moved. */
export const ModuleError = z.strictObject({
  name: z.string().describe("full module name, e.g. model.layers.3.mlp.down_proj"),
  layer: z.number().int().nullable().describe("block index; null for embeddings and lm_head"),
  bits: Bits,
  group_size: GroupSize,
  type: z.string().optional().describe("method gguf: the module's llama.cpp block type, e.g. Q6_K"),
  bpw: z.number().optional().describe("method gguf: bits per weight of that type, scales included"),
  rel_error: z.number().nullable().describe("‖W − Ŵ‖_F / ‖W‖_F")
})

/** The quantization settings a result was made with. */
export const QuantSummary = z.strictObject({
  method: z.enum(["rtn", "gptq", "awq", "gguf"]),
  bits: Bits.describe("gguf: the code bits of the type's default block type"),
  group_size: GroupSize.describe("gguf: weights per scale of that block type"),
  sym: z.boolean(),
  gguf_type: z.string().optional().describe("method gguf: the file type or block type, e.g. Q4_K_M")
})

export const quantize = defineKernel({
  name: "quantize",
  version: "4",
  description: "quantize the model's block linears (RTN, GPTQ or AWQ) with protection and overrides; saves the quantized weights",
  with: z.strictObject({
    model: ModelSpec,
    quant: QuantConfig.prefault({}),
    protect: Protect.prefault({}),
    overrides: z.array(Override).default([]).describe("later entries win"),
    export: z
      .enum(["gptq", "gptq_v2", "awq", "compressed-tensors"])
      .optional()
      .describe(
        "also write a checkpoint that AutoGPTQ/GPTQModel/transformers (gptq, gptq_v2), AutoAWQ (awq) or vLLM/llm-compressor (compressed-tensors, any method) read, and `model: {id: <path>, format: …}` loads"
      )
  }).superRefine((w, ctx) => {
    const needs = w.export === undefined || w.export === "compressed-tensors" ? undefined : w.export === "awq" ? "awq" : "gptq"
    if (needs !== undefined && w.quant.method !== needs)
      ctx.addIssue({ code: "custom", path: ["export"], message: `export ${w.export} needs quant.method ${needs}, got ${w.quant.method}` })
    if (w.export === "awq") {
      // AutoAWQ's GEMM layout has one bit width, group size and zero point for every module (python/polyquant/quant/export.py):
      // say so before the whole quantization runs, not at export after it
      const why = "AutoAWQ's GEMM checkpoints hold one asymmetric 4-bit grid for every module; use export compressed-tensors for mixed grids"
      if (w.quant.bits !== 4 || w.quant.sym) ctx.addIssue({ code: "custom", path: ["export"], message: `export awq: quant is ${w.quant.bits}-bit ${w.quant.sym ? "sym" : "asym"}; ${why}` })
      w.overrides.forEach((o, k) => {
        const changed = [o.bits !== undefined && o.bits !== w.quant.bits ? `bits ${o.bits}` : "", o.group_size !== undefined && o.group_size !== w.quant.group_size ? `group_size ${o.group_size}` : "", o.sym !== undefined && o.sym !== w.quant.sym ? `sym ${o.sym}` : ""].filter(Boolean)
        if (changed.length) ctx.addIssue({ code: "custom", path: ["overrides", k], message: `export awq: this override sets ${changed.join(", ")}; ${why}` })
      })
    }
  }),
  outputs: z.strictObject({
    ...QuantSummary.shape,
    artifact: z.strictObject({
      path: z.string().describe("<artifacts_dir>/<sha256>.safetensors"),
      digest: z.string().regex(/^sha256:[0-9a-f]{64}$/)
    }),
    modules: z.array(ModuleError),
    protected: z.array(z.string()).describe("modules left in full precision"),
    architecture: ArchitectureRecord.nullable().optional().describe("the structure found in the model, when the step quantized it"),
    awq: AwqSearchRecord.nullable().optional().describe("AWQ only: the scale groups found and verified"),
    mean_rel_error: z.number().nullable(),
    storage: StorageSummary,
    checkpoint: z
      .strictObject({ format: z.enum(["gptq", "gptq_v2", "awq", "compressed-tensors"]), path: z.string().describe("a folder: `model: {id: <path>, format: …}` loads it") })
      .nullable()
      .describe("the exported checkpoint, when `export` was set")
  }),
  models: ["model"],
  corpora: ["quant.calibration.corpus"],
  checkpoints: false,
  gpu: true
})
