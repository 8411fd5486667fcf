/** Durations as workflows write them: "90s", "30m", "6h", "1h30m", "2d", or a number of seconds. */

const UNIT_SECONDS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86400 }
const DURATION = /^(?:\d+(?:\.\d+)?[smhd])+$/
const PART = /(\d+(?:\.\d+)?)([smhd])/g

/** Seconds, or undefined when the text is not a duration. */
export const parseDuration = (value: unknown): number | undefined => {
  if (typeof value === "number") return Number.isFinite(value) && value >= 0 ? value : undefined
  if (typeof value !== "string") return undefined
  const text = value.replace(/\s+/g, "")
  if (!DURATION.test(text)) return undefined
  let seconds = 0
  for (const m of text.matchAll(PART)) seconds += Number(m[1]) * UNIT_SECONDS[m[2]!]!
  return seconds
}

/** 1800 → "30m", 5400 → "1h30m", 21600 → "6h", 90 → "1m30s". */
export const formatDuration = (seconds: number): string => {
  if (seconds <= 0) return "0s"
  let rest = Math.round(seconds)
  const parts: string[] = []
  for (const [unit, size] of [["d", 86400], ["h", 3600], ["m", 60], ["s", 1]] as const) {
    const n = Math.floor(rest / size)
    if (n > 0) parts.push(`${n}${unit}`)
    rest -= n * size
  }
  return parts.join("")
}
