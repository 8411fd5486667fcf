/**
 * `load-quantized`: read a pre-quantized GPTQ (checkpoint format v1 `gptq`, with its +1 zero-point
 * offset, or v2 `gptq_v2`), AWQ (GEMM or GEMV packing) or compressed-tensors checkpoint, or a
 * llama.cpp GGUF file, and dequantize it onto the dense architecture
 * (python/polyquant/kernels/load_quantized.py, python/polyquant/models/quantized.py, llamacpp.py).
 * The model stays resident, so later steps that name the same spec use it as any other model.
 */
import { z } from "zod"
import { Bits, GroupSize, ModelSpec } from "./common.js"
import { defineKernel } from "./define.js"

export const loadQuantized = defineKernel({
  name: "load-quantized",
  version: "2",
  description: "load a GPTQ (v1/v2), AWQ (GEMM/GEMV), compressed-tensors (pack-/int-quantized) checkpoint or a llama.cpp GGUF file and dequantize it into a resident dense model",
  with: z.strictObject({
    model: ModelSpec.refine((m) => m.format !== "hf", {
      message: "load-quantized needs a model with format gptq, awq, compressed-tensors or gguf",
      path: ["format"]
    })
  }),
  outputs: z.strictObject({
    format: z.enum(["gptq", "awq", "compressed-tensors", "gguf"]),
    checkpoint_format: z
      .string()
      .nullable()
      .describe(
        "GPTQ: gptq (v1, zeros stored minus 1) or gptq_v2; AWQ: its packing, gemm or gemv; compressed-tensors: pack-quantized, int-quantized or naive-quantized; gguf: the most common block type"
      ),
    bits: Bits.describe("the most common bit width over the quantized modules"),
    group_size: GroupSize.describe("the most common group size (−1: per channel)"),
    modules: z.number().int().nonnegative().describe("quantized linears dequantized"),
    quantized: z
      .record(z.string(), z.strictObject({ bits: Bits, group_size: GroupSize, type: z.string().optional().describe("gguf: the ggml block type it was stored in") }))
      .describe("each quantized module's bits and group size (gguf: weights per scale)"),
    dense: z.array(z.string()).describe("block linears the checkpoint left in full precision"),
    fingerprint: z.string().describe("sha256 of the checkpoint's config and weight files")
  }),
  models: ["model"],
  corpora: [],
  checkpoints: false,
  gpu: true
})
