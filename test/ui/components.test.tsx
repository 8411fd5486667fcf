import { render } from "ink-testing-library"
import { describe, expect, it } from "vitest"
import { BranchLine } from "../../src/ui/BranchLine.js"
import { Header } from "../../src/ui/Header.js"
import { LanguageTable } from "../../src/ui/LanguageTable.js"
import { LogTail } from "../../src/ui/LogTail.js"
import { ProgressLine } from "../../src/ui/ProgressLine.js"
import { StepLine } from "../../src/ui/StepLine.js"
import { Summary } from "../../src/ui/Summary.js"
import { reduceAll } from "../../src/ui/state.js"
import { week1Events } from "../report/fixtures.js"

const frame = (el: React.ReactElement): string => {
  const r = render(el)
  const out = r.lastFrame() ?? ""
  r.unmount()
  return out
}
const widest = (s: string) => Math.max(...s.split("\n").map((l) => [...l].length))

const budgets = [
  { platform: "colab-free", window: "day" as const, limitHours: 4, usedHours: 0.5 },
  { platform: "kaggle", window: "week" as const, limitHours: 30, usedHours: 29.5 }
]

describe("Header", () => {
  it("shows workflow, run, platform, status, elapsed time and budgets", () => {
    const out = frame(<Header workflow="week1-validation" runId="r-1" platform="local" elapsedMs={65_000} status="running" resumed={false} budgets={budgets} width={80} />)
    expect(out).toContain("polyquant week1-validation run r-1 on local running 1m05s")
    expect(out).toContain("budget colab-free: 0.50h used, 3.50h left of 4.00h/day")
    expect(out).toContain("budget kaggle: 29.5h used, 0.50h left of 30.0h/week")
    expect(out).toMatchSnapshot()
  })
  it("shortens budgets when narrow", () => {
    const out = frame(<Header workflow="w" runId="r-1" platform="local" elapsedMs={1000} status="interrupted" resumed budgets={budgets} width={40} />)
    expect(out).toContain("colab-free 3.50h left")
    expect(out).toContain("(resumed)")
    expect(out).toMatchSnapshot()
  })
})

describe("StepLine", () => {
  const step = { id: "colab_001", uses: "disparity", needs: [], status: "succeeded" as const, attempt: 1, durationMs: 6830, checkpoints: 0 }
  it("shows icon, id, kernel, status and duration", () => {
    expect(frame(<StepLine step={step} now={0} width={80} />)).toBe("✔ colab_001 disparity succeeded 6.8s")
  })
  it("adds the gist of a finished step's outputs", () => {
    const outputs = { disparity: { value: 2.345, ci: [0.9, 4], defined: true }, worst_language: "he" }
    expect(frame(<StepLine step={{ ...step, outputs }} now={0} width={80} />)).toBe("✔ colab_001 disparity succeeded 6.8s disparity 2.35 [0.90, 4.00], worst he")
    const undef = { disparity: { value: 9, ci: [-3, 20], defined: false, reason: "…" }, worst_language: "he" }
    expect(frame(<StepLine step={{ ...step, outputs: undef }} now={0} width={80} />)).toBe("✔ colab_001 disparity succeeded 6.8s disparity undefined (reference CI contains 0), worst he")
    const sweep = { critical_layers: [{ layers: [3], label: "layer 3", score: 0.03 }] }
    expect(frame(<StepLine step={{ ...step, uses: "layer-sweep", outputs: sweep }} now={0} width={80} />)).toBe("✔ colab_001 layer-sweep succeeded 6.8s most critical: layer 3")
  })
  it("marks cache hits, reasons and errors", () => {
    expect(frame(<StepLine step={{ ...step, status: "cached", durationMs: 2 }} now={0} width={80} />)).toBe("◆ colab_001 disparity cached 2ms cache hit")
    expect(frame(<StepLine step={{ ...step, status: "deferred", durationMs: undefined, estimateSeconds: 21600, reason: "kaggle has 0.50h left, needs 6.00h" }} now={0} width={80} />)).toBe(
      "⏸ colab_001 disparity deferred ~6h00m kaggle has 0.50h left, needs 6.00h"
    )
    const failed = frame(<StepLine step={{ ...step, status: "failed", error: { type: "KernelCrashedError", message: "worker died (SIGKILL)" } }} now={0} width={80} />)
    expect(failed).toBe("✘ colab_001 disparity failed 6.8s KernelCrashedError: worker died (SIGKILL)")
  })
  it("shows the running time of a running step and drops the kernel when narrow", () => {
    expect(frame(<StepLine step={{ ...step, status: "running", durationMs: undefined, startedAt: 1000 }} now={4000} width={50} />)).toBe("▶ colab_001 running 3.0s")
  })
})

