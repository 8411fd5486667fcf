/**
 * CEL in workflows: `if:` conditions and `${{ }}` expressions inside `with`.
 *
 * Typing (at load): each step's outputs are declared to @marcbachmann/cel-js as a nested schema
 * converted from the kernel's zod output schema, so `steps.colab_001.outputs.disparty.value`
 * (a misspelt field) or `steps.x.outputs.value + "a"` fails when the file loads. Before the
 * library's own check, the `steps.<id>` references are read from its AST: an unknown id, a step
 * that is not (transitively) needed, or the outputs of a matrixed step get a plain message.
 *
 * Evaluation (at run time, by the engine): `evaluateCondition` and `resolveWith` turn stored
 * outputs into CEL values (integers as BigInt where the schema says int) and record, for each
 * `steps.…` path the expression reads, the value it read.
 */
import { Environment } from "@marcbachmann/cel-js"
import type { z } from "zod"
import { findKernel } from "../kernels/catalog.js"
import type { PlannedCondition, PlannedStep } from "../plan/types.js"
import { ConditionEvaluationError } from "./errors.js"
import { arrayElement, isInt, isNullable, kindOf, objectShape, recordValue, tupleItems, unwrap } from "./zodwalk.js"

// ---------------------------------------------------------------------------------------------
// zod → CEL types

/** A CEL type as the library's `schema` option takes it: a type name, or an object of fields. */
export type CelSchema = string | { [field: string]: CelSchema }

/**
 * How a nullable field is typed: `dyn` (CEL has no nullable double, so null is checked at run
 * time), or as its non-null type (`inner`), for the second check that catches a nullable number
 * compared with a string.
 */
export type NullableAs = "dyn" | "inner"

/** The CEL type of values a zod schema accepts: objects keep their declared fields. */
export const celSchemaOf = (schema: z.ZodType, nullable: NullableAs = "dyn"): CelSchema => {
  if (isNullable(schema) && nullable === "dyn") return "dyn"
  const of = (inner: z.ZodType): CelSchema => celSchemaOf(inner, nullable)
  const s = unwrap(schema)
  switch (kindOf(s)) {
    case "string":
    case "enum":
    case "literal": {
      const values = (s as unknown as { _zod: { def: { values?: unknown[]; entries?: Record<string, unknown> } } })._zod.def
      const all = values.values ?? Object.values(values.entries ?? {})
      if (all.length > 0 && all.every((v) => typeof v === "number")) return all.every((v) => Number.isInteger(v)) ? "int" : "double"
      if (all.length > 0 && all.every((v) => typeof v === "boolean")) return "bool"
      return "string"
    }
    case "number":
      return isInt(s) ? "int" : "double"
    case "int":
      return "int"
    case "boolean":
      return "bool"
    case "object": {
      const shape = objectShape(s) ?? {}
      const fields: { [field: string]: CelSchema } = {}
      for (const [key, value] of Object.entries(shape)) fields[key] = of(value)
      return fields
    }
    case "array": {
      const inner = of(arrayElement(s)!)
      return typeof inner === "string" ? `list<${inner}>` : "list<dyn>"
    }
    case "tuple": {
      const items = (tupleItems(s) ?? []).map(of)
      const first = items[0]
      return typeof first === "string" && items.every((i) => i === first) ? `list<${first}>` : "list<dyn>"
    }
    case "record": {
      const inner = of(recordValue(s)!)
      return typeof inner === "string" ? `map<string, ${inner}>` : "map<string, dyn>"
    }
    default:
      return "dyn"
  }
}

/** The type name `Environment.check` reports for an expression of this zod type. */
export const celTypeName = (schema: z.ZodType): string => {
  const cel = celSchemaOf(schema)
  return typeof cel === "string" ? cel : "map"
}

