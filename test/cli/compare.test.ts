/**
 * `polyquant compare RUN RUN...` and `report RUN --compare OTHER` on a store of runs written
 * without Python (compareStore.ts). Every number printed is checked against the stored outputs,
 * read here without src/results: values, deltas recomputed as later − first, relative deltas as
 * Δ/|first|, CI overlap recomputed from the bounds. Matching by step and by kernel, rows in one run
 * only, the --json document, and every bad input: one line on stderr, exit 2, nothing on stdout,
 * and the store as it was.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { compareText, run as compare } from "../../src/cli/commands/compare.js"
import { run as report } from "../../src/cli/commands/report.js"
import { compareRuns, type ComparedRun, type Comparison } from "../../src/results/compare.js"
import { RunStore } from "../../src/store/RunStore.js"
import { runRows } from "../store/runRows.js"
import { expectedRows, makeCompareStore, MODEL, overlapOf, printedClose, RUNS, T0, type Expected } from "./compareStore.js"

const tmp = mkdtempSync(join(tmpdir(), "pq-compare-"))
const store = join(tmp, "pq.db")
beforeAll(() => makeCompareStore(store))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

const A = "r-20261126-base"
const B = "r-20261127-fix1"
const C = "r-20261128-rnmd"

const capture = async (command: (args: ReadonlyArray<string>) => Promise<number>, args: ReadonlyArray<string>): Promise<{ code: number; out: string; err: string }> => {
  let out = ""
  let err = ""
  const o = process.stdout.write.bind(process.stdout)
  const e = process.stderr.write.bind(process.stderr)
  process.stdout.write = ((c: string) => ((out += c), true)) as typeof process.stdout.write
  process.stderr.write = ((c: string) => ((err += c), true)) as typeof process.stderr.write
  try {
    return { code: await command(args), out, err }
  } finally {
    process.stdout.write = o
    process.stderr.write = e
  }
}
const run = (...args: string[]) => capture(compare, [...args, "--store", store])

/** The stored outputs of a run's step, straight from the store. */
const stored = (runId: string, stepId: string): Map<string, Expected> => {
  const db = RunStore.open(store)
  try {
    return expectedRows(db.getStep(runId, stepId)?.outputs)
  } finally {
    db.close()
  }
}

/** The text's blocks (separated by blank lines), each as lines. */
const blocks = (text: string): string[][] => text.trimEnd().split("\n\n").map((b) => b.split("\n"))
const cells = (line: string): string[] => line.trim().split(/\s{2,}/)
const block = (text: string, first: string): string[] => {
  const b = blocks(text).find((x) => x[0] === first)
  expect(b, `a block opening with '${first}' in\n${text}`).toBeDefined()
  return b!
}

const expectPrinted = (printed: string | undefined, expected: number, what: string) => expect(printedClose(printed ?? "", expected), what).toBeUndefined()
const ciCell = (printed: string | undefined, e: Expected | undefined, what: string) => {
  if (e === undefined || e.lo === null || e.hi === null) return expect(printed, what).toBe("–")
  const m = /^\[(\S+), (\S+)\]$/.exec(printed ?? "")
  expect(m, `${what}: ${printed}`).not.toBeNull()
  expectPrinted(m![1], e.lo, `${what} lo`)
  expectPrinted(m![2], e.hi, `${what} hi`)
}

/**
 * One step's table against the stored outputs of the matched steps (`steps[i]`: run i's step, or
 * undefined): the rows in the first run and a later one, each cell recomputed here.
 */
