/**
 * Canonical JSON (object keys sorted, no whitespace) and its sha256: the one way the engine turns
 * a value into a digest, so that two equal parameter sets always give one cache key.
 */
import { createHash } from "node:crypto"

export const canonicalJson = (value: unknown): string => {
  if (value === undefined) return "null"
  if (value === null || typeof value !== "object") {
    if (typeof value === "number" && !Number.isFinite(value)) return "null"
    if (typeof value === "bigint") return value.toString()
    return JSON.stringify(value)
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`
}

export const sha256 = (text: string | Buffer): string => createHash("sha256").update(text).digest("hex")

export const digestOf = (value: unknown): string => sha256(canonicalJson(value))