/** A JSON value → the CEL value the typed environment expects (int fields as BigInt). */
export const toCel = (schema: z.ZodType | undefined, value: unknown): unknown => {
  if (value === null || value === undefined) return value
  if (schema === undefined) return value
  const s = unwrap(schema)
  const kind = kindOf(s)
  if (kind === "number" || kind === "int") return isInt(s) && typeof value === "number" && Number.isInteger(value) ? BigInt(value) : value
  if ((kind === "enum" || kind === "literal") && typeof value === "number" && Number.isInteger(value) && celSchemaOf(s) === "int") return BigInt(value)
  if (kind === "object" && typeof value === "object" && !Array.isArray(value)) {
    const shape = objectShape(s) ?? {}
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, toCel(shape[k], v)]))
  }
  if (kind === "array" && Array.isArray(value)) return value.map((v) => toCel(arrayElement(s), v))
  if (kind === "tuple" && Array.isArray(value)) return value.map((v, i) => toCel((tupleItems(s) ?? [])[i], v))
  if (kind === "record" && typeof value === "object" && !Array.isArray(value)) {
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, toCel(recordValue(s), v)]))
  }
  return value
}

/** A CEL value → plain JSON (BigInt → number, Map → object), for parameters, records and events. */
export const fromCel = (value: unknown): unknown => {
  if (typeof value === "bigint") return Number(value)
  if (value instanceof Map) return Object.fromEntries([...value.entries()].map(([k, v]) => [String(k), fromCel(v)]))
  if (value instanceof Uint8Array) return Buffer.from(value).toString("base64")
  if (Array.isArray(value)) return value.map(fromCel)
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, fromCel(v)]))
  }
  return value
}

// ---------------------------------------------------------------------------------------------
// references

type Ast = { op: string; args: unknown; start?: number; end?: number }
const isAst = (x: unknown): x is Ast => x !== null && typeof x === "object" && typeof (x as Ast).op === "string"

/** One `steps.<id>.<field>…` chain in an expression (or `matrix.<axis>`). */
export interface Reference {
  /** `steps` or `matrix` */
  readonly root: string
  /** the dotted path: `steps.colab_001.outputs.disparity.value` */
  readonly path: string
  /** [id, field, ...] after the root */
  readonly segments: ReadonlyArray<string>
}

const chainOf = (node: Ast): string[] | undefined => {
  if (node.op === "id") return [String(node.args)]
  if (node.op === "." || node.op === ".?") {
    const [target, field] = node.args as [unknown, unknown]
    if (!isAst(target) || typeof field !== "string") return undefined
    const head = chainOf(target)
    return head === undefined ? undefined : [...head, field]
  }
  if (node.op === "[]") {
    // a literal index (`languages['he']`, `values[0]`) continues the chain; a computed one ends it
    const [target, index] = node.args as [unknown, unknown]
    if (!isAst(target) || !isAst(index) || index.op !== "value") return undefined
    const key = index.args
    if (typeof key !== "string" && typeof key !== "number" && typeof key !== "bigint") return undefined
    const head = chainOf(target)
    return head === undefined ? undefined : [...head, String(key)]
  }
  return undefined
}

/** Every maximal `steps.…` / `matrix.…` member chain the expression reads, in order of appearance. */
export const referencesOf = (ast: unknown): Reference[] => {
  const out: Reference[] = []
  const seen = new Set<string>()
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) {
      node.forEach(visit)
      return
    }
    if (!isAst(node)) return
    const chain = chainOf(node)
    if (chain !== undefined && (chain[0] === "steps" || chain[0] === "matrix")) {
      const path = chain.join(".")
      if (!seen.has(path)) {
        seen.add(path)
        out.push({ root: chain[0], path, segments: chain.slice(1) })
      }
      return
    }
    visit(node.args)
  }
  visit(ast)
  return out
}

// ---------------------------------------------------------------------------------------------
// the typed environment (load time)

export interface StepTyping {
  readonly id: string
  /** the kernel's output schema; undefined when the kernel is unknown (already an error) */
  readonly outputs: z.ZodType | undefined
  /** a matrixed step has one output per instance: a condition may read its status only */
  readonly matrixed: boolean
}

export const STATUSES = ["pending", "running", "succeeded", "failed", "skipped", "cached", "deferred", "interrupted"] as const