const checkTable = (lines: ReadonlyArray<string>, steps: ReadonlyArray<Map<string, Expected> | undefined>) => {
  const labels = steps.map((_, i) => String.fromCharCode(65 + i))
  const later = labels.slice(1)
  expect(cells(lines[1]!)).toEqual(["language", "metric", ...labels, ...later.flatMap((l) => [`Δ ${l}−A`, `Δ% ${l}`, `CIs ${l}·A`]), ...labels.map((l) => `CI ${l}`)])
  const first = steps[0]!
  const keys = [...first.keys()].filter((k) => steps.slice(1).some((s) => s?.has(k)))
  const rows = lines.slice(2).map(cells)
  expect(rows.map((r) => `${r[0] === "(step)" ? "" : r[0]}|${r[1]}`).sort()).toEqual([...keys].sort())
  for (const row of rows) {
    const key = `${row[0] === "(step)" ? "" : row[0]}|${row[1]}`
    const values = steps.map((s) => s?.get(key))
    const a = values[0]!
    values.forEach((v, i) => (v === undefined ? expect(row[2 + i]).toBe("–") : expectPrinted(row[2 + i], v.value, `${key} ${labels[i]}`)))
    values.slice(1).forEach((v, j) => {
      const [d, rel, overlap] = row.slice(2 + labels.length + 3 * j, 5 + labels.length + 3 * j)
      if (v === undefined) return expect([d, rel, overlap]).toEqual(["–", "–", "–"])
      expectPrinted(d, v.value - a.value, `${key} Δ ${later[j]}`)
      if (a.value === 0) expect(rel, `${key} Δ% of a zero`).toBe("–")
      else expectPrinted(rel, (v.value - a.value) / Math.abs(a.value), `${key} Δ% ${later[j]}`)
      const o = overlapOf(a, v)
      expect(overlap, `${key} CIs ${later[j]}`).toBe(o === null ? "n/a" : o ? "yes" : "no")
    })
    values.forEach((v, i) => ciCell(row[2 + labels.length + 3 * later.length + i], v, `${key} CI ${labels[i]}`))
  }
  return rows.length
}

const itemsOf = (keys: Iterable<string>) => [...keys].map((k) => k.replace(/^\|/, "(step)|").replace("|", " ")).sort()

