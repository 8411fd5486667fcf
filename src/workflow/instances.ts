/**
 * From a written step to its instances: one per matrix combination (or one), each with its
 * `with` built as the engine will run it: `${{ matrix.… }}` substituted, the model and corpus
 * filled from the matrix or the workflow `defaults` at the kernel's `models`/`corpora` paths,
 * and other `defaults` keys merged in where the kernel accepts them. `${{ steps.… }}`
 * expressions stay as strings (listed in `expressions`) for the engine's `resolveWith`.
 * Used by the loader (to validate each instance) and by plan() (to emit them).
 */
import type { KernelDefinition } from "../kernels/define.js"
import { EXPRESSION, WHOLE_EXPRESSION, fromCel, referencesOf } from "./conditions.js"
import { Environment } from "@marcbachmann/cel-js"
import { instanceId, expandMatrix } from "./matrix.js"
import { objectShape } from "./zodwalk.js"
import type { MatrixSpec } from "./types.js"

const isMap = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v)

export interface StepInstance {
  readonly id: string
  readonly matrix?: Readonly<Record<string, unknown>>
  readonly with: Record<string, unknown>
  /** dotted path in `with` → CEL source of each `${{ }}` that reads steps */
  readonly expressions: ReadonlyArray<{ readonly path: string; readonly expression: string }>
  /** dotted paths whose `${{ matrix.… }}` could not be evaluated (reported by the expression checker) */
  readonly unresolved: ReadonlyArray<string>
  /** which top-level `with` keys came from where, for error messages */
  readonly origin: Readonly<Record<string, "step" | "defaults" | "matrix">>
}

let matrixEnv: Environment | undefined
const env = (): Environment => {
  if (matrixEnv === undefined) {
    matrixEnv = new Environment({ homogeneousAggregateLiterals: false })
    matrixEnv.registerVariable("matrix", "map<string, dyn>")
  }
  return matrixEnv
}

/** Integers as CEL ints, so that `matrix.bits` stays an integer. */
const celLoose = (v: unknown): unknown => {
  if (typeof v === "number" && Number.isInteger(v)) return BigInt(v)
  if (Array.isArray(v)) return v.map(celLoose)
  if (isMap(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, celLoose(x)]))
  return v
}

const readsSteps = (expression: string): boolean => {
  try {
    return referencesOf(env().parse(expression).ast).some((r) => r.root === "steps")
  } catch {
    return true // a syntax error: left for the condition checker to report
  }
}

/** Substitute `${{ }}` that read only the matrix; keep (and list) those that read steps. */
const substituteMatrix = (
  value: unknown,
  matrix: Readonly<Record<string, unknown>>,
  path: string[],
  expressions: { path: string; expression: string }[],
  unresolved: string[] = []
): unknown => {
  if (typeof value === "string" && value.includes("${{")) {
    const whole = WHOLE_EXPRESSION.exec(value)
    const all = [...value.matchAll(EXPRESSION)].map((m) => m[1]!.trim())
    if (all.some(readsSteps)) {
      for (const expression of all) expressions.push({ path: path.join("."), expression })
      return value
    }
    const context = { matrix: celLoose(matrix) }
    try {
      if (whole) return fromCel(env().evaluate(whole[1]!.trim(), context))
      return value.replace(EXPRESSION, (_, e: string) => {
        const v = fromCel(env().evaluate(e.trim(), context))
        return typeof v === "string" ? v : JSON.stringify(v)
      })
    } catch {
      unresolved.push(path.join("."))
      return value // reported by the checker (unknown axis, type error)
    }
  }
  if (Array.isArray(value)) return value.map((v, i) => substituteMatrix(v, matrix, [...path, String(i)], expressions, unresolved))
  if (isMap(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substituteMatrix(v, matrix, [...path, k], expressions, unresolved)]))
  return value
}

const getPath = (obj: Record<string, unknown>, path: ReadonlyArray<string>): unknown => {
  let v: unknown = obj
  for (const k of path) {
    if (!isMap(v)) return undefined
    v = v[k]
  }
  return v
}

