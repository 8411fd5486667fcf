/**
 * Per-language rows out of a kernel's outputs (or a partial result), for the dashboard's live
 * table and the report. Kernels put per-language numbers under `languages` (language → object)
 * or `per_language` (a list of objects with `language`); a partial result may be one language's
 * object with a `language` key. Numbers are read by the names the kernels' output schemas use.
 */
import { getPath } from "./format.js"

export interface EstimateValue {
  readonly value: number | null
  readonly ci: readonly [number | null, number | null] | null
}

export interface LanguageRow {
  readonly language: string
  /** token perplexity of the baseline (disparity) or of the model (perplexity) */
  readonly baseline?: number
  /** token perplexity of the quantized variant */
  readonly quantized?: number
  /** d = PPL_q / PPL_b − 1 with its 95% CI */
  readonly degradation?: EstimateValue
  /** ΔBPB = BPB_q − BPB_b with its 95% CI */
  readonly deltaBpb?: EstimateValue
  /** bits per byte (perplexity kernel) */
  readonly bitsPerByte?: number
  readonly tokens?: number
  readonly kl?: number
  readonly top1Agreement?: number
  /** tokenizer-stats: tokens / the reference language's tokens on the same text */
  readonly premium?: number
}

const num = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined)

const firstNumber = (obj: unknown, paths: ReadonlyArray<string>): number | undefined => {
  for (const p of paths) {
    const v = getPath(obj, p)
    const n = num(v) ?? (typeof v === "object" && v !== null ? num((v as { value?: unknown }).value) : undefined)
    if (n !== undefined) return n
  }
  return undefined
}

/** An estimate `{value, ci}`, or a bare number (no CI). */
export const asEstimate = (v: unknown): EstimateValue | undefined => {
  if (typeof v === "number") return Number.isFinite(v) ? { value: v, ci: null } : undefined
  if (typeof v !== "object" || v === null || !("value" in v)) return undefined
  const o = v as { value: unknown; ci?: unknown }
  const value = num(o.value) ?? null
  const ci =
    Array.isArray(o.ci) && o.ci.length === 2 ? ([num(o.ci[0]) ?? null, num(o.ci[1]) ?? null] as const) : null
  return { value, ci }
}

const firstEstimate = (obj: unknown, paths: ReadonlyArray<string>): EstimateValue | undefined => {
  for (const p of paths) {
    const e = asEstimate(getPath(obj, p))
    if (e !== undefined) return e
  }
  return undefined
}

const rowOf = (language: string, o: unknown): LanguageRow | undefined => {
  if (typeof o !== "object" || o === null) return undefined
  const row: LanguageRow = {
    language,
    baseline: firstNumber(o, ["ppl_base", "baseline.ppl", "baseline.token_ppl", "ppl_baseline", "baseline_ppl", "ppl_b", "ppl", "token_ppl"]),
    quantized: firstNumber(o, ["ppl_quant", "quantized.ppl", "quantized.token_ppl", "ppl_quantized", "quantized_ppl", "ppl_q"]),
    degradation: firstEstimate(o, ["degradation", "d"]),
    deltaBpb: firstEstimate(o, ["delta_bpb", "delta_bits_per_byte"]),
    bitsPerByte: firstNumber(o, ["bits_per_byte", "bpb", "baseline.bits_per_byte"]),
    tokens: firstNumber(o, ["tokens", "baseline.tokens"]),
    kl: firstNumber(o, ["kl", "kl_divergence", "mean_kl"]),
    top1Agreement: firstNumber(o, ["top1_agreement", "top1"]),
    premium: firstNumber(o, ["premium"])
  }
  const has = Object.entries(row).some(([k, v]) => k !== "language" && v !== undefined)
  return has ? row : undefined
}

/** Every per-language row an output holds, in the kernel's order; [] when it holds none. */
export const languageRows = (output: unknown): LanguageRow[] => {
  if (typeof output !== "object" || output === null) return []
  const o = output as Record<string, unknown>
  const table = o["languages"] ?? o["per_language"]
  const rows: LanguageRow[] = []
  if (Array.isArray(table)) {
    for (const entry of table) {
      const lang = typeof entry === "object" && entry !== null ? (entry as { language?: unknown }).language : undefined
      if (typeof lang !== "string") continue
      const r = rowOf(lang, entry)
      if (r) rows.push(r)
    }
  } else if (typeof table === "object" && table !== null) {
    for (const [lang, entry] of Object.entries(table)) {
      const r = rowOf(lang, entry)
      if (r) rows.push(r)
    }
  } else if (typeof o["language"] === "string") {
    const r = rowOf(o["language"], o)
    if (r) rows.push(r)
  }
  return rows
}

/** Merge new rows into old by language (partials arrive one language at a time). */
export const mergeRows = (old: ReadonlyArray<LanguageRow>, incoming: ReadonlyArray<LanguageRow>): LanguageRow[] => {
  const out = [...old]
  for (const r of incoming) {
    const i = out.findIndex((x) => x.language === r.language)
    if (i < 0) out.push(r)
    else {
      const merged: Record<string, unknown> = { ...out[i] }
      for (const [k, v] of Object.entries(r)) if (v !== undefined) merged[k] = v
      out[i] = merged as unknown as LanguageRow
    }
  }
  return out
}