describe("polyquant compare", () => {
  it("by step: the runs, what matched, a table per step with every number recomputed, the rows of one run only, the rules", async () => {
    const r = await run("r-20261126", B) // a unique prefix will do
    expect(r.err).toBe("")
    expect(r.code).toBe(0)
    const text = r.out
    expect(text.split("\n")[0]).toBe("Comparing 2 runs. Rows matched by step id, model, language and metric. Deltas are each later run against A.")
    // the header names each run: id, workflow, when, status, model
    const runs = blocks(text)[1]!.map(cells)
    expect(runs.slice(1)).toEqual([
      ["A", A, "quickstart", "2026-11-26 09:30:12", "succeeded", MODEL],
      ["B", B, "quickstart", "2026-11-27 09:30:12", "succeeded", MODEL]
    ])
    const a = { baseline: stored(A, "baseline"), colab_001: stored(A, "colab_001"), colab_002: stored(A, "colab_002") }
    const b = { baseline: stored(B, "baseline"), colab_001: stored(B, "colab_001") }
    expect(block(text, "steps matched by id:").slice(1).map(cells)).toEqual([
      ["step", "kernel", "A", "B"],
      ["baseline", "perplexity", `${a.baseline.size} rows`, `${b.baseline.size} rows`],
      ["colab_001", "disparity", `${a.colab_001.size} rows`, `${b.colab_001.size} rows`],
      ["colab_002", "disparity", `${a.colab_002.size} rows`, "failed, no rows"]
    ])
    expect(checkTable(block(text, `baseline · perplexity · ${MODEL}`), [a.baseline, b.baseline])).toBe(8)
    expect(checkTable(block(text, `colab_001 · disparity · ${MODEL}`), [a.colab_001, b.colab_001])).toBe(12)
    expect(blocks(text).some((x) => x[0]!.startsWith("colab_002 · "))).toBe(false) // nothing to compare it with
    // the cases the fixture was built for, spelled out: he's intervals apart, en's overlapping, gap without one, delta_p from 0
    const colab = block(text, `colab_001 · disparity · ${MODEL}`).slice(2).map(cells)
    const row = (lang: string, metric: string) => colab.find((c) => c[0] === lang && c[1] === metric)!
    expect(row("he", "degradation")[6]).toBe("no")
    expect(row("en", "degradation")[6]).toBe("yes")
    expect(row("(step)", "gap")[6]).toBe("n/a")
    expect(row("en", "kl")[6]).toBe("n/a")
    expect(row("en", "delta_p")[5]).toBe("–")
    // rows in one run only: colab_002 (failed in B) and zh (new in B)
    const unmatched = block(text, `rows not in every run (${a.colab_002.size + 5}):`).slice(1)
    expect(unmatched).toHaveLength(2)
    const line = (head: string) => unmatched.find((l) => l.startsWith(`  ${head}`))!
    const zh = [...b.colab_001.keys()].filter((k) => !a.colab_001.has(k))
    expect(zh).toHaveLength(5)
    expect(line(`colab_001 · disparity · ${MODEL}: 5 rows only in B (not in A): `).split(": ")[2]!.split(", ").sort()).toEqual(itemsOf(zh))
    expect(line(`colab_002 · disparity · ${MODEL}: 7 rows only in A (not in B): `).split(": ")[2]!.split(", ").sort()).toEqual(itemsOf(a.colab_002.keys()))
    expect(text.trimEnd().split("\n").slice(-2)).toEqual([
      "Δ = the later run's value − the first run's (A's); Δ% = Δ / |A|; – where A is 0.",
      "CIs overlap: yes when the two intervals intersect (share at least one point), no when they do not, n/a when either row has no interval. Non-overlap is a conservative signal of a difference; overlap is not proof of none."
    ])
  })

  it("by kernel: the n-th step of each kernel is matched, the output says which with which, and the numbers follow", async () => {
    const byStep = await run(A, C)
    expect(byStep.code).toBe(2)
    expect(byStep.err).toBe(`polyquant compare: runs ${A} and ${C} have no rows in common by step id (${A}: baseline, colab_001, colab_002; ${C}: ppl, int4_protected, int4_gptq); if the steps were renamed, try --by kernel\n`)
    const r = await run(A, C, "--by", "kernel")
    expect(r.err).toBe("")
    expect(r.code).toBe(0)
    expect(r.out.split("\n")[0]).toBe("Comparing 2 runs. Rows matched by kernel and order (the n-th step that uses a kernel in each run), model, language and metric. Deltas are each later run against A.")
    expect(block(r.out, "steps matched by kernel, in order:").slice(1).map(cells)).toEqual([
      ["kernel, in order", "A", "B"],
      ["perplexity #1", "baseline 8 rows", "ppl 8 rows"],
      ["disparity #1", "colab_001 12 rows", "int4_protected 12 rows"],
      ["disparity #2", "colab_002 7 rows", "int4_gptq 7 rows"]
    ])
    expect(checkTable(block(r.out, `perplexity #1 (A baseline, B ppl) · perplexity · ${MODEL}`), [stored(A, "baseline"), stored(C, "ppl")])).toBe(8)
    expect(checkTable(block(r.out, `disparity #1 (A colab_001, B int4_protected) · disparity · ${MODEL}`), [stored(A, "colab_001"), stored(C, "int4_protected")])).toBe(12)
    const gptq = block(r.out, `disparity #2 (A colab_002, B int4_gptq) · disparity · ${MODEL}`)
    expect(checkTable(gptq, [stored(A, "colab_002"), stored(C, "int4_gptq")])).toBe(7)
    // intervals that touch at one point intersect; he's are apart
    expect(gptq.slice(2).map(cells).filter((c) => c[1] === "degradation").map((c) => [c[0], c[6]])).toEqual([["en", "yes"], ["he", "no"]])
    expect(block(r.out, "every row is in every run.")).toHaveLength(1)
  })

  it("three runs: each later run against the first, in text and in the --json document", async () => {
    const text = await run(A, B, C, "--by", "kernel")
    expect(text.code).toBe(0)
    checkTable(block(text.out, `disparity #1 (A colab_001, B colab_001, C int4_protected) · disparity · ${MODEL}`), [stored(A, "colab_001"), stored(B, "colab_001"), stored(C, "int4_protected")])
    checkTable(block(text.out, `disparity #2 (A colab_002, B colab_002, C int4_gptq) · disparity · ${MODEL}`), [stored(A, "colab_002"), undefined, stored(C, "int4_gptq")])

    const r = await run(A, B, C, "--by", "kernel", "--json")
    expect(r.code).toBe(0)
    expect(r.out.endsWith("}\n")).toBe(true)
    const doc = JSON.parse(r.out) as Comparison
    expect(Object.keys(doc)).toEqual(["format", "by", "filters", "runs", "steps", "rows", "unmatched", "rules"])
    expect(doc.format).toBe("polyquant-compare/1")
    expect(doc.by).toBe("kernel")
    expect(doc.filters).toEqual({ steps: [], metrics: [] })
    const day = 24 * 3600 * 1000
    expect(doc.runs).toEqual([
      { label: "A", id: A, workflow: "quickstart", started: new Date(T0).toISOString(), status: "succeeded", models: [MODEL] },
      { label: "B", id: B, workflow: "quickstart", started: new Date(T0 + day).toISOString(), status: "succeeded", models: [MODEL] },
      { label: "C", id: C, workflow: "renamed", started: new Date(T0 + 2 * day).toISOString(), status: "succeeded", models: [MODEL] }
    ])
    expect(doc.steps).toEqual([
      { key: "perplexity #1", kernel: "perplexity", runs: [{ step: "baseline", status: "succeeded", rows: 8 }, { step: "baseline", status: "succeeded", rows: 8 }, { step: "ppl", status: "succeeded", rows: 8 }] },
      { key: "disparity #1", kernel: "disparity", runs: [{ step: "colab_001", status: "succeeded", rows: 12 }, { step: "colab_001", status: "succeeded", rows: 17 }, { step: "int4_protected", status: "succeeded", rows: 12 }] },
      { key: "disparity #2", kernel: "disparity", runs: [{ step: "colab_002", status: "succeeded", rows: 7 }, { step: "colab_002", status: "failed", rows: 0 }, { step: "int4_gptq", status: "succeeded", rows: 7 }] }
    ])
    // every row: the stored values, unrounded deltas recomputed, overlap from the bounds
    const steps: Record<string, ReadonlyArray<string | undefined>> = { "perplexity #1": ["baseline", "baseline", "ppl"], "disparity #1": ["colab_001", "colab_001", "int4_protected"], "disparity #2": ["colab_002", undefined, "int4_gptq"] }
    const ids = [A, B, C]
    const expected = Object.entries(steps).flatMap(([key, s]) => {
      const outs = s.map((step, i) => (step === undefined ? new Map<string, Expected>() : stored(ids[i]!, step)))
      return [...outs[0]!.keys()].map((k) => {
        const [language, metric] = k.split("|") as [string, string]
        const values = outs.map((o) => o.get(k) ?? null)
        const a = values[0]!
        return {
          step: key, kernel: key.split(" ")[0], model: MODEL, language, metric,
          values: values.map((v) => (v === null ? null : { value: v.value, ci_lo: v.lo, ci_hi: v.hi })),
          deltas: values.slice(1).map((v, j) => (v === null ? null : { run: ids[j + 1], absolute: v.value - a.value, relative: a.value === 0 ? null : (v.value - a.value) / Math.abs(a.value), ciOverlap: overlapOf(a, v) }))
        }
      })
    })
    expect(doc.rows).toEqual(expected)
    const zh = [...stored(B, "colab_001").keys()].filter((k) => !stored(A, "colab_001").has(k))
    expect(doc.unmatched).toEqual([
      ...[...stored(A, "colab_002").keys()].map((k) => ({ step: "disparity #2", kernel: "disparity", model: MODEL, language: k.split("|")[0], metric: k.split("|")[1], in: [A, C], missing: [B] })),
      ...zh.map((k) => ({ step: "disparity #1", kernel: "disparity", model: MODEL, language: k.split("|")[0], metric: k.split("|")[1], in: [B], missing: [A, C] }))
    ])
    expect(doc.rules.ciOverlap).toContain("Non-overlap is a conservative signal of a difference; overlap is not proof of none.")
  })

  it("--step and --metric keep those rows only, and say so", async () => {
    const r = await run(A, B, "--step", "colab_001", "--metric", "degradation")
    expect(r.code).toBe(0)
    expect(r.out.split("\n")[1]).toBe("only steps colab_001; metrics degradation")
    const only = (m: Map<string, Expected>) => new Map([...m].filter(([k]) => k.endsWith("|degradation")))
    expect(checkTable(block(r.out, `colab_001 · disparity · ${MODEL}`), [only(stored(A, "colab_001")), only(stored(B, "colab_001"))])).toBe(2)
    expect(blocks(r.out).filter((b) => b[0]!.includes(" · ")).map((b) => b[0])).toEqual([`colab_001 · disparity · ${MODEL}`])
    expect(block(r.out, "rows not in every run (1):")[1]).toBe(`  colab_001 · disparity · ${MODEL}: 1 row only in B (not in A): zh degradation`)
    const json = JSON.parse((await run(A, B, "--step", "colab_001", "--metric", "degradation", "--json")).out) as Comparison
    expect(json.filters).toEqual({ steps: ["colab_001"], metrics: ["degradation"] })
    expect(json.steps.map((s) => s.key)).toEqual(["colab_001"])
    expect(json.rows.map((x) => x.language)).toEqual(["en", "he"])
  })

  it("on a terminal, lines are cut to its width", async () => {
    const doc = JSON.parse((await run(A, B, C, "--by", "kernel", "--json")).out) as Comparison
    const full = compareText(doc).split("\n")
    const cut = compareText(doc, 80).split("\n")
    expect(cut).toHaveLength(full.length)
    expect(Math.max(...full.map((l) => l.length))).toBeGreaterThan(80)
    cut.forEach((l, i) => {
      expect(l.length).toBeLessThanOrEqual(80)
      expect(l).toBe(full[i]!.length <= 80 ? full[i] : `${full[i]!.slice(0, 79)}…`)
    })
  })
})

