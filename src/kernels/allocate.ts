/**
 * `allocate`: bits per layer (or per attention / MLP half, or per module) chosen from measured
 * per-language sensitivities by an exact integer program (python/polyquant/kernels/allocate.py):
 * the smallest model whose every language stays within a bound, or within a size budget the
 * smallest worst-language degradation. The allocation is measured, not only predicted; it is
 * compared with uniform, first + last protected, llama.cpp's Q4_K_M rule and the average-loss
 * optimum at equal bits per weight, and compiled to GPTQModel, llm-compressor, AutoAWQ and llama.cpp.
 */
import { z } from "zod"
import { Bits, CorpusSpec, Estimate, GroupSize, Language, ModelSpec, Protect, QuantConfig } from "./common.js"
import { defineKernel } from "./define.js"
import { BootstrapOptions, DisparityIndex, EvalProtocol, EvalProtocolRecord } from "./disparity.js"
import { QuantSummary } from "./quantize.js"

/** "The English degradation of uniform int4", as a bound: factor × d_language of uniform int<bits>. */
const UniformReference = z.strictObject({
  uniform_bits: Bits.describe("a candidate's bits: the uniform allocation measured for the reference"),
  language: Language.optional().describe("default: the reference language"),
  factor: z.number().positive().default(1)
})

const Candidate = z.strictObject({
  bits: Bits,
  group_size: GroupSize.optional().describe("default: quant.group_size"),
  sym: z.boolean().optional().describe("default: quant.sym")
})

const PerLanguage = z.record(z.string(), z.number())
const ChoiceLabel = z.string().describe("e.g. int4 g128, int8 g32 sym, fp16")

const Point = z.strictObject({
  strategy: z.string(),
  label: z.string(),
  bpw: z.number(),
  worst_language: z.string(),
  worst: Estimate.describe("the worst language's measured d with its 95% CI"),
  mean: z.number(),
  degradation: PerLanguage
})

const PlanModule = z.strictObject({
  name: z.string(),
  layer: z.number().int(),
  role: z.string().describe("llama.cpp's tensor category (attn_q, ffn_down, …)"),
  gguf_tensor: z.string().nullable().describe("the GGUF tensor name without .weight, e.g. blk.3.attn_v"),
  bits: z.number().int().nullable().describe("null: full precision"),
  group_size: z.number().int().nullable(),
  sym: z.boolean().nullable(),
  params: z.number().int(),
  bpw: z.number()
})

const Compiled = z.strictObject({
  file: z.string().describe("the file name the tool reads"),
  text: z.string(),
  notes: z.array(z.string()).describe("what the tool's syntax cannot say exactly, and what was done instead")
})

export const COMPILE_TARGETS = ["gptqmodel", "llm-compressor", "autoawq", "llama.cpp"] as const