describe("ProgressLine", () => {
  it("draws a bar with counts, unit, percent and ETA", () => {
    const out = frame(<ProgressLine stepId="colab_001" progress={{ done: 2, total: 8, unit: "windows", message: "baseline", since: 0, sinceDone: 0, t: 1000 }} now={1000} width={80} />)
    // 2 of 8 windows in 1 s: 6 left at 2/s → 3.0 s
    expect(out).toContain("2/8 windows 25% eta 3.0s")
    expect(out).toContain("colab_001 " + "█".repeat(8) + "░".repeat(22) + " 2/8") // 30 cells, a quarter of them (7.5) rounded up
    expect(out).toContain("baseline")
    expect(out).toMatchSnapshot()
  })
  it("drops the bar in a narrow terminal", () => {
    const out = frame(<ProgressLine stepId="colab_001" progress={{ done: 2, total: 8, unit: "windows", since: 0, sinceDone: 0, t: 1000 }} now={1000} width={30} />)
    expect(out).toBe("colab_001 2/8 windows 25% eta 3.0s")
  })
})

describe("LanguageTable", () => {
  const rows = [
    { language: "en", baseline: 21.4, quantized: 24.1, degradation: { value: 0.126, ci: [0.08, 0.17] as const } },
    { language: "zh", baseline: 44, quantized: 52.6, degradation: { value: 0.195, ci: [0.14, 0.26] as const } }
  ]
  it("shows baseline, quantized and degradation with CI", () => {
    const out = frame(<LanguageTable stepId="colab_001" rows={rows} final width={80} />)
    expect(out.split("\n")[2]).toMatch(/^en\s+21\.4\s+24\.1\s+\+12\.6% \[\+8\.0%, \+17\.0%\]$/)
    expect(out.split("\n")[3]).toMatch(/^zh\s+44\.0\s+52\.6\s+\+19\.5% \[\+14\.0%, \+26\.0%\]$/)
    expect(out).toMatchSnapshot()
  })
  it("drops the CI, then perplexities, as the terminal narrows", () => {
    const mid = frame(<LanguageTable stepId="colab_001" rows={rows} final={false} width={60} />)
    expect(mid).toContain("(partial)")
    expect(mid.split("\n")[2]).toMatch(/^en\s+21\.4\s+24\.1\s+\+12\.6%$/)
    const narrow = frame(<LanguageTable stepId="colab_001" rows={rows} final width={30} />)
    expect(narrow.split("\n")[2]).toMatch(/^en\s+\+12\.6%$/)
    expect(widest(narrow)).toBeLessThanOrEqual(30)
  })
  it("shows perplexity rows (no quantized variant) with bits per byte", () => {
    const out = frame(<LanguageTable stepId="baseline" rows={[{ language: "he", baseline: 35.2, bitsPerByte: 1.66, tokens: 1400 }]} final width={80} />)
    expect(out.split("\n")[1]).toMatch(/^lang\s+PPL\s+bits\/byte\s+tokens$/)
    expect(out.split("\n")[2]).toMatch(/^he\s+35\.2\s+1\.66\s+1400$/)
  })
})

describe("BranchLine, LogTail and Summary", () => {
  const run = reduceAll(week1Events())
  const outputsOf = (id: string) => run.steps.find((s) => s.id === id)?.outputs
  it("states a branch decision with its values", () => {
    expect(frame(<BranchLine branch={run.branches[0]!} outputsOf={outputsOf} />)).toBe("⎇ colab_001: disparity 1.42 [1.10, 1.81] < 2.0 → colab_002")
    expect(frame(<BranchLine branch={run.branches[1]!} outputsOf={outputsOf} />)).toBe("⎇ colab_001: disparity 1.42 [1.10, 1.81] >= 2.0 → kaggle_001 skipped")
  })
  it("keeps the last lines of the log, one terminal line each", () => {
    const logs = [1, 2, 3, 4].map((i) => ({ t: i, level: "info" as const, message: `line ${i}\nsecond part` }))
    expect(frame(<LogTail logs={logs} lines={2} />)).toBe("line 3 ⏎ second part\nline 4 ⏎ second part")
  })
  it("sums up the run with counts, branches and the report path", () => {
    const out = frame(<Summary run={run} />)
    expect(out).toContain("run r-20261126-week1 succeeded in 15.7s: 3 succeeded, 1 skipped")
    expect(out).toContain("report: .polyquant/reports/r-20261126-week1/report.md")
    expect(out).toMatchSnapshot()
  })
})
