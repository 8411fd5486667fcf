/**
 * The report section of an `allocate` step, from outputs shaped as the kernel writes them: every
 * number printed is recomputed here from those outputs (percent of d, bits per weight, MiB), the
 * unmet and the unconfirmed bound are said in words, the Pareto plot carries every strategy's
 * measured points (×100), and each compiled plan comes with the command that writes it.
 */
import { describe, expect, it } from "vitest"
import { buildReport } from "../../src/report/write.js"
import type { ReportInput } from "../../src/report/types.js"

const est = (value: number, lo: number, hi: number) => ({ value, ci: [lo, hi] })
const point = (strategy: string, label: string, bpw: number, worst: number) => ({ strategy, label, bpw, worst_language: "he", worst: est(worst, worst - 0.01, worst + 0.01), mean: worst / 2, degradation: { en: worst / 3, he: worst } })

const outputs = (met: boolean) => ({
  goal: "min-size",
  model: "additive in NLL",
  units: "layers",
  reference: "en",
  languages: ["en", "he"],
  candidates: [{ label: "int4 g32", bits: 4, group_size: 32, sym: false, bpw: 4.625 }, { label: "fp16", bits: null, group_size: null, sym: null, bpw: 16 }],
  bound: { degradation: { value: 0.0092, from: "1 × d_en of uniform int4 g32" } },
  sensitivities: [
    { unit: "layer 0", layers: [0], params: 10, choices: { "int4 g32": { en: 0.01, he: 0.02 } } },
    { unit: "layer 1", layers: [1], params: 10, choices: { "int4 g32": { en: 0.003, he: -0.001 } } }
  ],
  allocation: {
    units: [{ unit: "layer 0", choice: "fp16" }, { unit: "layer 1", choice: "int4 g32" }],
    bpw: 10.3125,
    bytes: { linears: 25.78, model: 3 * 2 ** 20 },
    predicted: { en: 0.003, he: -0.001 },
    measured: { en: est(0.0031, -0.001, 0.007), he: est(met ? -0.002 : 0.0125, -0.01, 0.015) },
    delta_bpb: { en: est(0.001, 0, 0.002), he: est(-0.0005, -0.001, 0.0001) },
    disparity: { value: null, ci: [null, null], defined: false, reason: "x" },
    worst_language: met ? "en" : "he",
    met,
    unconfirmed: ["he"],
    shortfall: { en: 0, he: met ? 0 : 0.0033 },
    reason: met ? null : "no allocation met every bound within 4 verified iterations; the best measured one is reported"
  },
  iterations: [{ bpw: 10.3125, predicted: { en: 0.003, he: -0.001 }, measured: { en: 0.0031, he: 0.0125 }, violated: ["d_he ≤ 0.0092"] }, { bpw: 10.3125, predicted: {}, measured: { en: 0.0031, he: -0.002 }, violated: [] }],
  baselines: {
    curves: [
      { strategy: "uniform", points: [point("uniform", "uniform int4 g32", 4.625, 0.0095)] },
      { strategy: "worst-language optimal", points: [point("worst-language optimal", "w ≤ 4.625", 4.625, 0.0029)] }
    ],
    equal_bpw: [{ baseline: point("uniform", "uniform int4 g32", 4.625, 0.0095), optimal: point("worst-language optimal", "w ≤ 4.625", 4.5, 0.0029) }]
  },
  plan: { quant: {}, protect: { layers: [0], modules: [] }, overrides: [], modules: [] },
  compiled: {
    gptqmodel: { file: "quantize_config.json", text: "{}", notes: ["n1"] },
    "llama.cpp": { file: "tensor-types.txt", text: "x=q4_K\n", notes: [] }
  },
  quant: { method: "rtn", bits: 4, group_size: 32, sym: false },
  configurations: 12,
  protocol: { name: "rolling", context_length: 64, stride: null, batch_size: 8, add_bos: true }
})

const input = (met: boolean): ReportInput => ({
  workflow: { name: "fix", file: "workflows/fix.yaml" },
  run: { id: "20261202-144946-ceef", status: "succeeded", startedAt: 0, finishedAt: 1000 },
  steps: [{ id: "allocate", uses: "allocate", status: "succeeded", durationMs: 4700, outputs: outputs(met) }],
  branches: []
})

describe("the allocate section", () => {
  it("states the bound, the size, predicted vs measured per language, the baselines and the compiled plans", () => {
    const r = buildReport(input(true))
    const md = r.markdown
    expect(md).toContain("Bounds: degradation ≤ +0.92% (1 × d_en of uniform int4 g32)")
    expect(md).toContain("**Bound met**: 10.313 bits per weight in the block linears (3.00 MiB for the whole model). Worst language: en.")
    expect(md).toContain("The bound holds on the point estimates, but the 95% CI of he reaches above it")
    expect(md).toContain("- layer 0: fp16\n- layer 1: int4 g32")
    expect(md).toContain("| en (ref) | +0.30% | +0.31% [-0.10%, +0.70%] | 0.0010 [0.0000, 0.0020] |")
    expect(md).toContain("| uniform int4 g32 | 4.625 | he | +0.95% [-0.05%, +1.95%] | 4.500 | he | +0.29% [-0.71%, +1.29%] |")
    expect(md).toContain("Verification took 2 rounds")
    expect(md).toContain("| polyquant compile 20261202-144946-ceef allocate --to gptqmodel --out quantize_config.json | quantize_config.json | n1 |")
    const pareto = r.plots.find((p) => p.name === "allocate-pareto")
    expect(pareto?.kind).toBe("lines")
    if (pareto?.kind !== "lines") return
    expect(pareto.series.map((s) => s.label)).toEqual(["uniform", "worst-language optimal"])
    expect(pareto.series[0]!.points[0]).toEqual({ x: 4.625, y: 0.95, y_lo: 0.95 - 1, y_hi: 0.95 + 1 })
    expect(pareto.reference_line).toBeCloseTo(0.92, 12)
    const heat = r.plots.find((p) => p.name === "allocate-sensitivity")
    expect(heat?.kind === "heatmap" && heat.values).toEqual([[1, 2], [0.3, -0.1]])
  })

  it("says when the bound was not met, by how much, and the step's one-line headline says so too", async () => {
    const md = buildReport(input(false)).markdown
    expect(md).toContain("**Bound not met**")
    expect(md).toContain("Shortfall: en +0.00%, he +0.33%.")
    const { headline } = await import("../../src/ui/headline.js")
    expect(headline("allocate", outputs(false))).toBe("10.31 bpw, bound NOT met, worst he d=+1.3%")
    expect(headline("allocate", outputs(true))).toBe("10.31 bpw, bound met, worst en d=+0.3%")
  })
})
