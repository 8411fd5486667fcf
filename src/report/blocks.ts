/**
 * What every report section shares: loose reads of a kernel's stored outputs (they arrive as
 * `unknown`) and the constructors of the document's blocks (types.ts).
 */
import type { Block, Cell, Inline } from "./types.js"

export type Obj = Record<string, unknown>
export const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v)
/** The objects of an array output (anything else is dropped). */
export const objs = (v: unknown): Obj[] => (Array.isArray(v) ? v.filter(isObj) : [])
/** A finite number, or null. */
export const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null)

/** A table block; columns listed in `right` are right-aligned. */
export const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<Cell>>, right: ReadonlyArray<number> = []): Block => ({ kind: "table", header, rows, right })
export const paragraph = (...lines: ReadonlyArray<Inline>): Block => ({ kind: "paragraph", lines })