/** A CEL environment in which `steps.<id>.status` and `steps.<id>.outputs.…` are typed. */
export const typedEnvironment = (steps: ReadonlyArray<StepTyping>, matrixAxes: ReadonlyArray<string> = [], nullable: NullableAs = "dyn"): Environment => {
  const schema: Record<string, CelSchema> = {}
  for (const step of steps) {
    schema[step.id] = step.matrixed || step.outputs === undefined ? { status: "string" } : { status: "string", outputs: celSchemaOf(step.outputs, nullable) }
  }
  const env = new Environment({ homogeneousAggregateLiterals: false })
  if (steps.length > 0) env.registerVariable({ name: "steps", schema })
  else env.registerVariable("steps", "map<string, dyn>")
  if (matrixAxes.length > 0) env.registerVariable({ name: "matrix", schema: Object.fromEntries(matrixAxes.map((a) => [a, "dyn"])) })
  return env
}

export interface CheckedExpression {
  /** the CEL type of the result (`bool`, `double`, ...) when it type-checks */
  readonly type?: string
  readonly references: ReadonlyArray<Reference>
  readonly problems: ReadonlyArray<string>
}

/** First line of a cel-js error (the rest is a caret diagram of the expression). */
const firstLine = (message: string): string => message.split("\n")[0]!.trim()

/**
 * Check one expression. `reachable`: the steps it may read (those its step transitively needs);
 * `known`: every step id of the workflow; `matrixed`: ids of steps with a matrix.
 */
export const checkExpression = (
  env: Environment,
  expression: string,
  scope: {
    readonly known: ReadonlySet<string>
    readonly reachable: ReadonlySet<string>
    readonly matrixed: ReadonlySet<string>
    readonly matrixAxes: ReadonlySet<string>
    /** output schemas by step id, to name a misspelt field and the fields there are */
    readonly outputs?: ReadonlyMap<string, z.ZodType | undefined>
    /** the same environment with nullable fields typed as their non-null type (typedEnvironment "inner") */
    readonly nonNull?: Environment
  }
): CheckedExpression => {
  let ast: unknown
  try {
    ast = env.parse(expression).ast
  } catch (error) {
    return { references: [], problems: [`CEL syntax error: ${firstLine((error as Error).message)}`] }
  }
  const references = referencesOf(ast)
  const problems: string[] = []
  for (const ref of references) {
    const [id, field] = ref.segments
    if (ref.root === "matrix") {
      if (id === undefined) problems.push("`matrix` must be followed by an axis name, e.g. matrix.bits")
      else if (!scope.matrixAxes.has(id)) {
        problems.push(scope.matrixAxes.size === 0 ? `'${ref.path}': this step has no matrix` : `'${ref.path}': unknown matrix axis '${id}' (axes: ${[...scope.matrixAxes].join(", ")})`)
      }
      continue
    }
    if (id === undefined) {
      problems.push("`steps` must be followed by a step id, e.g. steps.colab_001.outputs")
      continue
    }
    if (!scope.known.has(id)) {
      problems.push(`'${ref.path}': unknown step '${id}'`)
      continue
    }
    if (!scope.reachable.has(id)) {
      problems.push(`'${ref.path}': step '${id}' is not in this step's needs (add it to needs, directly or through a step it needs)`)
      continue
    }
    if (field !== undefined && field !== "status" && field !== "outputs") {
      problems.push(`'${ref.path}': a step has 'status' and 'outputs', not '${field}'`)
      continue
    }
    if (field === "outputs" && scope.matrixed.has(id)) {
      problems.push(`'${ref.path}': step '${id}' has a matrix, so it has one output per instance; a condition can read only steps.${id}.status`)
      continue
    }
    const schema = field === "outputs" ? scope.outputs?.get(id) : undefined
    if (schema !== undefined) {
      // walk the declared fields: a misspelt one is named with the fields there are
      let at: z.ZodType = schema
      const walked = ["steps", id, "outputs"]
      for (const key of ref.segments.slice(2)) {
        const kind = kindOf(at)
        if (kind === "record") at = recordValue(at)!
        else if (kind === "array") at = arrayElement(at)!
        else if (kind === "object") {
          const shape = objectShape(at)!
          if (!(key in shape)) {
            problems.push(`'${ref.path}': ${walked.join(".")} has no field '${key}' (fields: ${Object.keys(shape).join(", ") || "none"})`)
            break
          }
          at = shape[key]!
        } else break
        walked.push(key)
      }
    }
  }
  if (problems.length > 0) return { references, problems }
  const checked = env.check(expression)
  if (!checked.valid) return { references, problems: [`CEL type error: ${firstLine(checked.error?.message ?? "invalid expression")}`] }
  // nullable fields are dyn above, which accepts any comparison; typed as their non-null type they
  // must still check, unless the expression handles null itself
  if (scope.nonNull !== undefined && !/\bnull\b/.test(expression)) {
    const strict = scope.nonNull.check(expression)
    if (!strict.valid) return { references, problems: [`CEL type error: ${firstLine(strict.error?.message ?? "invalid expression")} (reading a field that may be null as its non-null type)`] }
  }
  return { type: checked.type, references, problems: [] }
}

