/** Markdown building blocks: escaped tables and number formats for the report. */

export const escapeCell = (s: string): string => s.replace(/\\/g, "\\\\").replace(/\|/g, "\\|").replace(/\r?\n/g, " ")

/** A GitHub-flavoured Markdown table; columns listed in `right` are right-aligned. */
export const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>, right: ReadonlyArray<number> = []): string[] => {
  const align = header.map((_, i) => (right.includes(i) ? "---:" : "---"))
  const line = (cells: ReadonlyArray<string>) => `| ${cells.map(escapeCell).join(" | ")} |`
  return [line(header), `|${align.join("|")}|`, ...rows.map(line)]
}

const finite = (x: unknown): x is number => typeof x === "number" && Number.isFinite(x)

/** Fixed decimals, "–" for missing values. */
export const fixed = (x: unknown, digits: number): string => (finite(x) ? x.toFixed(digits) : "–")

/** A fraction as a signed percent with `digits` decimals: 0.1234 → "+12.34%". */
export const pct = (x: unknown, digits = 2): string => (finite(x) ? `${x >= 0 ? "+" : ""}${(100 * x).toFixed(digits)}%` : "–")

export interface Est {
  readonly value: number | null
  readonly ci?: readonly [number | null, number | null] | null
}

/** "v [lo, hi]" with a formatter for each number. */
export const est = (e: Est | undefined, f: (x: unknown) => string): string => {
  if (e === undefined) return "–"
  const ci = e.ci
  if (!ci || (ci[0] === null && ci[1] === null)) return f(e.value)
  return `${f(e.value)} [${f(ci[0])}, ${f(ci[1])}]`
}

/** A file stem safe on every filesystem: matrix ids like `a[x=1]` become `a-x-1`. */
export const slug = (s: string): string =>
  s
    .replace(/[^A-Za-z0-9._-]+/g, "-")
    .replace(/^[-.]+|-+$/g, "")
    .slice(0, 60) || "step"
