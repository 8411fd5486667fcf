import { describe, expect, it } from "vitest"
import { languageRows } from "../../src/ui/languages.js"
import { reduceAll } from "../../src/ui/state.js"
import { week1Events } from "../report/fixtures.js"

describe("the run state folded from the recorded week-1 stream", () => {
  const events = week1Events()
  const final = reduceAll(events)

  it("knows the run, its steps' final statuses and durations", () => {
    expect(final.runId).toBe("r-20261126-week1")
    expect(final.status).toBe("succeeded")
    expect(final.steps.map((s) => [s.id, s.status, s.durationMs])).toEqual([
      ["baseline", "succeeded", 3950],
      ["colab_001", "succeeded", 6830],
      ["colab_002", "succeeded", 5200],
      ["kaggle_001", "skipped", 0]
    ])
    expect(final.finished).toEqual(["baseline", "colab_001", "kaggle_001", "colab_002"])
    expect(final.record.map((r) => (r.kind === "step" ? r.id : `branch ${r.index}`))).toEqual(["baseline", "colab_001", "branch 0", "branch 1", "kaggle_001", "colab_002"])
    expect(final.reportPath).toBe(".polyquant/reports/r-20261126-week1/report.md")
    expect(final.budgets[0]!.usedHours).toBe(0.5019)
  })

  it("fills the language table from partials, then replaces it with the step's final outputs", () => {
    const i = events.findIndex((e) => e.type === "step-partial" && e.stepId === "colab_001")
    const afterTwo = reduceAll(events.slice(0, i + 2))
    expect(afterTwo.table?.stepId).toBe("colab_001")
    expect(afterTwo.table?.final).toBe(false)
    expect(afterTwo.table?.rows.map((r) => r.language)).toEqual(["en", "he"])
    expect(afterTwo.table?.rows[1]?.degradation).toEqual({ value: 0.19, ci: [0.13, 0.25] })
    expect(final.table?.stepId).toBe("colab_002")
    expect(final.table?.final).toBe(true)
    expect(final.table?.rows.map((r) => [r.language, r.baseline, r.quantized])).toEqual([
      ["en", 21.4, 23.0],
      ["he", 35.2, 38.9],
      ["ar", 30.8, 33.9],
      ["zh", 44.0, 49.0]
    ])
  })

  it("tracks progress for the ETA from the step's start", () => {
    const i = events.findIndex((e) => e.type === "step-progress" && e.stepId === "colab_001" && e.done === 4)
    const s = reduceAll(events.slice(0, i + 1)).steps.find((x) => x.id === "colab_001")!
    expect(s.status).toBe("running")
    expect(s.progress).toMatchObject({ done: 4, total: 8, unit: "windows", message: "baseline" })
    const started = events.find((e) => e.type === "step-started" && e.stepId === "colab_001")!
    expect(s.progress!.since).toBe(started.t)
  })
})

describe("languageRows", () => {
  it("reads the disparity kernel's row names", () => {
    const rows = languageRows({ languages: { en: { ppl_base: 10, ppl_quant: 11, degradation: { value: 0.1, ci: [0.05, 0.15] }, kl: 0.02, top1_agreement: 0.9 } } })
    expect(rows).toEqual([{ language: "en", baseline: 10, quantized: 11, degradation: { value: 0.1, ci: [0.05, 0.15] }, kl: 0.02, top1Agreement: 0.9, bitsPerByte: undefined, deltaBpb: undefined, tokens: undefined }])
  })
  it("reads a perplexity partial (one language)", () => {
    expect(languageRows({ language: "he", ppl: 35.2, bits_per_byte: 1.66, tokens: 1400 })).toMatchObject([{ language: "he", baseline: 35.2, bitsPerByte: 1.66, tokens: 1400 }])
  })
  it("finds nothing in outputs without per-language numbers", () => {
    expect(languageRows({ languages: ["en", "he"], rows: [] })).toEqual([])
    expect(languageRows(null)).toEqual([])
  })
})