// ---------------------------------------------------------------------------------------------
// evaluation (run time)

/** What the engine knows about a step when a later step's condition is evaluated. */
export interface StepState {
  readonly status: string
  readonly outputs?: unknown
  /** the kernel, so that integer outputs become CEL ints; custom steps pass their own schema */
  readonly uses?: string
  readonly outputSchema?: z.ZodType
}
export type StepsState = Readonly<Record<string, StepState>>

const runtimeEnv = (): Environment => {
  const env = new Environment({ homogeneousAggregateLiterals: false })
  env.registerVariable("steps", "map<string, dyn>")
  env.registerVariable("matrix", "map<string, dyn>")
  return env
}
let sharedRuntime: Environment | undefined
const runtime = (): Environment => (sharedRuntime ??= runtimeEnv())

/**
 * The status of a matrixed step as a whole (conditions read `steps.<base>.status`): succeeded when
 * every instance succeeded or was cached, else failed if one failed, else the first other status.
 */
export const aggregateStatus = (statuses: ReadonlyArray<string>): string => {
  if (statuses.every((s) => s === "succeeded" || s === "cached")) return "succeeded"
  if (statuses.includes("failed")) return "failed"
  return statuses.find((s) => s !== "succeeded" && s !== "cached") ?? "pending"
}

/** Instances `base[axis=value]` also appear as `base` with their aggregate status. */
export const withMatrixAggregates = (state: StepsState): StepsState => {
  const groups = new Map<string, string[]>()
  for (const [id, s] of Object.entries(state)) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)\[.*\]$/.exec(id)
    if (m && state[m[1]!] === undefined) groups.set(m[1]!, [...(groups.get(m[1]!) ?? []), s.status])
  }
  if (groups.size === 0) return state
  const out: Record<string, StepState> = { ...state }
  for (const [base, statuses] of groups) out[base] = { status: aggregateStatus(statuses) }
  return out
}

const celState = (state: StepsState): Record<string, unknown> =>
  Object.fromEntries(
    Object.entries(state).map(([id, s]) => {
      const schema = s.outputSchema ?? (s.uses !== undefined ? findKernel(s.uses)?.outputs : undefined)
      return [id, s.outputs === undefined ? { status: s.status } : { status: s.status, outputs: toCel(schema, s.outputs) }]
    })
  )

const valueAt = (root: Record<string, unknown>, segments: ReadonlyArray<string>): unknown => {
  let v: unknown = root
  for (const key of segments) {
    if (v === null || typeof v !== "object") return undefined
    v = (v as Record<string, unknown>)[key]
  }
  return v
}

