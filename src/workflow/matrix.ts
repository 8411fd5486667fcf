/**
 * `matrix:` — a cartesian product over axes, with `exclude` (remove combinations matching a
 * partial combination) and `include` (extend matching combinations with extra keys, or add new
 * ones), as GitHub Actions users expect. Instances are named `base[axis=value,...]`.
 */
import { isDeepStrictEqual } from "node:util"
import type { MatrixSpec } from "./types.js"

const AXIS = /^[A-Za-z_][A-Za-z0-9_]*$/
const isMap = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v)

export interface MatrixProblem {
  /** path below `matrix` */
  readonly path: ReadonlyArray<string | number>
  readonly message: string
}

const show = (v: unknown): string => (typeof v === "string" ? v : JSON.stringify(v))

/**
 * Check a written `matrix:` and turn it into a MatrixSpec. `limit`: the most instances it may make
 * (src/workflow/limits.ts); the count is known from the axis lengths before anything is expanded.
 */
export const readMatrix = (raw: unknown, limit: { readonly max: number; readonly over: string } = { max: Number.MAX_SAFE_INTEGER, over: "" }): { spec?: MatrixSpec; problems: MatrixProblem[] } => {
  const problems: MatrixProblem[] = []
  if (!isMap(raw)) return { problems: [{ path: [], message: "a matrix is a map of axis → list of values (plus include and exclude)" }] }
  const axes: Record<string, unknown[]> = {}
  const lists: Record<"include" | "exclude", Record<string, unknown>[]> = { include: [], exclude: [] }
  for (const [key, value] of Object.entries(raw)) {
    if (key === "include" || key === "exclude") {
      if (!Array.isArray(value)) {
        problems.push({ path: [key], message: `matrix ${key} must be a list of combinations such as [{bits: 4}]` })
        continue
      }
      value.forEach((entry, i) => {
        if (!isMap(entry) || Object.keys(entry).length === 0) problems.push({ path: [key, i], message: `matrix ${key}[${i}] must be a non-empty map of axis → value` })
        else lists[key].push(entry)
      })
      continue
    }
    if (!AXIS.test(key)) {
      problems.push({ path: [key], message: `matrix axis '${key}' must be an identifier (letters, digits, _), so that \${{ matrix.${key} }} can read it` })
      continue
    }
    if (!Array.isArray(value) || value.length === 0) {
      problems.push({ path: [key], message: `matrix axis '${key}' must be a non-empty list of values` })
      continue
    }
    const dup = value.findIndex((v, i) => value.findIndex((w) => isDeepStrictEqual(v, w)) !== i)
    if (dup >= 0) problems.push({ path: [key, dup], message: `matrix axis '${key}' lists ${show(value[dup])} twice` })
    axes[key] = value
  }
  const axisNames = Object.keys(axes)
  if (axisNames.length === 0 && lists.include.length === 0 && problems.length === 0) {
    problems.push({ path: [], message: "a matrix needs at least one axis (e.g. bits: [2, 3, 4]) or an include list" })
  }
  lists.exclude.forEach((entry, i) => {
    for (const key of Object.keys(entry)) {
      if (!(key in axes)) {
        problems.push({ path: ["exclude", i, key], message: `matrix exclude names '${key}', which is not an axis (axes: ${axisNames.join(", ") || "none"})` })
      } else if (!axes[key]!.some((v) => isDeepStrictEqual(v, entry[key]))) {
        problems.push({ path: ["exclude", i, key], message: `matrix exclude value ${show(entry[key])} is not among axis '${key}' values (${axes[key]!.map(show).join(", ")})` })
      }
    }
  })
  lists.include.forEach((entry, i) => {
    for (const key of Object.keys(entry)) {
      if (!AXIS.test(key)) problems.push({ path: ["include", i, key], message: `matrix include key '${key}' must be an identifier (letters, digits, _)` })
    }
    // with axes, an include extends the combinations it matches by axis value; one that names no
    // axis would be added as a combination without any axis value, which is a typo far more often
    const keys = Object.keys(entry)
    if (axisNames.length > 0 && !keys.some((k) => k in axes)) {
      problems.push({ path: ["include", i, keys[0]!], message: `matrix include[${i}] names no axis (${keys.join(", ")}; axes: ${axisNames.join(", ")}): name the axis values it extends` })
    }
  })
  const instances = axisNames.reduce((n, a) => n * axes[a]!.length, axisNames.length > 0 ? 1 : 0) + lists.include.length
  if (instances > limit.max) problems.push({ path: [], message: `the matrix makes up to ${instances} instances, ${limit.over}` })
  if (problems.length > 0) return { problems }
  const spec: MatrixSpec = { axes, include: lists.include, exclude: lists.exclude }
  if (expandMatrix(spec).length === 0) return { problems: [{ path: ["exclude"], message: "matrix exclude removes every combination: the step would never run" }] }
  return { spec, problems }
}

const matches = (combo: Readonly<Record<string, unknown>>, partial: Readonly<Record<string, unknown>>): boolean =>
  Object.entries(partial).every(([k, v]) => isDeepStrictEqual(combo[k], v))

/** The combinations, in order: the product (first axis slowest), minus excludes, plus includes. */
export const expandMatrix = (spec: MatrixSpec): Record<string, unknown>[] => {
  let combos: Record<string, unknown>[] = [{}]
  const axisNames = Object.keys(spec.axes)
  for (const axis of axisNames) {
    combos = combos.flatMap((c) => spec.axes[axis]!.map((v) => ({ ...c, [axis]: v })))
  }
  if (axisNames.length === 0) combos = []
  combos = combos.filter((c) => !spec.exclude.some((e) => matches(c, e)))
  for (const entry of spec.include) {
    // an include extends the combinations whose axis values it matches, without overwriting an axis value
    const onAxes = Object.fromEntries(Object.entries(entry).filter(([k]) => axisNames.includes(k)))
    const extendable = combos.filter((c) => matches(c, onAxes) && Object.keys(entry).every((k) => !(k in c) || isDeepStrictEqual(c[k], entry[k]) || !axisNames.includes(k)))
    if (extendable.length > 0 && Object.keys(onAxes).length > 0) for (const c of extendable) Object.assign(c, entry)
    else if (!combos.some((c) => isDeepStrictEqual(c, entry))) combos.push({ ...entry })
  }
  return combos
}

/** How a matrix value reads in an instance id: a model spec by its id, scalars as written. */
export const showValue = (v: unknown): string => {
  if (isMap(v) && typeof v["id"] === "string") return v["id"]
  if (isMap(v) && Array.isArray(v["languages"])) return (v["languages"] as unknown[]).join("+")
  return typeof v === "string" ? v : JSON.stringify(v)
}

/** `base[axis=value,...]` */
export const instanceId = (base: string, combo: Readonly<Record<string, unknown>>): string =>
  `${base}[${Object.entries(combo)
    .map(([k, v]) => `${k}=${showValue(v)}`)
    .join(",")}]`