const setPath = (obj: Record<string, unknown>, path: ReadonlyArray<string>, value: unknown): void => {
  let v: Record<string, unknown> = obj
  for (const k of path.slice(0, -1)) v = v[k] as Record<string, unknown>
  v[path[path.length - 1]!] = value
}

/** Deep merge for defaults: the step's own values win; lists and scalars are replaced whole. */
const mergeDefaults = (own: unknown, fallback: unknown): unknown => {
  if (own === undefined) return structuredClone(fallback)
  if (isMap(own) && isMap(fallback)) {
    const out: Record<string, unknown> = { ...own }
    for (const [k, v] of Object.entries(fallback)) out[k] = mergeDefaults(own[k], v)
    return out
  }
  return own
}

/** `model: fixture:tiny-llama` is short for `model: {id: fixture:tiny-llama}`. */
export const modelSpecOf = (v: unknown): unknown => (typeof v === "string" ? { id: v } : v)

/**
 * Fill one path: set it when it is absent and its parent exists (a top-level path always has a parent).
 * Returns true when it filled the path.
 */
const fill = (w: Record<string, unknown>, dotted: string, value: unknown): boolean => {
  const path = dotted.split(".")
  if (getPath(w, path) !== undefined) return false
  if (path.length > 1 && !isMap(getPath(w, path.slice(0, -1)))) return false
  setPath(w, path, structuredClone(value))
  return true
}

/** The instances of one step. */
export const stepInstances = (
  step: { readonly id: string; readonly with: Readonly<Record<string, unknown>>; readonly matrix?: MatrixSpec | undefined },
  kernel: Pick<KernelDefinition, "with" | "models" | "corpora"> | undefined,
  defaults: Readonly<Record<string, unknown>>
): StepInstance[] => {
  const combos = step.matrix ? expandMatrix(step.matrix) : [undefined]
  return combos.map((combo) => {
    const expressions: { path: string; expression: string }[] = []
    const unresolved: string[] = []
    const w = substituteMatrix(structuredClone(step.with), combo ?? {}, [], expressions, unresolved) as Record<string, unknown>
    const origin: Record<string, "step" | "defaults" | "matrix"> = Object.fromEntries(Object.keys(w).map((k) => [k, "step" as const]))
    if (kernel !== undefined) {
      // `model: fixture:tiny-llama` is short for `model: {id: fixture:tiny-llama}`
      for (const p of kernel.models) {
        const parts = p.split(".")
        if (typeof getPath(w, parts) === "string") setPath(w, parts, modelSpecOf(getPath(w, parts)))
      }
      const model = combo?.["model"] ?? defaults["model"]
      const modelFrom = combo?.["model"] !== undefined ? "matrix" : "defaults"
      if (model !== undefined) for (const p of kernel.models) if (fill(w, p, modelSpecOf(model))) origin[p.split(".")[0]!] ??= modelFrom
      const corpus = combo?.["corpus"] ?? defaults["corpus"]
      const corpusFrom = combo?.["corpus"] !== undefined ? "matrix" : "defaults"
      if (isMap(corpus)) {
        for (const p of kernel.corpora) {
          // a calibration corpus defaults to the workflow corpus's training split
          const value = p.endsWith("calibration.corpus") ? { ...corpus, split: "train" } : corpus
          if (fill(w, p, value)) origin[p.split(".")[0]!] ??= corpusFrom
        }
      }
      const shape = objectShape(kernel.with) ?? {}
      for (const [key, value] of Object.entries(defaults)) {
        if (key === "model" || key === "corpus" || !(key in shape)) continue
        const merged = mergeDefaults(w[key], value)
        if (w[key] === undefined) origin[key] = "defaults"
        w[key] = merged
      }
    }
    return {
      id: combo === undefined ? step.id : instanceId(step.id, combo),
      ...(combo !== undefined ? { matrix: combo } : {}),
      with: w,
      expressions,
      unresolved,
      origin
    }
  })
}
