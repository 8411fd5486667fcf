import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { buildReport, pythonPlotRenderer, writeReport } from "../../src/report/index.js"
import { correlationMatrix } from "../../src/report/sections.js"
import type { PlotSpec } from "../../src/report/types.js"
import { calibrationInput, reportInput } from "./fixtures.js"
import { parseSvg, pngSize } from "./svg.js"

const tmp = mkdtempSync(join(tmpdir(), "pq-report-"))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

/** "+12.60% [+8.00%, +17.00%]" computed here, independently of the report's formatter. */
const pctCi = (v: number, lo: number, hi: number) => {
  const p = (x: number) => `${x >= 0 ? "+" : ""}${(Math.round(x * 10000) / 100).toFixed(2)}%`
  return `${p(v)} [${p(lo)}, ${p(hi)}]`
}

describe("buildReport", () => {
  const input = reportInput()
  const { markdown, plots } = buildReport(input)

  it("opens with the run and lists every step with its status", () => {
    expect(markdown.startsWith("# week1-validation: run r-20261126-week1\n")).toBe(true)
    expect(markdown).toContain("- Status: **succeeded** on local")
    expect(markdown).toMatch(/\| colab_001 \| disparity \| succeeded \| 6\.8s \|/)
    expect(markdown).toMatch(/\| kaggle_001 \| layer-sweep \| skipped \| 0ms \| if: steps\.colab_001\.outputs\.disparity\.value >= 2\.0 was false \|/)
    expect(markdown).toMatch(/\| sweep \| layer-sweep \| cached \| 12\.0s \| cache hit \|/)
    expect(markdown).toContain("| broken | perplexity | failed | 300ms | CorpusError: corpus language 'xx' yields no scored tokens |")
    expect(markdown).toContain("- Steps: 4 succeeded, 1 skipped, 1 cached, 1 failed")
  })

  it("records a kernel's protocol with integers as integers", () => {
    const protocol = { name: "rolling", context_length: 128, stride: null, batch_size: 8, add_bos: true }
    const base = reportInput()
    const withProtocol = { ...base, steps: [{ id: "ppl", uses: "perplexity", status: "succeeded" as const, durationMs: 10, outputs: { protocol, languages: {} } }] }
    expect(buildReport(withProtocol).markdown).toContain("Protocol: name=rolling, context_length=128, stride=null, batch_size=8, add_bos=true.")
  })

  it("states each branch decision with the values that decided it", () => {
    expect(markdown).toContain("- colab_001: disparity 1.42 [1.10, 1.81] < 2.0 → colab_002 (`steps.colab_001.outputs.disparity.value < 2.0` was true)")
    expect(markdown).toContain("- colab_001: disparity 1.42 [1.10, 1.81] >= 2.0 → kaggle_001 skipped (`steps.colab_001.outputs.disparity.value >= 2.0` was false)")
  })

  it("tabulates disparity per language with d, ΔBPB and CIs from the outputs", () => {
    const step = input.steps.find((s) => s.id === "colab_001")!
    const langs = (step.outputs as { languages: Record<string, { ppl_base: number; ppl_quant: number; degradation: { value: number; ci: [number, number] } }> }).languages
    for (const [lang, r] of Object.entries(langs)) {
      const name = lang === "en" ? "en (ref)" : lang
      const row = markdown.split("\n").find((l) => l.startsWith(`| ${name} | ${r.ppl_base.toFixed(3)} | ${r.ppl_quant.toFixed(3)} |`))
      expect(row, `row of ${lang}`).toBeDefined()
      expect(row).toContain(pctCi(r.degradation.value, r.degradation.ci[0], r.degradation.ci[1]))
    }
    expect(markdown).toContain("- **Disparity index** (mean non-reference d / d_en): 1.420 [1.100, 1.810]")
    expect(markdown).toContain("- **Additive gap** (mean non-reference d − d_en): +6.10% [+2.00%, +10.00%]")
    expect(markdown).toContain("- **Worst language**: zh")
    expect(markdown).toContain("Quantized variant: rtn int4 g128 asym; protected: model.layers.0, model.layers.3. Reference language: en.")
  })

  it("says why a disparity index is undefined", () => {
    const one = reportInput()
    const steps = one.steps.map((s) =>
      s.id === "colab_001" ? { ...s, outputs: { ...(s.outputs as object), disparity: { value: 9.5, ci: [-40, 60], defined: false, reason: "the reference 'en' degradation CI [-0.01, 0.02] contains 0, so the ratio is unbounded" } } } : s
    )
    expect(buildReport({ ...one, steps }).markdown).toContain("- **Disparity index**: undefined — the reference 'en' degradation CI [-0.01, 0.02] contains 0, so the ratio is unbounded (point value 9.500).")
  })

  it("tabulates a layer sweep as configuration × language with the mean, and ranks critical layers", () => {
    const sweep = input.steps.find((s) => s.id === "sweep")!.outputs as { rows: Array<{ label: string; degradation: Record<string, number>; mean: number }> }
    const p = (x: number) => `${x >= 0 ? "+" : ""}${(x * 100).toFixed(2)}%`
    for (const r of sweep.rows) {
      const cells = ["ar", "en", "he", "zh"].map((l) => `${p(r.degradation[l]!)} [${p(r.degradation[l]! - 0.01)}, ${p(r.degradation[l]! + 0.02)}]`)
      expect(markdown).toContain(`| ${r.label} | ${cells.join(" | ")} | ${p(r.mean)} [${p(r.mean - 0.005)}, ${p(r.mean + 0.005)}] | – |`)
    }
    expect(markdown).toContain("| all layers quantized | +20.00% | +15.00% | +22.00% | +25.00% | +20.50% | – |")
    expect(markdown).toContain("| 1 | layer 3 | +3.50% [+1.00%, +6.00%] | 0.90 | yes |")
    expect(markdown).toContain("| 2 | layer 0 | +2.25% [-0.20%, +5.00%] | 0.60 | no |")
    expect(markdown).toContain("Smallest difference in d between two configurations this corpus resolves (1.96 × bootstrap SD): ar +1.20%, en +0.80%, he +1.50%, zh +2.00%.")
  })

  it("tabulates importance criteria and their Spearman correlations", () => {
    expect(markdown).toContain("| fisher | hessian_trace | 0.800 | – | 0.2000 | 4 |")
    expect(markdown).toContain("| hessian_trace | activation_variance | – | – | – | 4 |")
    expect(markdown).toContain("| 3 | 0.1250 | 9.000 | 4.000e-4 |")
  })

  it("makes one plot per result with titles and unit-labelled axes", () => {
    expect(plots.map((p) => p.name)).toEqual(["baseline-bits-per-byte", "colab_001-degradation", "colab_002-degradation", "sweep-sweep", "importance-criteria", "configuration-comparison"])
    for (const p of plots) {
      expect(p.title.length).toBeGreaterThan(5)
      expect(p.xlabel).not.toBe("")
      expect(p.ylabel).not.toBe("")
      expect(markdown).toContain(`![${p.title}](${p.name}.svg)`)
      expect(markdown).toContain(`[PNG](${p.name}.png)`)
    }
    const byName = (n: string) => plots.find((p) => p.name === n)!
    const bpb = byName("baseline-bits-per-byte") as Extract<PlotSpec, { kind: "bars" }>
    const ppl = input.steps[0]!.outputs as { languages: Record<string, { bits_per_byte: number }> }
    expect(bpb.categories).toEqual(["en", "he", "ar", "zh"])
    expect(bpb.series[0]!.values).toEqual(["en", "he", "ar", "zh"].map((l) => ppl.languages[l]!.bits_per_byte))
    expect(bpb.ylabel).toBe("bits per byte (bits/byte, lower is better)")
    const bars = byName("colab_001-degradation") as Extract<PlotSpec, { kind: "bars" }>
    expect(bars.ylabel).toBe("degradation d = PPL_q/PPL_b − 1 (%)")
    expect(bars.series[0]!.values[0]).toBeCloseTo(12.6, 10)
    expect(bars.series[0]!.lo![0]).toBeCloseTo(8, 10)
    expect(bars.series[0]!.hi![0]).toBeCloseTo(17, 10)
    const heat = byName("sweep-sweep") as Extract<PlotSpec, { kind: "heatmap" }>
    expect(heat.rows).toEqual(["all layers quantized", "layer 0", "layer 1", "layer 2", "layer 3"])
    expect(heat.values[0]).toEqual([20, 15, 22, 25]) // the reference row: every layer quantized
    expect(heat.values[4]![3]).toBeCloseTo(17, 10) // zh with layer 3 protected: 0.25 − 0.08
  })

  it("tabulates any other kernel's per-language fields, one column each", () => {
    const stats = { reference: "en", languages: { en: { tokens: 1000, bytes: 4000, tokens_per_byte: 0.25, premium: 1 }, he: { tokens: 1500, bytes: 4500, tokens_per_byte: 1 / 3, premium: 1.5 } } }
    const md = buildReport({ ...input, steps: [{ id: "tok", uses: "some-custom-kernel", status: "succeeded", durationMs: 10, outputs: stats }], branches: [] }).markdown
    expect(md).toContain("| language | tokens | bytes | tokens_per_byte | premium |")
    expect(md).toContain("| he | 1500 | 4500 | 0.3333 | 1.500 |")
  })

  it("builds the correlation matrix symmetric with 1 on the diagonal and null where ρ is undefined", () => {
    const m = correlationMatrix(["fisher", "hessian_trace", "activation_variance"], [
      { a: "fisher", b: "hessian_trace", rho: 0.8 },
      { a: "activation_variance", b: "fisher", rho: -1 },
      { a: "hessian_trace", b: "activation_variance", rho: null }
    ])
    expect(m).toEqual([
      [1, 0.8, -1],
      [0.8, 1, null],
      [-1, null, 1]
    ])
  })

  it("compares calibration sets when disparity steps differ in calibration", () => {
    const { markdown: md, plots: ps } = buildReport(calibrationInput())
    const cmp = ps.find((p) => p.name === "calibration-comparison") as Extract<PlotSpec, { kind: "bars" }>
    expect(cmp.title).toBe("Calibration comparison: degradation per language by calibration set")
    expect(cmp.series.map((s) => s.label)).toEqual(["calibration en", "calibration en+he+ar+zh"])
    // en: colab_002's d 0.075, ×1.5 for the English-only calibration
    expect(cmp.series[0]!.values[0]).toBeCloseTo(11.25, 10)
    expect(md).toContain("## Calibration comparison")
    expect(ps.map((p) => p.name)).toContain("calib-set-en-degradation")
  })
})

