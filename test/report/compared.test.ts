/**
 * The report's "Compared with" section (`report RUN --compare OTHER`): blocks of the report
 * document (a heading, paragraphs, tables, a list), so that every renderer shows it; in the
 * Markdown after the results, its table cells recomputed here from the rows' numbers. Without
 * runs to compare, there is no such section.
 */
import { describe, expect, it } from "vitest"
import { buildReport } from "../../src/report/index.js"
import { compareRuns, type ComparedRun } from "../../src/results/compare.js"
import type { TidyRow } from "../../src/results/tidy.js"
import { reportInput } from "./fixtures.js"

const row = (run: string, step: string, language: string, metric: string, value: number, ci: [number, number] | null = null): TidyRow => ({
  run, step, kernel: "disparity", model: "fixture:tiny-llama", language, metric, value, ci_lo: ci?.[0] ?? null, ci_hi: ci?.[1] ?? null
})

const here: ComparedRun = {
  id: "r-20261126-week1",
  workflow: "week1-validation",
  startedAt: Date.UTC(2026, 10, 26, 9),
  status: "succeeded",
  steps: [{ id: "colab_001", kernel: "disparity", status: "succeeded" }, { id: "colab_002", kernel: "disparity", status: "succeeded" }],
  rows: [
    row("r-20261126-week1", "colab_001", "en", "degradation", 0.126, [0.08, 0.17]),
    row("r-20261126-week1", "colab_001", "he", "degradation", 0.19, [0.13, 0.25]),
    row("r-20261126-week1", "colab_001", "", "disparity", 1.42, [1.1, 1.81]),
    row("r-20261126-week1", "colab_002", "en", "degradation", 0.15, [0.1, 0.2])
  ]
}
const other: ComparedRun = {
  id: "r-20261127-fixed",
  workflow: "week1-validation",
  startedAt: Date.UTC(2026, 10, 27, 9),
  status: "succeeded",
  steps: [{ id: "colab_001", kernel: "disparity", status: "succeeded" }],
  rows: [
    row("r-20261127-fixed", "colab_001", "en", "degradation", 0.0748, [0.05, 0.1]),
    row("r-20261127-fixed", "colab_001", "he", "degradation", 0.0227, [0.01, 0.04]),
    row("r-20261127-fixed", "colab_001", "", "disparity", 0.3)
  ]
}

describe('the "Compared with" section', () => {
  const result = compareRuns([here, other], { by: "step" })
  if (!result.ok) throw new Error(result.problem)
  const built = buildReport({ ...reportInput(), compared: result.comparison })

  it("is data: a level-2 heading, then paragraphs, tables and a list in the report's blocks", () => {
    const at = built.blocks.findIndex((b) => b.kind === "heading" && b.text === "Compared with")
    expect(at).toBeGreaterThan(built.blocks.findIndex((b) => b.kind === "heading" && b.text === "Results"))
    const section = built.blocks.slice(at)
    expect(section[0]).toEqual({ kind: "heading", level: 2, text: "Compared with" })
    const tables = section.filter((b) => b.kind === "table")
    expect(tables.map((t) => (t.kind === "table" ? t.header : []))).toEqual([
      ["", "run", "workflow", "started (UTC)", "status", "model"],
      ["step", "kernel", "A", "B"],
      ["language", "metric", "A", "B", "Δ B−A", "Δ% B", "CIs B·A", "CI A", "CI B"]
    ])
    expect(section.some((b) => b.kind === "list")).toBe(true) // the rows of one run only
  })

  it("shows each run's value, the delta against this run, and CI overlap, recomputed here", () => {
    const md = built.markdown
    expect(md).toContain("## Compared with\n\nThis run (A, r-20261126-week1) against B (r-20261127-fixed). Rows matched by step id, model, language and metric.")
    expect(md).toContain("| A | r-20261126-week1 | week1-validation | 2026-11-26 09:00:00 | succeeded | fixture:tiny-llama |")
    expect(md).toContain("| colab_002 | disparity | 1 row | – |")
    expect(md).toContain("**colab_001 · disparity · fixture:tiny-llama**")
    const cells = (lang: string, metric: string) =>
      md
        .split("\n")
        .find((l) => l.startsWith(`| ${lang} | ${metric} |`))!
        .slice(2, -2)
        .split(" | ")
    const check = (lang: string, metric: string, a: [number, number | null, number | null], b: [number, number | null, number | null]) => {
      const c = cells(lang, metric)
      const overlap = a[1] === null || b[1] === null ? "n/a" : Math.max(a[1], b[1]) <= Math.min(a[2]!, b[2]!) ? "yes" : "no"
      expect(Number(c[2])).toBeCloseTo(a[0], 4)
      expect(Number(c[3])).toBeCloseTo(b[0], 4)
      expect(Number(c[4])).toBeCloseTo(b[0] - a[0], 4)
      expect(c[5]).toBe(`${b[0] - a[0] >= 0 ? "+" : ""}${((100 * (b[0] - a[0])) / Math.abs(a[0])).toFixed(1)}%`)
      expect(c[6]).toBe(overlap)
    }
    check("en", "degradation", [0.126, 0.08, 0.17], [0.0748, 0.05, 0.1])
    check("he", "degradation", [0.19, 0.13, 0.25], [0.0227, 0.01, 0.04])
    check("(step)", "disparity", [1.42, 1.1, 1.81], [0.3, null, null])
    expect(cells("he", "degradation")[6]).toBe("no")
    expect(md).toContain("- colab_002 · disparity · fixture:tiny-llama: 1 row only in A (not in B): en degradation")
    expect(md).toContain("Non-overlap is a conservative signal of a difference; overlap is not proof of none.")
  })

  it("is absent when no run is compared", () => {
    const plain = buildReport(reportInput())
    expect(plain.markdown).not.toContain("Compared with")
    expect(plain.blocks.some((b) => b.kind === "heading" && b.text === "Compared with")).toBe(false)
  })
})
