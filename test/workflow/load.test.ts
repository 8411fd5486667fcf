/** Loading valid workflows: defaults, --set, durations, matrix expansion, positions. */
import { describe, expect, it } from "vitest"
import { formatIssue } from "../../src/workflow/errors.js"
import { parseDuration, formatDuration } from "../../src/workflow/duration.js"
import { checkWorkflowText } from "../../src/workflow/load.js"
import { expandMatrix, instanceId } from "../../src/workflow/matrix.js"
import { plan } from "../../src/plan/plan.js"

const load = (text: string, sets: string[] = []) => {
  const r = checkWorkflowText(text, "w.yaml", { sets, baseDir: process.cwd() })
  if (!r.ok) throw new Error(r.issues.map(formatIssue).join("\n"))
  return r.workflow
}
const issues = (text: string, sets: string[] = []) => {
  const r = checkWorkflowText(text, "w.yaml", { sets, baseDir: process.cwd() })
  return r.ok ? [] : r.issues.map(formatIssue)
}

describe("durations", () => {
  it.each([
    ["90s", 90],
    ["30m", 1800],
    ["6h", 21600],
    ["1h30m", 5400],
    ["2d", 172800],
    ["0.75h", 2700],
    [45, 45]
  ])("%s = %d s", (text, seconds) => {
    expect(parseDuration(text)).toBe(seconds)
  })
  it.each(["", "30", "half an hour", "5x", "-3m"])("%s is not a duration", (text) => {
    expect(parseDuration(text)).toBeUndefined()
  })
  it("formats back", () => {
    expect([90, 1800, 5400, 21600].map(formatDuration)).toEqual(["1m30s", "30m", "1h30m", "6h"])
  })
})

describe("matrix", () => {
  it("is a cartesian product, first axis slowest, minus excludes, plus includes", () => {
    const combos = expandMatrix({ axes: { bits: [2, 3], gs: [32, 64] }, exclude: [{ bits: 2, gs: 64 }], include: [{ bits: 3, extra: true }, { bits: 8, gs: -1 }] })
    expect(combos).toEqual([
      { bits: 2, gs: 32 },
      { bits: 3, gs: 32, extra: true },
      { bits: 3, gs: 64, extra: true },
      { bits: 8, gs: -1 }
    ])
    expect(instanceId("sweep", { model: { id: "fixture:tiny-llama" }, bits: 3 })).toBe("sweep[model=fixture:tiny-llama,bits=3]")
  })
})

const base = `
name: w
defaults:
  model: fixture:tiny-gpt2
  corpus: { languages: [en, de] }
  quant: { bits: 3, sym: true, group_size: 64 } # the fixtures' in_features are 64 and 192
steps:
  a:
    uses: test-echo
    with:
      quant: { method: gptq, calibration: { samples: 8 } }
  b:
    uses: test-sleep
    needs: a
    with: { seconds: 1 }
`

describe("defaults and --set", () => {
  it("merges defaults where the kernel accepts them (model/corpus at its paths, other keys deeply)", () => {
    const p = plan(load(base))
    const a = p.steps.find((s) => s.id === "a")!.with as Record<string, Record<string, unknown>>
    expect(a["model"]).toMatchObject({ id: "fixture:tiny-gpt2" })
    expect(a["corpus"]).toEqual({ source: "udhr", languages: ["en", "de"], split: "heldout" })
    expect(a["quant"]).toMatchObject({ method: "gptq", bits: 3, sym: true, group_size: 64 })
    expect((a["quant"]!["calibration"] as Record<string, unknown>)["corpus"]).toEqual({ source: "udhr", languages: ["en", "de"], split: "train" })
    expect(p.steps.find((s) => s.id === "b")!.with).toEqual({ seconds: 1 }) // test-sleep takes none of the defaults
  })

  it("applies --set before validation, YAML-parsing values", () => {
    const p = plan(load(base, ["steps.b.with.seconds=2.5", "steps.a.with.quant.bits=8", "defaults.corpus.languages=[he]"]))
    expect(p.steps.find((s) => s.id === "b")!.with).toEqual({ seconds: 2.5 })
    const a = p.steps.find((s) => s.id === "a")!.with as Record<string, Record<string, unknown>>
    expect(a["quant"]!["bits"]).toBe(8)
    expect(a["corpus"]!["languages"]).toEqual(["he"])
  })

  it("names the --set that caused an error", () => {
    expect(issues(base, ["steps.b.with.seconds=-1", "steps.b.colour=red", "nonsense"])).toEqual([
      "w.yaml: --set nonsense: expected path=value, e.g. --set steps.colab_001.with.quant.bits=3",
      "w.yaml:13:5 steps.b.colour: unknown key 'colour' (allowed: uses, with, needs, if, matrix, platform, estimate, timeout, retry, continue_on_error, name, description) (from --set steps.b.colour=red)",
      "w.yaml:15:22 steps.b.with.seconds: must be at least 0, got number -1 (from --set steps.b.with.seconds=-1)"
    ])
  })

  it("changes the digest with the content and only with it", () => {
    expect(load(base).digest).toBe(load(base.replace("name: w", "name: w\n")).digest)
    expect(load(base).digest).not.toBe(load(base, ["steps.b.with.seconds=2"]).digest)
  })

  it("reports every error at once, sorted by position", () => {
    const lines = issues(`
name: w
steps:
  a:
    uses: test-sleep
    with: { seconds: fast }
    timeout: soon
  b:
    uses: test-count
    needs: [a]
    if: steps.a.outputs.slept
    with: { to: 1.5 }
`)
    expect(lines).toEqual([
      "w.yaml:6:22 steps.a.with.seconds: expected a number, got the string \"fast\"",
      "w.yaml:7:14 steps.a.timeout: a duration is a number of seconds or text such as 90s, 30m, 6h, 1h30m",
      "w.yaml:11:9 steps.b.if: a condition must be true or false; this one is double",
      "w.yaml:12:17 steps.b.with.to: expected an integer, got number 1.5"
    ])
  })
})

describe("where an error is reported", () => {
  it("a bad default is reported once, under defaults, even when merged into several steps", () => {
    expect(
      issues(`
name: w
defaults:
  quant: { bits: 9 }
  model: { id: fixture:tiny-llama, dtype: float8 }
steps:
  a: { uses: test-echo, with: { quant: { method: rtn } } }
  b: { uses: test-echo, with: { quant: { method: gptq } } }
`)
    ).toEqual([
      "w.yaml:4:18 defaults.quant.bits: bits must be between 2 and 8",
      "w.yaml:5:43 defaults.model.dtype: expected one of auto, float32, float16, bfloat16; got the string \"float8\""
    ])
  })

  it("a bad matrix value names its instance", () => {
    expect(
      issues(`
name: w
steps:
  a:
    uses: test-echo
    matrix: { model: [fixture:tiny-llama, fixture:tiny-bert] }
`)
    ).toEqual(["w.yaml:5:5 steps.a.with.model.id: unknown fixture 'fixture:tiny-bert' (fixtures: fixture:tiny-llama, fixture:tiny-gpt2) (matrix model=fixture:tiny-bert)"])
  })
})
