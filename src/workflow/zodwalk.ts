/**
 * Small read-only walks over zod 4 schemas: unwrap optional/default/nullable, find the sub-schema
 * at a field path, and list an object's keys. The workflow loader uses them to merge defaults
 * only into keys a kernel accepts and to type `${{ }}` expressions against the field they fill.
 */
import type { z } from "zod"

type Def = { type: string; [k: string]: unknown }
const defOf = (schema: z.ZodType): Def => (schema as unknown as { _zod: { def: Def } })._zod.def

/** The schema under optional, default, nullable, readonly, catch and pipe (its input side). */
export const unwrap = (schema: z.ZodType): z.ZodType => {
  let s = schema
  for (let i = 0; i < 20; i++) {
    const def = defOf(s)
    if (["optional", "default", "prefault", "nullable", "readonly", "catch", "nonoptional"].includes(def.type)) s = def["innerType"] as z.ZodType
    else if (def.type === "pipe") s = def["in"] as z.ZodType
    else if (def.type === "lazy") s = (def["getter"] as () => z.ZodType)()
    else return s
  }
  return s
}

export const kindOf = (schema: z.ZodType): string => defOf(unwrap(schema)).type

export const isNullable = (schema: z.ZodType): boolean => {
  let s = schema
  for (let i = 0; i < 20; i++) {
    const def = defOf(s)
    if (def.type === "nullable") return true
    if (["optional", "default", "prefault", "readonly", "catch", "nonoptional"].includes(def.type)) s = def["innerType"] as z.ZodType
    else if (def.type === "pipe") s = def["out"] as z.ZodType
    else return false
  }
  return false
}

export const isInt = (schema: z.ZodType): boolean => {
  const s = unwrap(schema) as unknown as { isInt?: boolean; format?: string | null }
  return s.isInt === true || s.format === "safeint" || s.format === "int32"
}

/** The keys of an object schema (after unwrapping), or undefined when it is not an object. */
export const objectShape = (schema: z.ZodType): Record<string, z.ZodType> | undefined => {
  const s = unwrap(schema)
  const def = defOf(s)
  return def.type === "object" ? (def["shape"] as Record<string, z.ZodType>) : undefined
}

/** The sub-schema that validates the value at `path` (object keys, record values, array items). */
export const schemaAt = (schema: z.ZodType, path: ReadonlyArray<string | number>): z.ZodType | undefined => {
  let s: z.ZodType | undefined = schema
  for (const key of path) {
    if (s === undefined) return undefined
    const u = unwrap(s)
    const def = defOf(u)
    if (def.type === "object") s = (def["shape"] as Record<string, z.ZodType>)[String(key)]
    else if (def.type === "record") s = def["valueType"] as z.ZodType
    else if (def.type === "array") s = def["element"] as z.ZodType
    else if (def.type === "tuple") s = (def["items"] as z.ZodType[])[Number(key)] ?? (def["rest"] as z.ZodType | undefined)
    else return undefined
  }
  return s
}

export const arrayElement = (schema: z.ZodType): z.ZodType | undefined => {
  const def = defOf(unwrap(schema))
  return def.type === "array" ? (def["element"] as z.ZodType) : undefined
}

export const recordValue = (schema: z.ZodType): z.ZodType | undefined => {
  const def = defOf(unwrap(schema))
  return def.type === "record" ? (def["valueType"] as z.ZodType) : undefined
}

export const tupleItems = (schema: z.ZodType): z.ZodType[] | undefined => {
  const def = defOf(unwrap(schema))
  return def.type === "tuple" ? (def["items"] as z.ZodType[]) : undefined
}

export const enumValues = (schema: z.ZodType): unknown[] | undefined => {
  const def = defOf(unwrap(schema))
  if (def.type === "enum") return Object.values(def["entries"] as Record<string, unknown>)
  if (def.type === "literal") return def["values"] as unknown[]
  return undefined
}
