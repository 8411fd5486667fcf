/**
 * The latest per-language table: baseline and quantized perplexity and the degradation
 * d = PPL_q/PPL_b − 1 with its 95% CI, filling in row by row as partial results arrive.
 * Narrow terminals drop the CI, then the perplexities.
 */
import { Box, Text } from "ink"
import { formatEstimate, formatNumber, formatPercent } from "./format.js"
import type { LanguageRow } from "./languages.js"

export interface LanguageTableProps {
  readonly stepId: string
  readonly rows: ReadonlyArray<LanguageRow>
  readonly final: boolean
  readonly width: number
}

const cell = (s: string, w: number, right = true): string => (s.length > w ? s.slice(0, w - 1) + "…" : right ? s.padStart(w) : s.padEnd(w))

export const LanguageTable = ({ stepId, rows, final, width }: LanguageTableProps) => {
  const hasQuant = rows.some((r) => r.quantized !== undefined || r.degradation !== undefined)
  const showCi = width >= 72
  const showPpl = width >= 48
  const langW = Math.max(4, ...rows.map((r) => r.language.length))
  const header = hasQuant
    ? [cell("lang", langW, false), ...(showPpl ? [cell("PPL base", 9), cell("PPL quant", 9)] : []), cell(showCi ? "degradation [95% CI]" : "degr.", showCi ? 28 : 8)]
    : [cell("lang", langW, false), cell("PPL", 9), ...(showPpl ? [cell("bits/byte", 9), cell("tokens", 8)] : [])]
  const worst = Math.max(...rows.map((r) => r.degradation?.value ?? -Infinity))
  const line = (r: LanguageRow): string[] =>
    hasQuant
      ? [
          cell(r.language, langW, false),
          ...(showPpl ? [cell(formatNumber(r.baseline), 9), cell(formatNumber(r.quantized), 9)] : []),
          showCi ? cell(formatEstimate(r.degradation, "percent"), 28) : cell(formatPercent(r.degradation?.value), 8)
        ]
      : [
          cell(r.language, langW, false),
          cell(formatNumber(r.baseline), 9),
          ...(showPpl ? [cell(formatNumber(r.bitsPerByte), 9), cell(formatNumber(r.tokens, 0), 8)] : [])
        ]
  return (
    <Box flexDirection="column">
      <Text dimColor>
        {stepId} {final ? "" : "(partial)"}
      </Text>
      <Text bold>{header.join("  ")}</Text>
      {rows.map((r) => {
        // the worst language (largest degradation) stands out
        const worse = r.degradation?.value != null && r.degradation.value === worst && rows.length > 1
        return (
          <Text key={r.language} {...(worse ? { color: "yellow" } : {})}>
            {line(r).join("  ")}
          </Text>
        )
      })}
    </Box>
  )
}
