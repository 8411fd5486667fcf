/**
 * Small pure formatters shared by the dashboard, the plain lines and the report: durations,
 * numbers with confidence intervals, progress bars, ETAs and branch-decision sentences.
 */
import type { StepStatus } from "../engine/events.js"

/** 950 ms → "950ms", 65 s → "1m05s", 3725 s → "1h02m". */
export const formatDuration = (ms: number): string => {
  if (!Number.isFinite(ms) || ms < 0) return "?"
  if (ms < 1000) return `${Math.round(ms)}ms`
  const s = ms / 1000
  if (s < 60) return `${s.toFixed(1)}s`
  const total = Math.round(s)
  const h = Math.floor(total / 3600)
  const m = Math.floor((total % 3600) / 60)
  const sec = total % 60
  return h > 0 ? `${h}h${String(m).padStart(2, "0")}m` : `${m}m${String(sec).padStart(2, "0")}s`
}

/** Hours of budget: 0.5 → "0.50h", 12 → "12.0h". */
export const formatHours = (h: number): string => (Math.abs(h) >= 10 ? `${h.toFixed(1)}h` : `${h.toFixed(2)}h`)

/** A number with sensible significant digits; null/undefined/NaN → "–". */
export const formatNumber = (x: number | null | undefined, digits = 3): string => {
  if (x === null || x === undefined || !Number.isFinite(x)) return "–"
  if (x === 0) return "0"
  const abs = Math.abs(x)
  if (abs >= 1000) return x.toFixed(0)
  if (abs >= 1) return x.toPrecision(Math.max(digits, Math.floor(Math.log10(abs)) + 1))
  if (abs >= 1e-3) return x.toFixed(digits)
  return x.toExponential(1)
}

/** A fraction as a signed percent: 0.123 → "+12.3%". */
export const formatPercent = (x: number | null | undefined): string => {
  if (x === null || x === undefined || !Number.isFinite(x)) return "–"
  const p = x * 100
  return `${p >= 0 ? "+" : ""}${p.toFixed(Math.abs(p) >= 100 ? 0 : 1)}%`
}

export interface Estimate {
  readonly value: number | null
  readonly ci?: readonly [number | null, number | null] | null
}

/** "1.42 [1.10, 1.81]"; with percent: "+12.3% [+8.0%, +16.1%]". */
export const formatEstimate = (e: Estimate | undefined, style: "number" | "percent" = "number"): string => {
  if (e === undefined) return "–"
  // the bounds get the point value's decimals, so "1.42 [0.95, 2.60]" reads evenly
  const a = Math.abs(e.value ?? 0)
  const decimals = a >= 100 ? 0 : a >= 10 ? 1 : a >= 1 ? 2 : 3
  const fixed = (x: number | null | undefined) => (x === null || x === undefined || !Number.isFinite(x) ? "–" : x.toFixed(decimals))
  const f = style === "percent" ? formatPercent : a >= 1e-3 || e.value === 0 ? fixed : (x: number | null | undefined) => formatNumber(x)
  const ci = e.ci
  if (ci === undefined || ci === null || (ci[0] === null && ci[1] === null)) return f(e.value)
  return `${f(e.value)} [${f(ci[0])}, ${f(ci[1])}]`
}

/** A text progress bar of `width` cells: "██████░░░░". */
export const progressBar = (done: number, total: number, width: number): string => {
  const w = Math.max(0, Math.floor(width))
  const frac = total > 0 ? Math.min(1, Math.max(0, done / total)) : 0
  const full = Math.round(frac * w)
  return "█".repeat(full) + "░".repeat(w - full)
}

/** Remaining time by linear extrapolation of the rate since `startedAt`; undefined until known. */
export const etaMs = (done: number, total: number, startedAt: number, now: number): number | undefined => {
  if (!(done > 0) || !(total > done) || !(now > startedAt)) return done >= total && total > 0 ? 0 : undefined
  const rate = done / (now - startedAt)
  return (total - done) / rate
}

export const statusIcon: Record<StepStatus, string> = {
  pending: "·",
  running: "▶",
  succeeded: "✔",
  failed: "✘",
  skipped: "↷",
  cached: "◆",
  deferred: "⏸",
  interrupted: "■"
}

/** Render one value that decided a branch: estimates as "v [lo, hi]", numbers trimmed. */
export const formatValue = (v: unknown): string => {
  if (typeof v === "number") return formatNumber(v)
  if (typeof v === "string") return v
  if (typeof v === "boolean" || v === null || v === undefined) return String(v)
  if (typeof v === "object" && v !== null && "value" in v) {
    const o = v as { value: unknown; ci?: unknown }
    if (typeof o.value === "number" || o.value === null) {
      const ci = Array.isArray(o.ci) && o.ci.length === 2 ? (o.ci as [number | null, number | null]) : undefined
      return formatEstimate({ value: o.value as number | null, ci })
    }
  }
  const s = JSON.stringify(v)
  return s.length > 40 ? s.slice(0, 39) + "…" : s
}

/**
 * "colab_001: disparity 1.42 [1.10, 1.81] < 2 → colab_002" (true) or "… → kaggle_001 skipped" (false).
 * The value of each `steps.X.outputs.a.b` reference replaces it in the expression; a reference to
 * `.value` shows its whole estimate (the CI as well) when the parent is in `values`.
 */
export const describeBranch = (
  d: {
    readonly stepId: string
    readonly expression: string
    readonly result: boolean
    readonly values: Readonly<Record<string, unknown>>
  },
  outputsOf?: (stepId: string) => unknown
): string => {
  const refs = Object.keys(d.values).sort((a, b) => b.length - a.length)
  let text = d.expression
  const sources = new Set<string>()
  for (const ref of refs) {
    const m = /^steps\.([^.]+)\.(?:outputs\.)?(.+)$/.exec(ref)
    const source = m?.[1]
    const path = m?.[2] ?? ref
    if (source !== undefined) sources.add(source)
    const label = path.replace(/\.value$/, "")
    let shown: unknown = d.values[ref]
    if (source !== undefined && outputsOf !== undefined && path.endsWith(".value") && m?.[0].includes(".outputs.")) {
      const parent = getPath(outputsOf(source), label)
      if (typeof parent === "object" && parent !== null && "ci" in parent && (parent as { value?: unknown }).value === shown) shown = parent
    }
    text = text.split(ref).join(`${label} ${formatValue(shown)}`)
  }
  const prefix = sources.size > 0 ? `${[...sources].join(", ")}: ` : ""
  return `${prefix}${text.trim()} → ${d.result ? d.stepId : `${d.stepId} skipped`}`
}

/** Read a dotted path ("disparity.value") inside a plain object; undefined when any part is missing. */
export const getPath = (obj: unknown, path: string): unknown => {
  let cur: unknown = obj
  for (const part of path.split(".")) {
    if (typeof cur !== "object" || cur === null) return undefined
    cur = (cur as Record<string, unknown>)[part]
  }
  return cur
}
