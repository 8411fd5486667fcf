/**
 * Runs side by side: the tidy rows of each run (src/results/tidy.ts, the rows `polyquant export`
 * writes; nothing is recomputed from raw outputs) matched across runs, with the delta of each
 * later run against the first and whether their CIs overlap. What `polyquant compare` prints and
 * the report's "Compared with" section shows. Pure: the runs come in as data (fromStore.ts reads
 * them out of the store).
 *
 * A row is matched by (step, model, language, metric). `by: "step"` takes the step by its id;
 * `by: "kernel"` takes the n-th step that uses a kernel as the same step in every run (for runs
 * whose step ids differ), and `steps` says which step of each run was matched with which.
 *
 * The comparison is also the `--json` document (`format: "polyquant-compare/1"`):
 *
 *   {
 *     format: "polyquant-compare/1",
 *     by: "step" | "kernel",
 *     filters: { steps: string[], metrics: string[] },           // --step, --metric as given
 *     runs: [{ label: "A", id, workflow, started: ISO-8601, status, models: string[] }],
 *     steps: [{ key, kernel, runs: [{ step, status, rows } | null] }],   // one entry per run, null where it has none
 *     rows: [{                                                  // in the first run and at least one later run
 *       step: key, kernel, model, language ("" for a step-level metric), metric,
 *       values: [{ value, ci_lo, ci_hi } | null],              // one per run
 *       deltas: [{ run, absolute, relative, ciOverlap } | null] // one per later run (runs[1..]); null where a value is missing
 *     }],
 *     unmatched: [{ step: key, kernel, model, language, metric, in: [run id], missing: [run id] }],
 *     rules: { delta, relative, ciOverlap }                     // the rules, in words
 *   }
 *
 * `absolute` = later − first; `relative` = absolute / |first|, null when first is 0; `ciOverlap`
 * true when the two closed intervals intersect, false when they do not, null when a row lacks a
 * bound. Numbers are the stored ones, unrounded.
 */
import type { TidyRow } from "./tidy.js"

export type MatchBy = "step" | "kernel"
export const MATCH_BY: ReadonlyArray<MatchBy> = ["step", "kernel"]

/** One run as the comparison needs it: who it is, its steps in plan order, and its tidy rows. */
export interface ComparedRun {
  readonly id: string
  readonly workflow: string
  /** epoch ms */
  readonly startedAt: number
  /** as `runs` and `show` print it: `succeeded`, `interrupted (process 4711 is gone)` */
  readonly status: string
  /** every step the run stores, in plan order, with or without outputs: they keep the kernel order */
  readonly steps: ReadonlyArray<{ readonly id: string; readonly kernel: string; readonly status: string }>
  readonly rows: ReadonlyArray<TidyRow>
}

export interface CompareOptions {
  readonly by: MatchBy
  /** keep these steps only: a step id of any run, or a matrix step's base id (`disparity` for `disparity[model=…]`) */
  readonly steps?: ReadonlyArray<string>
  /** keep these metrics only */
  readonly metrics?: ReadonlyArray<string>
  /** the option that asks for matching by kernel, for the hint when nothing matches by step (default `--by`) */
  readonly byOption?: string
}

export interface RunSummary {
  /** A, B, C, …: the column names of the tables */
  readonly label: string
  readonly id: string
  readonly workflow: string
  /** ISO-8601 */
  readonly started: string
  readonly status: string
  readonly models: ReadonlyArray<string>
}

export interface MatchedStep {
  /** the step id (by step), or `<kernel> #<n>` (by kernel) */
  readonly key: string
  readonly kernel: string
  /** per run: its step matched here, its status and how many rows it gives; null where the run has none */
  readonly runs: ReadonlyArray<{ readonly step: string; readonly status: string; readonly rows: number } | null>
}

export interface RowValue {
  readonly value: number
  readonly ci_lo: number | null
  readonly ci_hi: number | null
}

export interface RowDelta {
  /** the later run's id */
  readonly run: string
  readonly absolute: number
  readonly relative: number | null
  readonly ciOverlap: boolean | null
}

