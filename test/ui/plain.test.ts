import { Writable } from "node:stream"
import { describe, expect, it } from "vitest"
import { RunEvent } from "../../src/engine/events.js"
import { createRenderer, pickMode } from "../../src/ui/index.js"
import { week1Events } from "../report/fixtures.js"

const sink = () => {
  const chunks: string[] = []
  const stream = new Writable({
    write(chunk, _enc, cb) {
      chunks.push(chunk.toString())
      cb()
    }
  }) as unknown as NodeJS.WriteStream
  return { stream, chunks }
}

describe("--plain", () => {
  it("prints one readable line per event, without ANSI escapes", async () => {
    const { stream, chunks } = sink()
    const ui = createRenderer("plain", { stdout: stream, timestamps: false })
    const events = week1Events()
    for (const e of events) ui.handle(e)
    await ui.close()
    expect(chunks.length).toBe(events.length)
    for (const c of chunks) {
      expect(c).not.toContain("\u001b")
      expect(c.endsWith("\n")).toBe(true)
      expect(c.slice(0, -1)).not.toContain("\n")
    }
    const text = chunks.join("")
    expect(chunks[0]).toBe(
      "run r-20261126-week1 started: workflow week1-validation (workflows/quickstart.yaml), 4 steps on local; budgets colab-free 0.50h/4.00h per day, kaggle 2.25h/30.0h per week\n"
    )
    expect(text).toContain("colab_001 4/8 windows 50% eta 3.0s baseline\n")
    expect(text).toContain("colab_001 partial: en d=+12.6% [+8.0%, +17.0%]\n")
    expect(text).toContain("✔ colab_001 succeeded in 6.8s — disparity 1.42 [1.10, 1.81], worst zh — en d=+12.6% [+8.0%, +17.0%]; he d=+19.0% [+13.0%, +25.0%]; ar d=+17.8% [+12.0%, +24.0%]; zh d=+19.5% [+14.0%, +26.0%]\n")
    expect(text).toContain("✔ colab_002 succeeded in 5.2s — disparity 1.42 [0.95, 2.60], worst zh — en d=+7.5% [+4.0%, +11.0%]; he")
    expect(text).toContain("branch colab_001: disparity 1.42 [1.10, 1.81] < 2.0 → colab_002\n")
    expect(text).toContain("↷ kaggle_001 skipped in 0ms (if: steps.colab_001.outputs.disparity.value >= 2.0 was false)\n")
    expect(text).toContain("warn: colab_001: bootstrap: 30 documents per language, CIs are wide\n")
    expect(chunks.at(-1)).toBe("run r-20261126-week1 succeeded in 15.7s (3 succeeded, 1 skipped); report .polyquant/reports/r-20261126-week1/report.md\n")
  })

  it("prefixes the time of day by default", async () => {
    const { stream, chunks } = sink()
    const ui = createRenderer("plain", { stdout: stream })
    ui.handle(week1Events()[1]!)
    await ui.close()
    expect(chunks[0]).toBe("14:00:00 baseline started\n")
  })
})

describe("--json", () => {
  it("prints each event as one JSON line that parses back to the same event", async () => {
    const { stream, chunks } = sink()
    const ui = createRenderer("json", { stdout: stream })
    const events = week1Events()
    for (const e of events) ui.handle(e)
    await ui.close()
    expect(chunks.map((c) => RunEvent.parse(JSON.parse(c)))).toEqual(events)
  })
})

describe("pickMode", () => {
  it("uses Ink only on a terminal, and honours --plain and --json", () => {
    const ci = process.env["CI"]
    delete process.env["CI"]
    try {
      expect(pickMode({}, { isTTY: true })).toBe("ink")
      expect(pickMode({}, { isTTY: false })).toBe("plain")
      expect(pickMode({ plain: true }, { isTTY: true })).toBe("plain")
      expect(pickMode({ json: true, plain: true }, { isTTY: true })).toBe("json")
    } finally {
      if (ci !== undefined) process.env["CI"] = ci
    }
  })
})

describe("stop requests", () => {
  it("turns SIGINT into onStop (graceful, then forced) until the renderer closes", async () => {
    const { stream } = sink()
    const stops: Array<{ reason: string; force: boolean }> = []
    const ui = createRenderer("plain", { stdout: stream, onStop: (r) => stops.push(r) })
    process.emit("SIGINT")
    process.emit("SIGINT")
    await ui.close()
    const before = process.listenerCount("SIGINT")
    expect(stops).toEqual([
      { reason: "signal", force: false },
      { reason: "signal", force: true }
    ])
    const ui2 = createRenderer("plain", { stdout: stream, onStop: () => undefined })
    expect(process.listenerCount("SIGINT")).toBe(before + 1)
    await ui2.close()
    expect(process.listenerCount("SIGINT")).toBe(before)
  })
})