describe("polyquant compare: bad input is one line, exit 2, and no write to the store", () => {
  const usage = "polyquant compare RUN RUN... [--by step|kernel] [--step ID]... [--metric NAME]... [--json] [--store PATH]"
  const missing = join(tmp, "none", "pq.db")
  const cases: ReadonlyArray<[string, ReadonlyArray<string>, string]> = [
    ["one run", [A], `name at least two runs to compare, got 1 (usage: ${usage})`],
    ["no run", [], `name at least two runs to compare, got 0 (usage: ${usage})`],
    ["an unknown run id", [A, "nope"], "no run 'nope' in the store; recent runs: r-20261130-task, r-20261129-void, r-20261128-rnmd, r-20261127-fix1, r-20261126-base"],
    ["an ambiguous prefix", ["r-2026112", A], "run id 'r-2026112' is ambiguous: 4 runs start with it (r-20261129-void, r-20261128-rnmd, r-20261127-fix1, r-20261126-base); give more of the id"],
    ["a run given twice", [A, B, A], `run ${A} is named twice; name each run once`],
    ["a run given twice by a prefix", ["r-20261126", A], `'r-20261126' and '${A}' are both run ${A}; name each run once`],
    ["a run with no comparable rows", [A, "r-20261129-void"], "run r-20261129-void has no comparable rows: none of its 2 steps stored numbers per language or step-level estimates (the rows `polyquant export` writes)"],
    ["a run with no rows under the filters", [A, B, "--step", "colab_002"], `run ${B} has no comparable rows under --step colab_002 (its steps with results: baseline, colab_001)`],
    [
      "runs with nothing in common",
      [A, "r-20261130-task"],
      `runs ${A} and r-20261130-task have no rows in common by step id (${A}: baseline, colab_001, colab_002; r-20261130-task: task); if the steps were renamed, try --by kernel`
    ],
    [
      "runs with nothing in common by kernel",
      [A, "r-20261130-task", "--by", "kernel"],
      `runs ${A} and r-20261130-task have no rows in common by kernel and order (${A}: perplexity #1, disparity #1, disparity #2; r-20261130-task: task-eval #1)`
    ],
    ["an unknown --by", [A, B, "--by", "name"], "--by name is not one of step, kernel"],
    ["an unknown --step", [A, B, "--step", "nope"], "--step nope: no step of these runs has that id; their steps: baseline, colab_001, colab_002"],
    ["an unknown --metric", [A, B, "--metric", "nope"], "--metric nope: no row of these runs has that metric; their metrics: tokens, bytes, ppl, bits_per_byte, ppl_base, ppl_quant, degradation, kl, delta_p, disparity, gap"],
    ["an unknown option", [A, B, "--foo"], "unknown option '--foo' (options: --by, --step, --metric, --json, --store)"]
  ]

  it.each(cases)("%s", async (_name, args, message) => {
    const before = RUNS.map((r) => runRows(store, r.id))
    const files = readdirSync(tmp).sort()
    const r = await run(...args)
    expect({ code: r.code, err: r.err, out: r.out }).toEqual({ code: 2, err: `polyquant compare: ${message}\n`, out: "" })
    expect(RUNS.map((x) => runRows(store, x.id))).toEqual(before)
    expect(readdirSync(tmp).sort()).toEqual(files)
  })

  it("a store that is not there is named, not created", async () => {
    const r = await capture(compare, [A, B, "--store", missing])
    expect({ code: r.code, err: r.err, out: r.out }).toEqual({ code: 2, err: `polyquant compare: no run store at ${missing} (name one with --store PATH)\n`, out: "" })
    expect(existsSync(join(tmp, "none"))).toBe(false)
  })
})

