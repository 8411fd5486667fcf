/** The report document as Markdown (its blocks rendered), and the number formats of the report. */
import type { Block, Cell, Inline } from "./types.js"

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

const cellText = (c: Cell): string => (typeof c === "string" ? c : c.text)

/** Inline spans as Markdown: `code`, **strong**; plain text as it is. */
export const inlineMarkdown = (x: Inline): string =>
  typeof x === "string" ? x : x.map((s) => (typeof s === "string" ? s : "code" in s ? `\`${s.code}\`` : `**${s.strong}**`)).join("")

const blockLines = (b: Block): string[] => {
  switch (b.kind) {
    case "heading":
      return [`${"#".repeat(b.level)} ${b.text}`]
    case "paragraph":
      return b.lines.map(inlineMarkdown)
    case "list":
      return b.items.map((i) => `- ${inlineMarkdown(i)}`)
    case "table":
      return table(b.header, b.rows.map((r) => r.map(cellText)), b.right)
    case "code":
      return ["```" + b.language, b.text, "```"]
    case "plot":
      // the plot files lie beside report.md
      return [`![${b.spec.title}](${b.spec.name}.svg)`, "", `*${b.spec.title}* — [SVG](${b.spec.name}.svg) · [PNG](${b.spec.name}.png)`]
  }
}

/** The blocks as Markdown, one blank line between blocks, ending in one newline. */
export const renderMarkdown = (blocks: ReadonlyArray<Block>): string =>
  blocks
    .map((b) => blockLines(b).join("\n"))
    .join("\n\n")
    .replace(/\n{3,}/g, "\n\n")
    .trimEnd() + "\n"