export interface ComparedRow {
  readonly step: string
  readonly kernel: string
  readonly model: string
  readonly language: string
  readonly metric: string
  readonly values: ReadonlyArray<RowValue | null>
  readonly deltas: ReadonlyArray<RowDelta | null>
}

export interface UnmatchedRow {
  readonly step: string
  readonly kernel: string
  readonly model: string
  readonly language: string
  readonly metric: string
  readonly in: ReadonlyArray<string>
  readonly missing: ReadonlyArray<string>
}

export interface Comparison {
  readonly format: "polyquant-compare/1"
  readonly by: MatchBy
  readonly filters: { readonly steps: ReadonlyArray<string>; readonly metrics: ReadonlyArray<string> }
  readonly runs: ReadonlyArray<RunSummary>
  readonly steps: ReadonlyArray<MatchedStep>
  readonly rows: ReadonlyArray<ComparedRow>
  readonly unmatched: ReadonlyArray<UnmatchedRow>
  readonly rules: { readonly delta: string; readonly relative: string; readonly ciOverlap: string }
}

export const RULES = {
  delta: "Δ = the later run's value − the first run's (A's)",
  relative: "Δ% = Δ / |A|; – where A is 0",
  ciOverlap:
    "CIs overlap: yes when the two intervals intersect (share at least one point), no when they do not, n/a when either row has no interval. " +
    "Non-overlap is a conservative signal of a difference; overlap is not proof of none."
} as const

/** A, B, …, Z, then R27, R28, …: a run's column name. */
export const runLabel = (i: number): string => (i < 26 ? String.fromCharCode(65 + i) : `R${i + 1}`)

/** Whether two closed intervals [lo, hi] intersect; null when either lacks a bound. */
export const ciOverlap = (a: RowValue, b: RowValue): boolean | null => {
  if (a.ci_lo === null || a.ci_hi === null || b.ci_lo === null || b.ci_hi === null) return null
  return Math.max(a.ci_lo, b.ci_lo) <= Math.min(a.ci_hi, b.ci_hi)
}

const delta = (run: string, first: RowValue, later: RowValue): RowDelta => {
  const absolute = later.value - first.value
  return { run, absolute, relative: first.value === 0 ? null : absolute / Math.abs(first.value), ciOverlap: ciOverlap(first, later) }
}

const stepMatches = (filter: string, stepId: string): boolean => stepId === filter || stepId.startsWith(`${filter}[`)

const listed = (items: ReadonlyArray<string>, max = 12): string => (items.length <= max ? items.join(", ") : `${items.slice(0, max).join(", ")}, … (${items.length} in all)`)

const unique = <A>(xs: ReadonlyArray<A>): A[] => [...new Set(xs)]

export type CompareResult = { readonly ok: true; readonly comparison: Comparison } | { readonly ok: false; readonly problem: string }

/**
 * Compare `runs` (the first is the one the others are measured against). A problem is one line
 * naming it: fewer than two runs, a run given twice, a --step or --metric no run has, a run with no
 * rows to compare, a later run that shares no row with the first.
 */