export const allocate = defineKernel({
  name: "allocate",
  version: "2",
  description: "bits per layer so that every language stays within a bound (or the worst language is best within a size), solved exactly, verified by measurement, against four baselines, compiled to GPTQModel / llm-compressor / AutoAWQ / llama.cpp",
  with: z
    .strictObject({
      model: ModelSpec,
      corpus: CorpusSpec,
      quant: QuantConfig.prefault({}).describe("method (rtn or gptq), group size, symmetry and calibration of every candidate"),
      protect: Protect.prefault({}).describe("always left in full precision"),
      units: z.enum(["layers", "attention-mlp", "modules"]).default("layers").describe("what takes one choice: a block, a block's attention or MLP linears, or one linear"),
      candidates: z
        .array(Candidate)
        .min(1)
        .default([{ bits: 2 }, { bits: 3 }, { bits: 4 }, { bits: 6 }, { bits: 8 }])
        .describe("the grids a unit can take"),
      sweeps: z
        .array(z.record(z.string(), z.unknown()))
        .default([])
        .describe("layer-sweep outputs in quantize-one mode (`${{ steps.sweep.outputs }}`) on the same model, corpus and protocol: their rows are that candidate's sensitivities, not measured again"),
      full_precision: z.boolean().default(true).describe("a unit may also stay in full precision (16 bits per weight)"),
      goal: z.enum(["min-size", "min-worst"]).default("min-size").describe("min-size: fewest bits per weight within `bound`; min-worst: least worst-language degradation within `budget_bpw`"),
      bound: z
        .strictObject({
          degradation: z.union([z.number().nonnegative(), UniformReference]).optional().describe("every language's d = PPL_q/PPL_b − 1 at most this (or factor × a language's d under a uniform candidate)"),
          delta_bpb: z.number().nonnegative().optional().describe("every language's ΔBPB at most this"),
          disparity: z.number().positive().optional().describe("the disparity index (mean non-reference d / reference d) at most this")
        })
        .prefault({}),
      budget_bpw: z
        .union([z.number().positive(), z.strictObject({ uniform_bits: Bits })])
        .optional()
        .describe("min-worst: bits per weight of the block linears at most this (or the size of a uniform candidate)"),
      reference: Language.default("en"),
      verify: z.strictObject({ max_iterations: z.number().int().min(1).max(20).default(4).describe("solve → measure → correct rounds") }).prefault({}),
      baselines: z.boolean().default(true).describe("measure uniform, first + last fp16, the Q4_K_M rule and the average-loss optimum at each size"),
      bootstrap: BootstrapOptions.prefault({}),
      protocol: EvalProtocol.prefault({}),
      checkpoint_every: z.number().int().positive().default(8).describe("evaluations between checkpoints")
    })
    .superRefine((w, ctx) => {
      if (w.goal === "min-size" && w.bound.degradation === undefined && w.bound.delta_bpb === undefined && w.bound.disparity === undefined)
        ctx.addIssue({ code: "custom", path: ["bound"], message: "goal min-size needs a bound: degradation, delta_bpb or disparity" })
      if (w.goal === "min-worst" && w.budget_bpw === undefined) ctx.addIssue({ code: "custom", path: ["budget_bpw"], message: "goal min-worst needs budget_bpw (a number, or {uniform_bits: 4})" })
      if (w.quant.method !== "rtn" && w.quant.method !== "gptq")
        ctx.addIssue({ code: "custom", path: ["quant", "method"], message: `allocate mixes per-module codes, which holds for rtn and gptq, not ${w.quant.method}` })
      if (w.quant.include_embeddings || w.quant.include_lm_head) ctx.addIssue({ code: "custom", path: ["quant"], message: "allocate covers the block linears only (include_embeddings / include_lm_head)" })
      const bits = new Set(w.candidates.map((c) => c.bits))
      for (const [path, spec] of [
        [["bound", "degradation"], w.bound.degradation],
        [["budget_bpw"], w.budget_bpw]
      ] as const)
        if (typeof spec === "object" && spec !== null && !bits.has(spec.uniform_bits))
          ctx.addIssue({ code: "custom", path: [...path, "uniform_bits"], message: `uniform_bits ${spec.uniform_bits} is not among the candidates' bits (${[...bits].join(", ")})` })
    }),
  outputs: z.strictObject({
    goal: z.enum(["min-size", "min-worst"]),
    model: z.string().describe("the prediction model the solver assumed"),
    units: z.enum(["layers", "attention-mlp", "modules"]),
    reference: z.string(),
    languages: z.array(z.string()),
    candidates: z.array(z.strictObject({ label: ChoiceLabel, bits: z.number().int().nullable(), group_size: z.number().int().nullable(), sym: z.boolean().nullable(), bpw: z.number() })),
    bound: z.record(z.string(), z.strictObject({ value: z.number(), from: z.string() })).describe("the bounds as resolved (degradation, delta_bpb, disparity, budget_bpw)"),
    sensitivities: z.array(
      z.strictObject({
        unit: z.string(),
        layers: z.array(z.number().int()),
        params: z.number().int(),
        choices: z.record(ChoiceLabel, PerLanguage).describe("choice → language → d with only this unit quantized")
      })
    ),
    allocation: z.strictObject({
      units: z.array(z.strictObject({ unit: z.string(), choice: ChoiceLabel })),
      bpw: z.number().describe("bits per weight of the block linears, scales and zeros included"),
      bytes: z.strictObject({ linears: z.number(), model: z.number().describe("with everything else at 16 bits") }),
      predicted: PerLanguage.describe("language → d the additive model predicted"),
      measured: z.record(z.string(), Estimate).describe("language → measured d with its paired bootstrap 95% CI"),
      delta_bpb: z.record(z.string(), Estimate),
      disparity: DisparityIndex,
      worst_language: z.string(),
      met: z.boolean().describe("every measured value within its bound"),
      unconfirmed: z.array(z.string()).describe("languages (and `disparity`) whose 95% CI reaches above the bound: met on the point estimate only, the corpus cannot confirm it"),
      shortfall: PerLanguage.describe("how far each language (and `disparity`) is above its bound; 0 within"),
      reason: z.string().nullable()
    }),
    iterations: z.array(
      z.strictObject({ bpw: z.number(), predicted: PerLanguage, measured: PerLanguage, violated: z.array(z.string()) })
    ),
    baselines: z
      .strictObject({
        curves: z.array(z.strictObject({ strategy: z.string(), points: z.array(Point) })),
        equal_bpw: z.array(z.strictObject({ baseline: Point, optimal: Point.nullable() }))
      })
      .nullable(),
    plan: z.strictObject({
      quant: QuantConfig.describe("the base grid; without the calibration corpus (a step re-quantizing with the plan uses its own, the workflow's by default)"),
      protect: Protect,
      overrides: z.array(z.strictObject({ layers: z.array(z.number().int()).optional(), modules: z.string().optional(), bits: Bits, group_size: GroupSize, sym: z.boolean() })),
      modules: z.array(PlanModule)
    }),
    compiled: z.strictObject({ gptqmodel: Compiled, "llm-compressor": Compiled, autoawq: Compiled, "llama.cpp": Compiled }),
    quant: QuantSummary,
    configurations: z.number().int().describe("distinct configurations evaluated"),
    protocol: EvalProtocolRecord
  }),
  models: ["model"],
  corpora: ["corpus", "quant.calibration.corpus"],
  checkpoints: true,
  gpu: true
})