describe("polyquant report RUN --compare OTHER", () => {
  it('adds a "Compared with" section holding the comparison table, numbers recomputed from the stored outputs', async () => {
    const out = join(tmp, "report")
    const r = await capture(report, [A, "--compare", B, "--no-plots", "--out", out, "--store", store])
    expect(r.err).toBe("")
    expect(r.code).toBe(0)
    const md = readFileSync(join(out, "report.md"), "utf8")
    const lines = md.split("\n")
    const at = lines.indexOf("## Compared with")
    expect(at).toBeGreaterThan(lines.indexOf("## Results"))
    expect(lines[at + 2]).toBe(`This run (A, ${A}) against B (${B}). Rows matched by step id, model, language and metric. Deltas are each later run against A.`)
    expect(md).toContain(`| A | ${A} | quickstart | 2026-11-26 09:30:12 | succeeded | ${MODEL} |`)
    expect(md).toContain("| colab_002 | disparity | 7 rows | failed, no rows |")
    // the table under its caption, as Markdown: the same cells as the text
    const caption = lines.indexOf(`**colab_001 · disparity · ${MODEL}**`)
    expect(caption).toBeGreaterThan(at)
    const table = lines.slice(caption + 2).filter((_, i, all) => all.slice(0, i + 1).every((l) => l.startsWith("|")))
    const asText = table.filter((l) => !/^\|[-:|]+\|$/.test(l)).map((l) => l.slice(2, -2).split(" | ").join("  "))
    expect(checkTable(["", ...asText], [stored(A, "colab_001"), stored(B, "colab_001")])).toBe(12)
    expect(md).toContain(`- colab_002 · disparity · ${MODEL}: 7 rows only in A (not in B): `)
    expect(md).toContain("Non-overlap is a conservative signal of a difference; overlap is not proof of none.")
  })

  it("refuses a bad --compare before writing anything: one line, exit 2", async () => {
    const out = join(tmp, "report-bad")
    const before = RUNS.map((r) => runRows(store, r.id))
    for (const [args, message] of [
      [["--compare", "nope"], "no run 'nope' in the store; recent runs: r-20261130-task, r-20261129-void, r-20261128-rnmd, r-20261127-fix1, r-20261126-base"],
      [["--compare", A], `run ${A} is named twice; name each run once`],
      [["--compare", C], `runs ${A} and ${C} have no rows in common by step id (${A}: baseline, colab_001, colab_002; ${C}: ppl, int4_protected, int4_gptq); if the steps were renamed, try --compare-by kernel`],
      [["--compare", B, "--compare-by", "name"], "--compare-by name is not one of step, kernel"]
    ] as const) {
      const r = await capture(report, [A, ...args, "--no-plots", "--out", out, "--store", store])
      expect({ code: r.code, err: r.err, out: r.out }).toEqual({ code: 2, err: `polyquant report: ${message}\n`, out: "" })
    }
    expect(existsSync(out)).toBe(false)
    expect(RUNS.map((r) => runRows(store, r.id))).toEqual(before)
    const byKernel = await capture(report, [A, "--compare", C, "--compare-by", "kernel", "--no-plots", "--out", out, "--store", store])
    expect(byKernel.code).toBe(0)
    expect(readFileSync(join(out, "report.md"), "utf8")).toContain(`**disparity #2 (A colab_002, B int4_gptq) · disparity · ${MODEL}**`)
  })
})

