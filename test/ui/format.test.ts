import { describe, expect, it } from "vitest"
import { describeBranch, etaMs, formatDuration, formatEstimate, formatNumber, formatPercent, progressBar } from "../../src/ui/format.js"

describe("formatters", () => {
  it("formats durations at each scale", () => {
    expect(formatDuration(950)).toBe("950ms")
    expect(formatDuration(6830)).toBe("6.8s")
    expect(formatDuration(65_000)).toBe("1m05s")
    expect(formatDuration(3_725_000)).toBe("1h02m")
    expect(formatDuration(-1)).toBe("?")
  })

  it("formats numbers, percents and estimates with CIs", () => {
    expect(formatNumber(21.4)).toBe("21.4")
    expect(formatNumber(1234.6)).toBe("1235")
    expect(formatNumber(0.0421)).toBe("0.042")
    expect(formatNumber(null)).toBe("–")
    expect(formatPercent(0.126)).toBe("+12.6%")
    expect(formatPercent(-0.05)).toBe("-5.0%")
    expect(formatEstimate({ value: 1.42, ci: [1.1, 1.81] })).toBe("1.42 [1.10, 1.81]")
    expect(formatEstimate({ value: 0.126, ci: [0.08, 0.17] }, "percent")).toBe("+12.6% [+8.0%, +17.0%]")
    expect(formatEstimate({ value: 0.5, ci: [null, null] })).toBe("0.500")
  })

  it("draws a progress bar proportional to done/total", () => {
    expect(progressBar(3, 10, 10)).toBe("███░░░░░░░")
    expect(progressBar(10, 10, 4)).toBe("████")
    expect(progressBar(5, 0, 4)).toBe("░░░░")
  })

  it("extrapolates the ETA from the rate so far", () => {
    // 2 of 8 in 1000 ms → 6 left at 2/s → 3000 ms
    expect(etaMs(2, 8, 0, 1000)).toBe(3000)
    expect(etaMs(0, 8, 0, 1000)).toBeUndefined()
    expect(etaMs(8, 8, 0, 1000)).toBe(0)
  })

  it("writes a branch decision with the values that decided it", () => {
    const outputs = { disparity: { value: 1.42, ci: [1.1, 1.81], defined: true } }
    const d = { stepId: "colab_002", expression: "steps.colab_001.outputs.disparity.value < 2", result: true, values: { "steps.colab_001.outputs.disparity.value": 1.42 } }
    expect(describeBranch(d, () => outputs)).toBe("colab_001: disparity 1.42 [1.10, 1.81] < 2 → colab_002")
    expect(describeBranch({ ...d, stepId: "kaggle_001", expression: "steps.colab_001.outputs.disparity.value >= 2", result: false })).toBe(
      "colab_001: disparity 1.42 >= 2 → kaggle_001 skipped"
    )
    expect(describeBranch({ stepId: "b", expression: "steps.a.status == 'failed'", result: false, values: { "steps.a.status": "succeeded" } })).toBe(
      "a: status succeeded == 'failed' → b skipped"
    )
  })
})