describe("writeReport with matplotlib plots", () => {
  it("writes report.md and, for every plot, a valid SVG and PNG with the plot's title", async () => {
    const out = join(tmp, "week1")
    const written = await writeReport(reportInput(), { outDir: out, plots: pythonPlotRenderer() })
    expect(written.plotError).toBeUndefined()
    expect(written.path).toBe(join(out, "report.md"))
    const md = readFileSync(written.path, "utf8")
    const specs = buildReport(reportInput()).plots
    expect(written.plots.map((p) => p.name)).toEqual(specs.map((s) => s.name))
    for (const spec of specs) {
      const svg = parseSvg(join(out, `${spec.name}.svg`))
      expect(svg.root).toBe("svg")
      expect(svg.texts).toContain(spec.title)
      expect(svg.texts).toContain(spec.xlabel)
      expect(svg.texts).toContain(spec.ylabel)
      const png = pngSize(join(out, `${spec.name}.png`))
      expect(png.width).toBeGreaterThanOrEqual(400)
      expect(png.height).toBeGreaterThanOrEqual(300)
      expect(md).toContain(`(${spec.name}.svg)`)
    }
  }, 120_000)

  it("passes the kernel's error about a bad spec back, naming the bad value", async () => {
    const bad: PlotSpec = { kind: "bars", name: "x", title: "t", xlabel: "language", ylabel: "d (%)", categories: ["en", "he"], series: [{ label: "s", values: [1] }] }
    await expect(pythonPlotRenderer()([bad], join(tmp, "bad"))).rejects.toThrow("report-plots failed: ParameterError: bars plot 'x': series 's' has 1 values for 2 categories")
  }, 60_000)

  it("still writes the Markdown, with the reason, when plots cannot be drawn", async () => {
    const out = join(tmp, "noplots")
    const written = await writeReport(reportInput(), { outDir: out, plots: pythonPlotRenderer({ python: "/nonexistent/python3" }) })
    expect(written.plotError).toContain("cannot start /nonexistent/python3")
    expect(readFileSync(written.path, "utf8")).toContain("> Plots could not be drawn: cannot start /nonexistent/python3")
  })
})