describe("compareRuns on matrix steps (one step per model)", () => {
  const matrixRun = (id: string, models: ReadonlyArray<string>, d: number): ComparedRun => ({
    id, workflow: "kaggle-002", startedAt: T0, status: "succeeded",
    steps: models.map((m) => ({ id: `disparity[model=${m}]`, kernel: "disparity", status: "succeeded" })),
    rows: models.map((m, i) => ({ run: id, step: `disparity[model=${m}]`, kernel: "disparity", model: m, language: "en", metric: "degradation", value: d + i, ci_lo: null, ci_hi: null }))
  })

  it("--step takes a matrix step's base id for all its expansions", () => {
    const r = compareRuns([matrixRun("r1", ["a", "b"], 0.1), matrixRun("r2", ["a", "b"], 0.3)], { by: "step", steps: ["disparity"] })
    expect(r.ok && r.comparison.rows.map((x) => [x.step, x.model, x.deltas[0]?.absolute])).toEqual([
      ["disparity[model=a]", "a", 0.3 - 0.1],
      ["disparity[model=b]", "b", 0.3 + 1 - (0.1 + 1)]
    ])
  })

  it("runs on other models share no row, and the problem names the models", () => {
    const r = compareRuns([matrixRun("r1", ["a", "b"], 0.1), matrixRun("r3", ["c"], 0.3)], { by: "kernel" })
    expect(r).toEqual({ ok: false, problem: "runs r1 and r3 have no rows in common by kernel and order (r1: disparity #1, disparity #2 on a, b; r3: disparity #1 on c)" })
  })
})