export const compareRuns = (runs: ReadonlyArray<ComparedRun>, options: CompareOptions): CompareResult => {
  const fail = (problem: string): CompareResult => ({ ok: false, problem })
  if (runs.length < 2) return fail(`compare needs at least two runs, got ${runs.length}`)
  const seen = new Set<string>()
  for (const r of runs) {
    if (seen.has(r.id)) return fail(`run ${r.id} is named twice; name each run once`)
    seen.add(r.id)
  }
  const stepFilter = options.steps ?? []
  const metricFilter = options.metrics ?? []
  for (const s of stepFilter) {
    if (!runs.some((r) => r.steps.some((st) => stepMatches(s, st.id)))) {
      return fail(`--step ${s}: no step of these runs has that id; their steps: ${listed(unique(runs.flatMap((r) => r.steps.map((st) => st.id))))}`)
    }
  }
  for (const m of metricFilter) {
    if (!runs.some((r) => r.rows.some((row) => row.metric === m))) {
      return fail(`--metric ${m}: no row of these runs has that metric; their metrics: ${listed(unique(runs.flatMap((r) => r.rows.map((row) => row.metric))))}`)
    }
  }

  // which matched step each run's step belongs to
  const keyOf = runs.map((r) => {
    const keys = new Map<string, string>()
    const count = new Map<string, number>()
    for (const st of r.steps) {
      const n = (count.get(st.kernel) ?? 0) + 1
      count.set(st.kernel, n)
      keys.set(st.id, options.by === "kernel" ? `${st.kernel} #${n}` : st.id)
    }
    return keys
  })
  const order: string[] = []
  const matched = new Map<string, { kernel: string; runs: Array<{ step: string; status: string; rows: number } | null> }>()
  runs.forEach((r, i) => {
    for (const st of r.steps) {
      const key = keyOf[i]!.get(st.id)!
      let m = matched.get(key)
      if (m === undefined) {
        m = { kernel: st.kernel, runs: runs.map(() => null) }
        matched.set(key, m)
        order.push(key)
      }
      m.runs[i] = { step: st.id, status: st.status, rows: 0 }
    }
  })
  // a matched step is kept when a --step names any of its steps
  const kept = new Set(order.filter((key) => stepFilter.length === 0 || matched.get(key)!.runs.some((s) => s !== null && stepFilter.some((f) => stepMatches(f, s.step)))))

  const rowKey = (step: string, r: TidyRow) => JSON.stringify([step, r.model, r.language, r.metric])
  const perRun = runs.map((r, i) => {
    const rows = new Map<string, TidyRow>()
    for (const row of r.rows) {
      const step = keyOf[i]!.get(row.step) ?? row.step
      if (!kept.has(step) || (metricFilter.length > 0 && !metricFilter.includes(row.metric))) continue
      const k = rowKey(step, row)
      if (rows.has(k)) continue // a step gives each (model, language, metric) once; keep the first if not
      rows.set(k, row)
      const m = matched.get(step)?.runs[i]
      if (m) m.rows++
    }
    return rows
  })
  const filtered = [stepFilter.length ? `--step ${stepFilter.join(", ")}` : "", metricFilter.length ? `--metric ${metricFilter.join(", ")}` : ""].filter(Boolean).join(" and ")
  for (const [i, r] of runs.entries()) {
    if (perRun[i]!.size > 0) continue
    const withOutputs = r.steps.filter((st) => r.rows.some((row) => row.step === st.id)).map((st) => st.id)
    return fail(
      withOutputs.length === 0
        ? `run ${r.id} has no comparable rows: none of its ${r.steps.length} steps stored numbers per language or step-level estimates (the rows \`polyquant export\` writes)`
        : `run ${r.id} has no comparable rows under ${filtered} (its steps with results: ${listed(withOutputs)})`
    )
  }
  const by = options.by === "kernel" ? "kernel and order" : "step id"
  for (let i = 1; i < runs.length; i++) {
    if ([...perRun[i]!.keys()].some((k) => perRun[0]!.has(k))) continue
    const modelsOf = (j: number) => unique([...perRun[j]!.values()].map((row) => row.model)).sort()
    // the model is part of a row's key: say so when the runs ran on different models
    const models = modelsOf(0).join() !== modelsOf(i).join()
    const stepsOf = (j: number) =>
      `${listed(unique([...perRun[j]!.values()].map((row) => (options.by === "kernel" ? keyOf[j]!.get(row.step)! : row.step))))}${models ? ` on ${modelsOf(j).join(", ") || "no model"}` : ""}`
    const hint = options.by === "step" ? `; if the steps were renamed, try ${options.byOption ?? "--by"} kernel` : ""
    return fail(`runs ${runs[0]!.id} and ${runs[i]!.id} have no rows in common by ${by} (${runs[0]!.id}: ${stepsOf(0)}; ${runs[i]!.id}: ${stepsOf(i)})${hint}`)
  }

  // every key, in order of first appearance: the first run's rows, then what later runs add
  const keys: string[] = []
  const known = new Set<string>()
  for (const rows of perRun) {
    for (const k of rows.keys()) {
      if (known.has(k)) continue
      known.add(k)
      keys.push(k)
    }
  }
  const compared: ComparedRow[] = []
  const unmatched: UnmatchedRow[] = []
  for (const k of keys) {
    const [step, model, language, metric] = JSON.parse(k) as [string, string, string, string]
    const kernel = matched.get(step)!.kernel
    const rows = perRun.map((p) => p.get(k))
    const values = rows.map((r): RowValue | null => (r === undefined ? null : { value: r.value, ci_lo: r.ci_lo, ci_hi: r.ci_hi }))
    const first = values[0]
    if (first !== null && first !== undefined && values.slice(1).some((v) => v !== null)) {
      compared.push({
        step, kernel, model, language, metric, values,
        deltas: values.slice(1).map((v, j) => (v === null ? null : delta(runs[j + 1]!.id, first, v)))
      })
    }
    if (values.some((v) => v === null)) {
      unmatched.push({ step, kernel, model, language, metric, in: runs.filter((_, i) => values[i] !== null).map((r) => r.id), missing: runs.filter((_, i) => values[i] === null).map((r) => r.id) })
    }
  }
  return {
    ok: true,
    comparison: {
      format: "polyquant-compare/1",
      by: options.by,
      filters: { steps: [...stepFilter], metrics: [...metricFilter] },
      runs: runs.map((r, i) => ({
        label: runLabel(i),
        id: r.id,
        workflow: r.workflow,
        started: new Date(r.startedAt).toISOString(),
        status: r.status,
        models: unique(r.rows.map((row) => row.model).filter((m) => m !== ""))
      })),
      steps: order.filter((key) => kept.has(key)).map((key) => ({ key, kernel: matched.get(key)!.kernel, runs: matched.get(key)!.runs })),
      rows: compared,
      unmatched,
      rules: RULES
    }
  }
}

