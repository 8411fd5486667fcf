/** Comparisons across steps in the report: calibration sets (PRO-002) with their balance and disparity index, and bit sweeps as lines. */
import { describe, expect, it } from "vitest"
import { buildReport } from "../../src/report/write.js"
import type { ReportInput, ReportStep } from "../../src/report/types.js"

const est = (value: number, lo: number, hi: number) => ({ value, ci: [lo, hi] })
const step = (id: string, languages: string[], per: Record<string, { samples: number; tokens: number; bytes: number }>, index: number): ReportStep => ({
  id,
  uses: "disparity",
  status: "succeeded",
  with: { quant: { method: "gptq", calibration: { languages } } },
  outputs: {
    reference: "en",
    quant: { method: "gptq", bits: 4, group_size: 32, sym: false, modules: 28, mean_rel_error: 0.1, calibration: { languages, mix: "bytes", samples: 16, seq_len: 128, per_language: per } },
    languages: { en: { degradation: est(0.01, 0.0, 0.02) }, he: { degradation: est(0.02, 0.01, 0.03) } },
    disparity: { ...est(index, index - 0.5, index + 0.5), defined: true },
    worst_language: "he"
  }
})

describe("calibration sets in the report", () => {
  it("labels each set by its languages and tabulates samples / bytes per language with the disparity index", () => {
    const input: ReportInput = {
      workflow: { name: "pro-002", file: "workflows/pro-002.yaml" },
      run: { id: "20261202-155436-981d", status: "succeeded", startedAt: 0 },
      steps: [
        step('calibration[calibration=["en"]]', ["en"], { en: { samples: 16, tokens: 2048, bytes: 5476 } }, 2.5),
        step('calibration[calibration=["en","he"]]', ["en", "he"], { en: { samples: 8, tokens: 1024, bytes: 2700 }, he: { samples: 8, tokens: 1024, bytes: 2900 } }, 1.2)
      ],
      branches: []
    }
    const r = buildReport(input)
    expect(r.markdown).toContain("| language | calibration en | calibration en+he |")
    expect(r.markdown).toContain("| calibration set | en | he | disparity index | worst |")
    expect(r.markdown).toContain("| calibration en | 16 / 5476 | – | 2.50 [2.00, 3.00] | he |")
    expect(r.markdown).toContain("| calibration en+he | 8 / 2700 | 8 / 2900 | 1.20 [0.70, 1.70] | he |")
    const bars = r.plots.find((p) => p.name === "calibration-comparison")
    expect(bars?.kind === "bars" && bars.series.map((s) => s.label)).toEqual(["calibration en", "calibration en+he"])
  })
})

describe("a bit sweep", () => {
  it("plots degradation against bits, one line per language with its CI", () => {
    const at = (bits: number, en: number, he: number): ReportStep => ({
      id: `int${bits}`,
      uses: "disparity",
      status: "succeeded",
      outputs: { quant: { method: "rtn", bits, group_size: 32, sym: false }, languages: { en: { degradation: est(en, en - 0.01, en + 0.01) }, he: { degradation: est(he, he - 0.02, he + 0.02) } }, disparity: { ...est(1, 0.5, 1.5), defined: true } }
    })
    const r = buildReport({ workflow: { name: "bits", file: "b.yaml" }, run: { id: "20261202-155436-981d", status: "succeeded", startedAt: 0 }, steps: [at(3, 0.1, 0.3), at(4, 0.02, 0.05), at(8, 0.001, 0.002)], branches: [] })
    const p = r.plots.find((x) => x.name === "degradation-by-bits")
    expect(p?.kind).toBe("lines")
    if (p?.kind !== "lines") return
    expect(p.series.map((s) => s.label)).toEqual(["en", "he"])
    expect(p.series[1]!.points.map((q) => [q.x, q.y])).toEqual([[3, 30], [4, 5], [8, 0.2]])
    expect(p.series[1]!.points[0]!.y_lo).toBeCloseTo(28, 10)
  })
})
