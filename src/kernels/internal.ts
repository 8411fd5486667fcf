/**
 * Kernels the CLI runs for itself, never named by a workflow's `uses:`: `environment` (what the
 * worker runs on, for `polyquant doctor`) and `report-plots` (a report's figures). They have a
 * contract like every other kernel (src/kernels/contract.ts), so that Python checks their
 * parameters and TypeScript their results with the same schemas.
 */
import { z } from "zod"
import { defineKernel } from "./define.js"

const Device = z.strictObject({ index: z.number().int(), name: z.string(), memory_bytes: z.number().int() })

export const EnvironmentInfo = z.strictObject({
  python: z.string(),
  executable: z.string(),
  packages: z.record(z.string(), z.string().nullable()).describe("package → version, null when it does not import"),
  cuda: z.strictObject({ version: z.string().nullable(), devices: z.array(Device) }).nullable(),
  cpu_threads: z.number().int().nullable(),
  torch_error: z.string().optional()
})
export type EnvironmentInfo = z.infer<typeof EnvironmentInfo>

/** The Python packages polyquant needs (python/requirements.txt), which `doctor` reports. */
export const REQUIRED_PACKAGES = ["torch", "transformers", "tokenizers", "safetensors", "numpy", "scipy", "matplotlib", "jsonschema", "gguf", "datasets", "pyarrow"] as const

export const environment = defineKernel({
  name: "environment",
  version: "1",
  description: "what the worker runs on: Python, packages, CUDA devices and their memory",
  with: z.strictObject({ packages: z.array(z.string()).default([...REQUIRED_PACKAGES]).describe("the packages whose versions are reported") }),
  outputs: EnvironmentInfo,
  models: [],
  corpora: [],
  checkpoints: false,
  gpu: false
})

const Axes = { name: z.string().min(1), title: z.string(), xlabel: z.string(), ylabel: z.string() }

/** A figure (python/polyquant/report/plots.py draws it). */
export const PlotSpec = z.discriminatedUnion("kind", [
  z.strictObject({
    kind: z.literal("bars"),
    ...Axes,
    categories: z.array(z.string()),
    series: z.array(
      z.strictObject({
        label: z.string(),
        values: z.array(z.number().nullable()),
        lo: z.array(z.number().nullable()).optional(),
        hi: z.array(z.number().nullable()).optional()
      })
    ),
    legend_title: z.string().optional(),
    legend: z.boolean().optional().describe("draw the legend even for one series"),
    reference_line: z.number().optional().describe("a dashed horizontal line at this value")
  }),
  z.strictObject({
    kind: z.literal("scatter"),
    ...Axes,
    points: z.array(
      z.strictObject({
        label: z.string(),
        x: z.number(),
        y: z.number(),
        y_lo: z.number().nullable().optional().describe("the y value's 95% interval, drawn as a whisker"),
        y_hi: z.number().nullable().optional(),
        x_lo: z.number().nullable().optional(),
        x_hi: z.number().nullable().optional()
      })
    ),
    fit: z.strictObject({ intercept: z.number(), slope: z.number() }).optional().describe("a least-squares line drawn through the points"),
    note: z.string().optional().describe("a line of text in the corner, e.g. r = 0.8 [0.1, 0.97]")
  }),
  z.strictObject({
    kind: z.literal("lines"),
    ...Axes,
    series: z.array(
      z.strictObject({
        label: z.string(),
        points: z.array(z.strictObject({ x: z.number(), y: z.number(), y_lo: z.number().nullable().optional(), y_hi: z.number().nullable().optional() }))
      })
    ),
    reference_line: z.number().optional().describe("a dashed horizontal line at this value (a bound)")
  }),
  z.strictObject({
    kind: z.enum(["heatmap", "correlation"]),
    ...Axes,
    colorbar_label: z.string(),
    rows: z.array(z.string()),
    cols: z.array(z.string()),
    values: z.array(z.array(z.number().nullable())),
    annotate: z.boolean().optional().describe("write each cell's value (default: correlation plots only)"),
    format: z.string().optional().describe("Python format of an annotation, e.g. {:.2f}")
  })
])
export type PlotSpec = z.infer<typeof PlotSpec>

export const PlotFile = z.strictObject({ name: z.string(), title: z.string(), svg: z.string(), png: z.string() })
export type PlotFile = z.infer<typeof PlotFile>

export const reportPlots = defineKernel({
  name: "report-plots",
  version: "1",
  description: "draw a report's figures as SVG and PNG (matplotlib)",
  with: z.strictObject({
    out_dir: z.string().min(1).describe("the folder the files are written to"),
    plots: z.array(PlotSpec)
  }),
  outputs: z.strictObject({ files: z.array(PlotFile) }),
  models: [],
  corpora: [],
  checkpoints: false,
  gpu: false
})

export const internalKernels = [environment, reportPlots] as const