// ---- the tables, as cells: the CLI aligns them, the report writes them as Markdown ----

/**
 * 4 significant digits, very small or large numbers with an exponent; whole numbers as they are
 * when `whole` (a row of counts), so that a row reads alike: 24.10, 23.00, 24.50.
 */
export const formatNumber = (x: number, whole = false): string => {
  if (x === 0 || (whole && Number.isInteger(x) && Math.abs(x) < 1e15)) return String(x)
  const a = Math.abs(x)
  if (a >= 1e5 || a < 1e-3) return x.toExponential(3)
  if (a >= 1000) return x.toFixed(1)
  return x.toPrecision(4)
}

export const formatDelta = (x: number, whole = false): string => `${x >= 0 ? "+" : ""}${formatNumber(x, whole)}`
export const formatRelative = (x: number | null): string => (x === null ? "–" : `${x >= 0 ? "+" : ""}${(100 * x).toFixed(1)}%`)
export const formatOverlap = (x: boolean | null): string => (x === null ? "n/a" : x ? "yes" : "no")
const formatCi = (v: RowValue | null): string => (v === null || v.ci_lo === null || v.ci_hi === null ? "–" : `[${formatNumber(v.ci_lo)}, ${formatNumber(v.ci_hi)}]`)

export interface CellTable {
  readonly header: ReadonlyArray<string>
  readonly rows: ReadonlyArray<ReadonlyArray<string>>
  /** the columns that hold numbers (right-aligned) */
  readonly right: ReadonlyArray<number>
}

/** How a step-level metric's empty language reads in a table. */
export const STEP_LEVEL = "(step)"

/** The matched step in a caption: `colab_001` by step, `disparity #1 (A colab_001, B colab_001_gptq)` by kernel. */
export const stepCaption = (c: Comparison, key: string): string => {
  const m = c.steps.find((s) => s.key === key)
  if (c.by === "step" || m === undefined) return key
  return `${key} (${m.runs.map((s, i) => `${runLabel(i)} ${s?.step ?? "–"}`).join(", ")})`
}

/**
 * The comparison tables, one per matched step and model: language, metric, each run's value, then
 * per later run its Δ, Δ% and whether its CI overlaps A's, then each run's CI.
 */
