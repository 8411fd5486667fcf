/**
 * Evaluating `if:` conditions and `${{ }}` expressions at run time, with the maintained CEL
 * library (@marcbachmann/cel-js) over `steps.<id>.{status,outputs}`. Type checking happens when
 * the workflow loads (src/workflow); here a condition that reads a missing value is an error the
 * engine reports as the branch's reason. `values` records each referenced path's value.
 */
import { evaluate } from "@marcbachmann/cel-js"
import type { PlannedCondition } from "../plan/types.js"
import type { StepsState } from "./state.js"

/** CEL integers come back as BigInt: make results plain JSON. */
export const toPlain = (value: unknown): unknown => {
  if (typeof value === "bigint") return Number(value)
  if (Array.isArray(value)) return value.map(toPlain)
  if (value instanceof Map) return Object.fromEntries([...value.entries()].map(([k, v]) => [String(k), toPlain(v)]))
  if (value !== null && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toPlain(v)]))
  return value
}

/** The value at `steps.a.outputs.x.y` (undefined where the path does not exist). */
export const referenceValue = (path: string, steps: StepsState): unknown => {
  const [root, id, ...rest] = path.split(".")
  if (root !== "steps" || id === undefined) return undefined
  let node: unknown = steps[id]
  for (const key of rest) {
    if (node === null || typeof node !== "object") return undefined
    node = (node as Record<string, unknown>)[key]
  }
  return node
}

/** References found in an expression (when the plan did not list them). */
export const findReferences = (expression: string): string[] => [...new Set(expression.match(/\bsteps\.[A-Za-z_][\w-]*(?:\.[A-Za-z_]\w*)*/g) ?? [])]

export interface ConditionResult {
  readonly result: boolean
  readonly values: Record<string, unknown>
}

export class ConditionEvaluationError extends Error {
  readonly _tag = "ConditionEvaluationError"
  constructor(readonly expression: string, reason: string) {
    super(`\`${expression}\` could not be evaluated: ${reason}`)
  }
}

export const evaluateCondition = (condition: PlannedCondition, steps: StepsState): ConditionResult => {
  const references = condition.references.length > 0 ? condition.references : findReferences(condition.expression)
  const values: Record<string, unknown> = {}
  for (const ref of references) values[ref] = referenceValue(ref, steps) ?? null
  let result: unknown
  try {
    result = evaluate(condition.expression, { steps })
  } catch (error) {
    throw new ConditionEvaluationError(condition.expression, (error as Error).message.split("\n")[0] ?? String(error))
  }
  if (typeof result !== "boolean") throw new ConditionEvaluationError(condition.expression, `it gave ${JSON.stringify(toPlain(result))}, not a boolean`)
  return { result, values }
}

const WHOLE_EXPRESSION = /^\s*\$\{\{([\s\S]*)\}\}\s*$/

/** Replace every string that is exactly `${{ expr }}` inside `with` by the expression's value. */
export const resolveExpressions = (value: unknown, steps: StepsState): unknown => {
  if (typeof value === "string") {
    const m = WHOLE_EXPRESSION.exec(value)
    if (!m || m[1] === undefined) return value
    try {
      return toPlain(evaluate(m[1].trim(), { steps }))
    } catch (error) {
      throw new ConditionEvaluationError(m[1].trim(), (error as Error).message.split("\n")[0] ?? String(error))
    }
  }
  if (Array.isArray(value)) return value.map((v) => resolveExpressions(v, steps))
  if (value !== null && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolveExpressions(v, steps)]))
  return value
}
