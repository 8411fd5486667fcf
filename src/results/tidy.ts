/**
 * A run's results as tidy rows, one per step × model × language × metric, with the CI bounds where
 * the kernel gives an interval: what `polyquant export` writes for pandas, R or a spreadsheet.
 * Rows come from each step's stored outputs; nothing is recomputed. A metric is any number a
 * kernel reports per language (`languages.<lang>.<metric>` or `per_language.<lang>.<metric>`, nested
 * objects flattened with dots, `{value, ci}` estimates split into value and bounds) and the
 * step-level estimates (`disparity`, `gap`).
 */
import type { StepRecord } from "../store/RunStore.js"

export interface TidyRow {
  readonly run: string
  readonly step: string
  readonly kernel: string
  readonly model: string
  readonly language: string
  readonly metric: string
  readonly value: number
  readonly ci_lo: number | null
  readonly ci_hi: number | null
}

export const COLUMNS: ReadonlyArray<keyof TidyRow> = ["run", "step", "kernel", "model", "language", "metric", "value", "ci_lo", "ci_hi"]

type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v)
const finite = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v)
const bound = (v: unknown): number | null => (finite(v) ? v : null)

/** `{value, ci: [lo, hi]}` or `{accuracy, ci}`: the point and its interval; undefined for anything else. */
const estimate = (o: Obj): { value: number; lo: number | null; hi: number | null } | undefined => {
  const point = finite(o["value"]) ? o["value"] : finite(o["accuracy"]) ? o["accuracy"] : undefined
  if (point === undefined || !Array.isArray(o["ci"]) || o["ci"].length !== 2) return undefined
  return { value: point, lo: bound(o["ci"][0]), hi: bound(o["ci"][1]) }
}

/** Every number under `o` as [metric, value, lo, hi]; arrays (per-window segments) are left out. */
const metrics = (o: Obj, prefix = ""): Array<[string, number, number | null, number | null]> => {
  const out: Array<[string, number, number | null, number | null]> = []
  for (const [key, v] of Object.entries(o)) {
    const name = prefix ? `${prefix}.${key}` : key
    if (finite(v)) out.push([name, v, null, null])
    else if (isObj(v)) {
      const e = estimate(v)
      if (e !== undefined) out.push([name, e.value, e.lo, e.hi])
      out.push(...metrics(Object.fromEntries(Object.entries(v).filter(([k]) => e === undefined || (k !== "value" && k !== "accuracy" && k !== "ci"))), name))
    }
  }
  return out
}

/** The model a step ran on: its fingerprint's id (the part before `@`), or "". */
const modelOf = (step: StepRecord): string => {
  const models = step.keyParts?.models ?? {}
  const first = models["model"] ?? Object.values(models)[0]
  return first === undefined ? "" : first.slice(0, first.lastIndexOf("@") > 0 ? first.lastIndexOf("@") : first.length)
}

/** The tidy rows of one stored step (none for a step without outputs). */
export const stepRows = (runId: string, step: StepRecord): TidyRow[] => {
  const out = step.outputs
  if (!isObj(out)) return []
  const base = { run: runId, step: step.stepId, kernel: step.uses, model: modelOf(step) }
  const rows: TidyRow[] = []
  const table = isObj(out["languages"]) ? out["languages"] : isObj(out["per_language"]) ? out["per_language"] : undefined
  for (const [language, entry] of Object.entries(table ?? {})) {
    if (!isObj(entry)) continue
    for (const [metric, value, lo, hi] of metrics(entry)) rows.push({ ...base, language, metric, value, ci_lo: lo, ci_hi: hi })
    // task-eval's drop carries its interval beside it
    if (finite(entry["drop"]) && Array.isArray(entry["drop_ci"])) {
      const i = rows.findIndex((r) => r.language === language && r.metric === "drop")
      if (i >= 0) rows[i] = { ...rows[i]!, ci_lo: bound(entry["drop_ci"][0]), ci_hi: bound(entry["drop_ci"][1]) }
    }
  }
  for (const key of ["disparity", "gap", "mean_accuracy_base", "mean_accuracy_quantized", "mean_drop", "mean_rel_error"]) {
    const v = out[key]
    if (finite(v)) rows.push({ ...base, language: "", metric: key, value: v, ci_lo: null, ci_hi: null })
    else if (isObj(v)) {
      const e = estimate(v)
      if (e !== undefined) rows.push({ ...base, language: "", metric: key, value: e.value, ci_lo: e.lo, ci_hi: e.hi })
    }
  }
  return rows
}

const csvCell = (v: unknown): string => {
  const s = v === null || v === undefined ? "" : String(v)
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s
}

export const toCsv = (rows: ReadonlyArray<TidyRow>): string => [COLUMNS.join(","), ...rows.map((r) => COLUMNS.map((c) => csvCell(r[c])).join(","))].join("\n") + "\n"

export const toJsonl = (rows: ReadonlyArray<TidyRow>): string => rows.map((r) => JSON.stringify(r)).join("\n") + (rows.length ? "\n" : "")

/** One evaluation window of a disparity step: what its bootstrap resampled. */
export interface WindowRow {
  readonly run: string
  readonly step: string
  readonly language: string
  readonly window: number
  readonly doc: number
  readonly nll_base: number
  readonly nll_quant: number
  readonly tokens: number
  readonly bytes: number
}

export const WINDOW_COLUMNS = ["run", "step", "language", "window", "doc", "nll_base", "nll_quant", "tokens", "bytes"] as const

/** The per-window NLLs a step stored (disparity's `windows`), one row per window. */
export const windowRows = (runId: string, step: StepRecord): WindowRow[] => {
  const out = step.outputs
  if (!isObj(out) || !isObj(out["windows"])) return []
  const rows: WindowRow[] = []
  for (const [language, w] of Object.entries(out["windows"])) {
    if (!isObj(w) || !Array.isArray(w["nll_base"])) continue
    const col = (k: string): unknown[] => (Array.isArray(w[k]) ? (w[k] as unknown[]) : [])
    col("nll_base").forEach((_, i) =>
      rows.push({ run: runId, step: step.stepId, language, window: i, doc: Number(col("doc")[i]), nll_base: Number(col("nll_base")[i]), nll_quant: Number(col("nll_quant")[i]), tokens: Number(col("tokens")[i]), bytes: Number(col("bytes")[i]) })
    )
  }
  return rows
}

export const windowsCsv = (rows: ReadonlyArray<WindowRow>): string =>
  [WINDOW_COLUMNS.join(","), ...rows.map((r) => WINDOW_COLUMNS.map((c) => csvCell(r[c])).join(","))].join("\n") + "\n"
