import { render } from "ink-testing-library"
import { describe, expect, it } from "vitest"
import type { RunEvent } from "../../src/engine/events.js"
import { App } from "../../src/ui/App.js"
import { RunViewStore } from "../../src/ui/RunViewStore.js"
import { week1Events } from "../report/fixtures.js"

const tick = () => new Promise((r) => setTimeout(r, 5))
const count = (s: string, sub: string) => s.split(sub).length - 1
const widest = (s: string) => Math.max(...s.split("\n").map((l) => [...l].length))

/** Drive the real App with the recorded stream; `until(e)` stops after the matching event. */
const drive = async (width: number, until?: (e: RunEvent) => boolean) => {
  const events = week1Events()
  const store = new RunViewStore()
  let now = events[0]!.t
  const stops: Array<{ reason: string; force: boolean }> = []
  const ui = render(<App store={store} clock={() => now} width={width} onStop={(r) => stops.push(r)} />)
  for (const e of events) {
    now = e.t
    store.push(e)
    await tick()
    if (until?.(e)) break
  }
  await tick()
  return { ui, stops, frame: () => ui.lastFrame() ?? "" }
}

describe("the dashboard driven by the recorded week-1 stream", () => {
  it("shows the header and the planned steps when the run starts", async () => {
    const { ui, frame } = await drive(80, (e) => e.type === "run-started")
    const f = frame()
    expect(f).toContain("polyquant week1-validation run r-20261126-week1 on local running 0ms")
    expect(f).toContain("budget kaggle: 2.25h used, 27.8h left of 30.0h/week")
    for (const id of ["baseline", "colab_001", "colab_002", "kaggle_001"]) expect(f).toMatch(new RegExp(`· ${id} \\S+ pending`))
    expect(f).toContain("q or Ctrl-C: stop")
    ui.unmount()
  })

  it("shows a progress bar with unit and ETA for the running step", async () => {
    const { ui, frame } = await drive(80, (e) => e.type === "step-progress" && e.stepId === "colab_001" && e.done === 4)
    const f = frame()
    expect(f).toMatch(/▶ colab_001 disparity running 3\.0s/) // 200 ms log + 4 × 700 ms since it started
    // 4 of 8 windows in 3.0 s since the step started → 4 left at 4/3 per s → 3.0 s
    expect(f).toMatch(/colab_001 █+░+ 4\/8 windows 50% eta 3\.0s/)
    expect(f).toContain("✔ baseline perplexity succeeded 4.0s")
    ui.unmount()
  })

  it("fills the per-language table as partial results arrive", async () => {
    const { ui, frame } = await drive(80, (e) => e.type === "step-partial" && e.stepId === "colab_001" && (e.result as { language: string }).language === "he")
    const f = frame()
    expect(f).toContain("colab_001 (partial)")
    expect(f).toMatch(/en\s+21\.4\s+24\.1\s+\+12\.6% \[\+8\.0%, \+17\.0%\]/)
    expect(f).toMatch(/he\s+35\.2\s+41\.9\s+\+19\.0% \[\+13\.0%, \+25\.0%\]/)
    expect(f).not.toMatch(/\bzh\s+44\.0\s+52\.6/)
    ui.unmount()
  })

  it("prints finished steps and branch decisions once, then ends with the summary and the report path", async () => {
    const { ui, frame } = await drive(80)
    const f = frame()
    expect(count(f, "✔ baseline perplexity succeeded 4.0s")).toBe(1)
    expect(count(f, "✔ colab_001 disparity succeeded 6.8s")).toBe(1)
    // the reason is cut to the line (79 columns), not wrapped
    const skipped = f.split("\n").filter((l) => l.startsWith("↷ kaggle_001 layer-sweep skipped 0ms if: steps.colab_001.outputs"))
    expect(skipped.length).toBe(1)
    expect(skipped[0]!.endsWith("…")).toBe(true)
    expect([...skipped[0]!].length).toBe(79)
    // once in the printed record, once in the summary
    expect(count(f, "⎇ colab_001: disparity 1.42 [1.10, 1.81] < 2.0 → colab_002")).toBe(2)
    expect(f).toContain("run r-20261126-week1 succeeded in 15.7s: 3 succeeded, 1 skipped")
    expect(f).toContain("report: .polyquant/reports/r-20261126-week1/report.md")
    expect(f).not.toContain("q or Ctrl-C")
    // the record comes first, in the order things happened
    expect(f.indexOf("✔ baseline")).toBeLessThan(f.indexOf("✔ colab_001"))
    expect(f.indexOf("✔ colab_001")).toBeLessThan(f.indexOf("⎇ colab_001"))
    expect(f.indexOf("↷ kaggle_001")).toBeLessThan(f.indexOf("✔ colab_002"))
    ui.unmount()
  })

  it("asks to stop on q, forces on the second press, and says it is stopping", async () => {
    const { ui, frame, stops } = await drive(80, (e) => e.type === "step-progress" && e.stepId === "colab_001" && e.done === 2)
    ui.stdin.write("q")
    await tick()
    expect(stops).toEqual([{ reason: "key", force: false }])
    expect(frame()).toContain("stopping…")
    expect(frame()).toContain("stopping: the running step checkpoints and stops")
    ui.stdin.write("\u0003") // Ctrl-C
    await tick()
    expect(stops).toEqual([
      { reason: "key", force: false },
      { reason: "key", force: true }
    ])
    ui.unmount()
  })

  it("fits 80 columns, and 40 columns without losing the essentials", async () => {
    for (const width of [80, 40]) {
      const { ui, frame } = await drive(width, (e) => e.type === "step-partial" && e.stepId === "colab_001" && (e.result as { language: string }).language === "zh")
      const f = frame()
      expect(widest(f), `widest line at ${width} columns`).toBeLessThanOrEqual(width)
      expect(f).toContain("colab_001")
      expect(f).toMatch(/zh\s+.*\+19\.5%/)
      ui.unmount()
    }
  })
})