export const comparisonTables = (c: Comparison): ReadonlyArray<{ readonly caption: string; readonly table: CellTable }> => {
  const labels = c.runs.map((r) => r.label)
  const later = labels.slice(1)
  const header = ["language", "metric", ...labels, ...later.flatMap((l) => [`Δ ${l}−A`, `Δ% ${l}`, `CIs ${l}·A`]), ...labels.map((l) => `CI ${l}`)]
  const right = header.map((_, i) => i).filter((i) => i >= 2 && i < 2 + labels.length + 3 * later.length)
  const groups = new Map<string, { caption: string; rows: string[][] }>()
  for (const row of c.rows) {
    const id = JSON.stringify([row.step, row.model])
    let g = groups.get(id)
    if (g === undefined) {
      g = { caption: [stepCaption(c, row.step), row.kernel, row.model].filter((x) => x !== "").join(" · "), rows: [] }
      groups.set(id, g)
    }
    const whole = row.values.every((v) => v === null || Number.isInteger(v.value))
    g.rows.push([
      row.language === "" ? STEP_LEVEL : row.language,
      row.metric,
      ...row.values.map((v) => (v === null ? "–" : formatNumber(v.value, whole))),
      ...row.deltas.flatMap((d) => (d === null ? ["–", "–", "–"] : [formatDelta(d.absolute, whole), formatRelative(d.relative), formatOverlap(d.ciOverlap)])),
      ...row.values.map(formatCi)
    ])
  }
  return [...groups.values()].map((g) => ({ caption: g.caption, table: { header, rows: g.rows, right } }))
}

/** The runs as a table: label, id, workflow, start (UTC), status, models. */
export const runsTable = (c: Comparison): CellTable => ({
  header: ["", "run", "workflow", "started (UTC)", "status", "model"],
  rows: c.runs.map((r) => [r.label, r.id, r.workflow, r.started.slice(0, 19).replace("T", " "), r.status, r.models.join(", ") || "–"]),
  right: []
})

/** What was matched with what: each matched step and, per run, its step (by kernel) and rows. */
export const stepsTable = (c: Comparison): CellTable => {
  const cell = (s: MatchedStep["runs"][number]): string => {
    if (s === null) return "–"
    const id = c.by === "kernel" ? `${s.step} ` : ""
    return s.rows > 0 ? `${id}${s.rows} row${s.rows === 1 ? "" : "s"}` : `${id}${s.status}, no rows`
  }
  return {
    header: [c.by === "kernel" ? "kernel, in order" : "step", ...(c.by === "step" ? ["kernel"] : []), ...c.runs.map((r) => r.label)],
    rows: c.steps.map((s) => [s.key, ...(c.by === "step" ? [s.kernel] : []), ...s.runs.map(cell)]),
    right: []
  }
}

/** The sentence that says how rows were matched. */
export const matchingSentence = (c: Comparison): string =>
  c.by === "kernel"
    ? "Rows matched by kernel and order (the n-th step that uses a kernel in each run), model, language and metric."
    : "Rows matched by step id, model, language and metric."

/**
 * Rows not in every run, grouped by step and by which runs have them: `colab_002 · disparity ·
 * fixture:tiny-llama: 34 rows only in A (missing in B): en degradation, …`.
 */
export const unmatchedLines = (c: Comparison, maxItems = 12): ReadonlyArray<string> => {
  const label = new Map(c.runs.map((r) => [r.id, r.label]))
  const groups = new Map<string, { head: string; has: string; only: boolean; missing: string; items: string[] }>()
  for (const u of c.unmatched) {
    const has = u.in.map((id) => label.get(id)!).join(", ")
    const missing = u.missing.map((id) => label.get(id)!).join(", ")
    const id = JSON.stringify([u.step, u.model, has])
    let g = groups.get(id)
    if (g === undefined) {
      g = { head: [stepCaption(c, u.step), u.kernel, u.model].filter((x) => x !== "").join(" · "), has, only: u.in.length === 1, missing, items: [] }
      groups.set(id, g)
    }
    g.items.push(`${u.language === "" ? STEP_LEVEL : u.language} ${u.metric}`)
  }
  return [...groups.values()].map((g) => {
    const items = g.items.length <= maxItems ? g.items.join(", ") : `${g.items.slice(0, maxItems).join(", ")}, … and ${g.items.length - maxItems} more`
    const where = g.only ? `only in ${g.has}` : `in ${g.has}`
    return `${g.head}: ${g.items.length} row${g.items.length === 1 ? "" : "s"} ${where} (not in ${g.missing}): ${items}`
  })
}