const evaluate = (expression: string, given: StepsState, matrix: Readonly<Record<string, unknown>> = {}) => {
  const state = withMatrixAggregates(given)
  const context = { steps: celState(state), matrix }
  let ast: unknown
  try {
    ast = runtime().parse(expression).ast
  } catch (error) {
    throw new ConditionEvaluationError({ expression, reason: firstLine((error as Error).message) })
  }
  const values: Record<string, unknown> = {}
  for (const ref of referencesOf(ast)) {
    const [id, field] = ref.segments
    if (ref.root === "steps" && id !== undefined) {
      const step = state[id]
      if (step === undefined) throw new ConditionEvaluationError({ expression, reason: `no state for step '${id}'` })
      if (field === "outputs" && step.outputs === undefined) {
        throw new ConditionEvaluationError({ expression, reason: `step '${id}' has no outputs (its status is ${step.status})` })
      }
    }
    values[ref.path] = fromCel(valueAt(ref.root === "steps" ? context.steps : matrix, ref.segments))
  }
  let result: unknown
  try {
    result = runtime().evaluate(expression, context)
  } catch (error) {
    throw new ConditionEvaluationError({ expression, reason: firstLine((error as Error).message) })
  }
  return { result, values }
}

/**
 * Decide an `if:`. `values` maps each `steps.…` path the expression reads to the value it read:
 * the engine records both in its `branch-decided` event.
 * Throws ConditionEvaluationError when a read step has no outputs or a value has the wrong type.
 */
export const evaluateCondition = (
  condition: string | PlannedCondition,
  stepsState: StepsState
): { readonly result: boolean; readonly values: Record<string, unknown> } => {
  const expression = typeof condition === "string" ? condition : condition.expression
  const { result, values } = evaluate(expression, stepsState)
  if (typeof result !== "boolean") {
    throw new ConditionEvaluationError({ expression, reason: `a condition must be true or false, got ${JSON.stringify(fromCel(result))}` })
  }
  return { result, values }
}

/** `${{ expr }}` as the whole string (the value keeps its type) or inside text (interpolated). */
export const EXPRESSION = /\$\{\{([\s\S]*?)\}\}/g
export const WHOLE_EXPRESSION = /^\s*\$\{\{([\s\S]*?)\}\}\s*$/

/** Evaluate one `${{ }}`-bearing string. */
export const substituteString = (text: string, stepsState: StepsState, matrix: Readonly<Record<string, unknown>> = {}): unknown => {
  const whole = WHOLE_EXPRESSION.exec(text)
  if (whole) return fromCel(evaluate(whole[1]!.trim(), stepsState, matrix).result)
  return text.replace(EXPRESSION, (_, expr: string) => {
    const v = fromCel(evaluate(expr.trim(), stepsState, matrix).result)
    return typeof v === "string" ? v : JSON.stringify(v)
  })
}

/** Replace every `${{ }}` string in a JSON-like value. */
export const substitute = (value: unknown, stepsState: StepsState, matrix: Readonly<Record<string, unknown>> = {}): unknown => {
  if (typeof value === "string") return value.includes("${{") ? substituteString(value, stepsState, matrix) : value
  if (Array.isArray(value)) return value.map((v) => substitute(v, stepsState, matrix))
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, substitute(v, stepsState, matrix)]))
  }
  return value
}

/**
 * A planned step's `with` with its `${{ steps.… }}` expressions evaluated over earlier outputs,
 * then parsed by the kernel's schema (defaults applied). Steps without expressions come back as planned.
 */
export const resolveWith = (step: PlannedStep, stepsState: StepsState): Record<string, unknown> => {
  if (step.expressions === undefined || step.expressions.length === 0) return step.with
  const substituted = substitute(step.with, stepsState, step.matrix ?? {}) as Record<string, unknown>
  const kernel = findKernel(step.uses)
  if (kernel === undefined) return substituted
  const parsed = kernel.with.safeParse(substituted)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!
    throw new ConditionEvaluationError({
      expression: step.expressions.map((e) => e.expression).join("; "),
      reason: `step '${step.id}': with.${issue.path.join(".")}: ${issue.message}`
    })
  }
  return parsed.data as Record<string, unknown>
}