describe("the dashboard at every width from 40 to 200 columns", () => {
  const WIDTHS = Array.from({ length: 161 }, (_, i) => 40 + i)

  it("cuts every line of every frame to the width, and keeps the essentials", async () => {
    const events = week1Events()
    // frames at the moments that fill the screen most: a progress bar, the partial table, the log tail, the end
    const moments = new Set(
      [
        events.findIndex((e) => e.type === "step-progress" && e.stepId === "colab_001" && e.done === 4),
        events.findIndex((e) => e.type === "step-partial" && e.stepId === "colab_001" && (e.result as { language: string }).language === "zh"),
        events.findIndex((e) => e.type === "log" && e.message.startsWith("bootstrap")),
        events.length - 1
      ].filter((i) => i >= 0)
    )
    expect(moments.size).toBe(4)
    for (const width of WIDTHS) {
      const store = new RunViewStore()
      let now = events[0]!.t
      const ui = render(<App store={store} clock={() => now} width={width} onStop={() => undefined} />)
      let sawTail = false
      for (const [i, e] of events.entries()) {
        now = e.t
        store.push(e)
        if (!moments.has(i)) continue
        await new Promise((r) => setImmediate(r))
        if ((ui.lastFrame() ?? "").includes("bootstrap: 30 doc")) sawTail = true
      }
      await tick()
      for (const [i, f] of ui.frames.entries()) expect(widest(f), `frame ${i} at ${width} columns`).toBeLessThanOrEqual(width)
      const f = ui.lastFrame() ?? ""
      // the printed record keeps one line per step and per branch, cut, never wrapped
      for (const line of ["✔ baseline", "✔ colab_001", "⎇ colab_001", "↷ kaggle_001", "✔ colab_002"]) expect(count(f, line), `${line} at ${width} columns`).toBeGreaterThanOrEqual(1)
      expect(f.split("\n").filter((l) => l.startsWith("↷ kaggle_001")).length, `the skipped line at ${width} columns`).toBe(1)
      expect(f.split("\n").filter((l) => l.startsWith("⎇ colab_001")).length, `branch lines at ${width} columns`).toBe(4)
      expect(f).toContain("succeeded in 15.7s")
      expect(sawTail, `the log tail at ${width} columns`).toBe(true)
      ui.unmount()
    }
  }, 60_000)

  it("shows the log tail while the run goes: the latest lines, warnings included, each on one line", async () => {
    const { ui, frame } = await drive(60, (e) => e.type === "log" && e.message.startsWith("bootstrap"))
    // inside the live area's border: "│ baseline: loaded … │"
    const lines = frame().split("\n").map((l) => l.replace(/^│ /, "").replace(/\s*│$/, ""))
    const tail = lines.filter((l) => l.startsWith("colab_001: ") || l.startsWith("baseline: "))
    expect(tail.map((l) => l.slice(0, 30))).toEqual(["baseline: loaded fixture:tiny-", "colab_001: quantizing 14 linea", "colab_001: bootstrap: 30 docum"])
    for (const l of tail) expect([...l].length).toBeLessThanOrEqual(60 - 4)
    expect(tail[0]!.endsWith("…")).toBe(true) // cut, not wrapped
    ui.unmount()
  })
})

describe("the dashboard's clock", () => {
  it("never runs backwards: at the end it stops where the run finished, not at the engine's shorter duration", async () => {
    const events = week1Events()
    const store = new RunViewStore()
    const start = events[0]!.t
    let now = start
    const ui = render(<App store={store} clock={() => now} width={100} onStop={() => undefined} />)
    const shown: number[] = []
    // the header's elapsed time: "… on local running 4.1s", "… on local succeeded 1m05s"
    const seconds = (text: string): number => {
      const m = /^(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+)ms)?$/.exec(text)
      return m ? Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0) + Number(m[4] ?? 0) / 1000 : NaN
    }
    const header = () => {
      const m = / on local (?:running|succeeded|failed|interrupted) (\S+)/.exec(ui.lastFrame() ?? "")
      return m ? seconds(m[1]!) : undefined
    }
    for (const e of events) {
      if (e.type === "run-finished") {
        // the report is written after the engine's duration ends, while the clock ticks on
        now = start + e.durationMs + 1_500
        await new Promise((r) => setTimeout(r, 400))
        const t = header()
        if (t !== undefined) shown.push(t)
        now += 500
      } else now = e.t
      store.push(e.type === "run-finished" ? { ...e, t: now } : e)
      await tick()
      const t = header()
      if (t !== undefined) shown.push(t)
    }
    expect(shown.length).toBeGreaterThan(3)
    expect(shown.every((t) => Number.isFinite(t))).toBe(true)
    for (let i = 1; i < shown.length; i++) expect(shown[i]!).toBeGreaterThanOrEqual(shown[i - 1]!)
    ui.unmount()
  })
})
