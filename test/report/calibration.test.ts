/** PRO-002 in the report: the legend names the calibration set, and each set's balance stands beside its disparity index. */
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
