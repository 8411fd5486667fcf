/**
 * Loading a workflow: YAML with source positions (parseDocument + LineCounter), `--set`
 * overrides, the structure schema, each step's `with` against its kernel (per matrix instance,
 * with defaults merged), and the static checks that need no Python: unknown kernels, needs and
 * cycles, CEL typing of `if:` and `${{ }}`, platforms, languages, corpus files, quantization
 * parameters against a local model config. Every problem is collected; none stops the others.
 */
import { createHash } from "node:crypto"
import { readFileSync, statSync } from "node:fs"
import { dirname, extname, resolve } from "node:path"
import { isMap as isYamlMap, isPair, isScalar, isSeq, LineCounter, parse as parseYamlValue, parseDocument, type Document, type Node as YamlNode } from "yaml"
import type { z } from "zod"
import { findKernel, kernelNames } from "../kernels/catalog.js"
import type { KernelDefinition } from "../kernels/define.js"
import type { BudgetSpec, PlatformSpec } from "../plan/types.js"
import { checkExpression, EXPRESSION, typedEnvironment, WHOLE_EXPRESSION, celTypeName, type StepTyping } from "./conditions.js"
import { parseDuration } from "./duration.js"
import { sortIssues, WorkflowFileError, type WorkflowIssue } from "./errors.js"
import { stepInstances } from "./instances.js"
import { limitOf, MATRIX_INSTANCES, overLimit, withinLimit, WORKFLOW_BYTES, WORKFLOW_STEPS, YAML_ALIASES } from "./limits.js"
import { readMatrix } from "./matrix.js"
import { BUILTIN_PLATFORMS, DEFAULT_PLATFORM } from "./platforms.js"
import { Budget, CustomPlatform, Defaults, PLATFORM_NAME, Retry, Runtime, STEP_ID, StepStructure, WorkflowFile } from "./schema.js"
import { staticChecks } from "./static.js"
import type { CustomStep, MatrixSpec, RuntimeSpec, SourcePosition, Workflow, WorkflowStep } from "./types.js"
import { schemaAt } from "./zodwalk.js"

export type PathKey = string | number

/** Where things are in the source: a YAML document, or nothing (a TypeScript workflow). */
export interface SourceMap {
  readonly file: string
  /** line/column of the value at `path` (of its key when `key`), or of the nearest existing parent */
  locate(path: ReadonlyArray<PathKey>, key?: boolean): { line: number; column: number }
}

export interface LoadOptions {
  /** `path=value` overrides, YAML-parsed values, applied before validation */
  readonly sets?: ReadonlyArray<string>
  /** environment for $POLYQUANT_CACHE (fixture configs) */
  readonly env?: NodeJS.ProcessEnv
}

export type LoadResult = { readonly ok: true; readonly workflow: Workflow } | { readonly ok: false; readonly issues: ReadonlyArray<WorkflowIssue> }

const isMap = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v)
const dotted = (path: ReadonlyArray<PathKey>): string => path.map(String).join(".")

// ---------------------------------------------------------------------------------------------
// YAML positions

export const yamlSourceMap = (file: string, doc: Document, lines: LineCounter): SourceMap => ({
  file,
  locate(path, key = false) {
    let node: unknown = doc.contents
    let offset = (doc.contents as YamlNode | null)?.range?.[0] ?? 0
    for (let i = 0; i < path.length; i++) {
      const segment = path[i]!
      const last = i === path.length - 1
      if (isYamlMap(node)) {
        const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(segment))
        if (pair === undefined) break
        const keyNode = pair.key as YamlNode
        if (last && key) {
          offset = keyNode.range?.[0] ?? offset
          break
        }
        node = pair.value
        offset = (pair.value as YamlNode | null)?.range?.[0] ?? keyNode.range?.[0] ?? offset
      } else if (isSeq(node)) {
        const item = node.items[Number(segment)] as YamlNode | undefined
        if (item === undefined) break
        node = item
        offset = item.range?.[0] ?? offset
      } else break
    }
    const pos = lines.linePos(offset)
    return { line: pos.line, column: pos.col }
  }
})

const noPositions = (file: string): SourceMap => ({ file, locate: () => ({ line: 0, column: 0 }) })

// ---------------------------------------------------------------------------------------------
// --set

interface SetOverride {
  readonly text: string
  readonly path: ReadonlyArray<PathKey>
  readonly value: unknown
}

const parseSet = (text: string): SetOverride | string => {
  const eq = text.indexOf("=")
  if (eq <= 0) return `--set ${text}: expected path=value, e.g. --set steps.colab_001.with.quant.bits=3`
  const path = text
    .slice(0, eq)
    .trim()
    .split(".")
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s))
  if (path.some((s) => s === "")) return `--set ${text}: the path '${text.slice(0, eq)}' has an empty segment`
  const reserved = path.find((s) => s === "__proto__" || s === "constructor" || s === "prototype")
  if (reserved !== undefined) return `--set ${text}: '${reserved}' is not a key a workflow can hold`
  let value: unknown
  try {
    value = parseYamlValue(text.slice(eq + 1))
  } catch (error) {
    return `--set ${text}: the value is not valid YAML (${(error as Error).message.split("\n")[0]})`
  }
  return { text, path, value: value === null && text.slice(eq + 1).trim() === "" ? "" : value }
}

const applySet = (raw: unknown, set: SetOverride): string | undefined => {
  if (!isMap(raw)) return `--set ${set.text}: the workflow is not a map`
  let node: unknown = raw
  for (let i = 0; i < set.path.length - 1; i++) {
    const key = set.path[i]!
    const next = Array.isArray(node) ? node[Number(key)] : Object.hasOwn(node as object, String(key)) ? (node as Record<string, unknown>)[String(key)] : undefined
    if (next === undefined || next === null) {
      if (Array.isArray(node)) return `--set ${set.text}: ${dotted(set.path.slice(0, i + 1))} is past the end of a list`
      ;(node as Record<string, unknown>)[String(key)] = {}
      node = (node as Record<string, unknown>)[String(key)]
    } else if (typeof next !== "object") {
      return `--set ${set.text}: ${dotted(set.path.slice(0, i + 1))} is ${JSON.stringify(next)}, not a map or list`
    } else node = next
  }
  const last = set.path[set.path.length - 1]!
  // a list grows by one at most: an index far past its end would make a list of a billion holes
  if (Array.isArray(node) && (typeof last !== "number" || last > node.length)) return `--set ${set.text}: ${dotted(set.path)} is past the end of a list of ${node.length}`
  if (Array.isArray(node)) node[Number(last)] = set.value
  else (node as Record<string, unknown>)[String(last)] = set.value
  return undefined
}

// ---------------------------------------------------------------------------------------------
// zod issues → workflow issues

type ZodIssue = z.core.$ZodIssue

const describeValue = (v: unknown): string => {
  if (v === undefined) return "nothing"
  if (v === null) return "null"
  if (Array.isArray(v)) return "a list"
  if (typeof v === "object") return "a map"
  if (typeof v === "string") return `the string ${JSON.stringify(v)}`
  // YAML's .inf and .nan are numbers that JSON cannot write (it would say null)
  if (typeof v === "number" && !Number.isFinite(v)) return Number.isNaN(v) ? "not-a-number (.nan)" : `${v > 0 ? "" : "minus "}infinity (${v > 0 ? "" : "-"}.inf)`
  return `${typeof v} ${JSON.stringify(v)}`
}

const EXPECTED: Readonly<Record<string, string>> = {
  number: "a number",
  int: "an integer",
  string: "a string",
  boolean: "true or false",
  array: "a list",
  object: "a map",
  record: "a map",
  tuple: "a list",
  nan: "a number"
}

const valueAt = (root: unknown, path: ReadonlyArray<PathKey>): unknown => {
  let v = root
  for (const k of path) {
    if (v === null || typeof v !== "object") return undefined
    v = (v as Record<string, unknown>)[String(k)]
  }
  return v
}

/** One readable message per zod issue (several for unknown keys: one per key). */
const zodMessages = (issue: ZodIssue, input: unknown, schema: z.ZodType | undefined): { path: PathKey[]; message: string; key?: boolean }[] => {
  const path = issue.path.map((p) => (typeof p === "symbol" ? String(p) : p)) as PathKey[]
  const value = valueAt(input, path)
  switch (issue.code) {
    case "unrecognized_keys": {
      const parent = schema ? schemaAt(schema, path) : undefined
      const shape = parent ? (parent as unknown as { shape?: Record<string, unknown> }).shape : undefined
      const known = shape ? Object.keys(shape) : undefined
      return issue.keys.map((k) => ({
        path: [...path, k],
        key: true,
        message: `unknown key '${k}'${known && known.length > 0 ? ` (allowed: ${known.join(", ")})` : ""}`
      }))
    }
    case "invalid_type": {
      if (value === undefined) return [{ path, message: `required field is missing (expected ${EXPECTED[issue.expected] ?? issue.expected})` }]
      if (issue.expected === "int" || (issue as { format?: string }).format === "safeint") return [{ path, message: `expected an integer, got ${describeValue(value)}` }]
      return [{ path, message: `expected ${EXPECTED[issue.expected] ?? issue.expected}, got ${describeValue(value)}` }]
    }
    case "invalid_value": {
      const options = issue.values.map((v) => (typeof v === "string" ? v : JSON.stringify(v)))
      return [{ path, message: options.length === 1 ? `expected ${options[0]}, got ${describeValue(value)}` : `expected one of ${options.join(", ")}; got ${describeValue(value)}` }]
    }
    case "invalid_union": {
      if (issue.message !== "Invalid input") return [{ path, message: `${issue.message}, got ${describeValue(value)}` }]
      return [{ path, message: `${describeValue(value)} is not allowed here` }]
    }
    case "too_small":
    case "too_big": {
      if (!issue.message.startsWith("Too ")) return [{ path, message: issue.message }]
      const bound = issue.code === "too_small" ? (issue as { minimum: unknown }).minimum : (issue as { maximum: unknown }).maximum
      const inclusive = (issue as { inclusive?: boolean }).inclusive !== false
      const what = issue.origin === "array" ? "items" : issue.origin === "string" ? "characters" : ""
      const rel = issue.code === "too_small" ? (inclusive ? "at least" : "more than") : inclusive ? "at most" : "less than"
      return [{ path, message: `must be ${rel} ${String(bound)}${what ? ` ${what}` : ""}, got ${Array.isArray(value) ? `${value.length} items` : describeValue(value)}` }]
    }
    default:
      return [{ path, message: issue.message }]
  }
}

// ---------------------------------------------------------------------------------------------
// the checker

interface Collector {
  readonly issues: WorkflowIssue[]
  add(path: ReadonlyArray<PathKey>, message: string, key?: boolean): void
}

const collector = (source: SourceMap, sets: ReadonlyArray<SetOverride>): Collector => {
  const issues: WorkflowIssue[] = []
  const seen = new Set<string>()
  return {
    issues,
    add(path, message, key = false) {
      const p = dotted(path)
      const set = sets.find((s) => {
        const sp = dotted(s.path)
        return p === sp || p.startsWith(sp + ".") || sp.startsWith(p + ".")
      })
      const at = source.locate(path, key)
      const issue: WorkflowIssue = { file: source.file, line: at.line, column: at.column, path: p, message, ...(set ? { set: set.text } : {}) }
      const id = `${p}\u0000${message}`
      if (seen.has(id)) return
      seen.add(id)
      issues.push(issue)
    }
  }
}

const zodInto = (out: Collector, prefix: ReadonlyArray<PathKey>, error: z.ZodError, input: unknown, schema: z.ZodType, skip: (path: PathKey[]) => boolean = () => false, suffix = ""): void => {
  for (const issue of error.issues) {
    for (const m of zodMessages(issue, input, schema)) {
      if (skip(m.path)) continue
      out.add([...prefix, ...m.path], m.message + suffix, m.key)
    }
  }
}

/** Find one cycle among `needs` (a list of ids, first repeated at the end), or undefined. */
export const findCycle = (needs: ReadonlyMap<string, ReadonlyArray<string>>): string[] | undefined => {
  const state = new Map<string, "visiting" | "done">()
  const stack: string[] = []
  const visit = (id: string): string[] | undefined => {
    if (state.get(id) === "done") return undefined
    if (state.get(id) === "visiting") return [...stack.slice(stack.indexOf(id)), id]
    state.set(id, "visiting")
    stack.push(id)
    for (const n of needs.get(id) ?? []) {
      if (!needs.has(n)) continue
      const cycle = visit(n)
      if (cycle) return cycle
    }
    stack.pop()
    state.set(id, "done")
    return undefined
  }
  for (const id of needs.keys()) {
    const cycle = visit(id)
    if (cycle) return cycle
  }
  return undefined
}

/** Every step a step (transitively) needs. */
export const ancestors = (id: string, needs: ReadonlyMap<string, ReadonlyArray<string>>): Set<string> => {
  const out = new Set<string>()
  const todo = [...(needs.get(id) ?? [])]
  while (todo.length > 0) {
    const n = todo.pop()!
    if (out.has(n)) continue
    out.add(n)
    todo.push(...(needs.get(n) ?? []))
  }
  return out
}

const digestOf = (value: unknown): string => {
  const canonical = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(canonical) : isMap(v) ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical(v[k])])) : typeof v === "function" ? v.toString() : v
  return createHash("sha256").update(JSON.stringify(canonical(value))).digest("hex")
}

/** Paths (below `with`) of strings holding `${{ }}`. */
/** Map keys that hold `${{` (below `value`): expressions are evaluated in values only. */
const expressionKeys = (value: unknown, path: PathKey[] = []): PathKey[][] => {
  if (Array.isArray(value)) return value.flatMap((v, i) => expressionKeys(v, [...path, i]))
  if (isMap(value)) return Object.entries(value).flatMap(([k, v]) => [...(k.includes("${{") ? [[...path, k]] : []), ...expressionKeys(v, [...path, k])])
  return []
}

const expressionStrings = (value: unknown, path: PathKey[] = []): { path: PathKey[]; text: string }[] => {
  if (typeof value === "string") return value.includes("${{") ? [{ path, text: value }] : []
  if (Array.isArray(value)) return value.flatMap((v, i) => expressionStrings(v, [...path, i]))
  if (isMap(value)) return Object.entries(value).flatMap(([k, v]) => expressionStrings(v, [...path, k]))
  return []
}

/**
 * Whether an expression's CEL type may fill a field of type `expected`. An object from a step's
 * outputs (a message type, `$steps.…`) may fill an object field and an untyped list a list field:
 * their fields are checked against the kernel's parameters when the step runs, with the path named.
 */
const numericCompatible = (actual: string, expected: string): boolean =>
  actual === expected ||
  actual === "dyn" ||
  expected === "dyn" ||
  (actual === "int" && expected === "double") ||
  (actual.startsWith("list<") && expected === "list<dyn>") ||
  (actual === "list" && expected.startsWith("list")) ||
  ((actual.startsWith("map") || actual.startsWith("$")) && expected.startsWith("map"))

/**
 * Check a parsed (YAML or DSL) workflow value. `custom`: the DSL's custom steps by id.
 */
export const checkWorkflow = (
  input: unknown,
  source: SourceMap,
  options: LoadOptions & { readonly custom?: Readonly<Record<string, CustomStep>>; readonly baseDir?: string } = {}
): LoadResult => {
  const parsedSets: SetOverride[] = []
  const setProblems: string[] = []
  for (const text of options.sets ?? []) {
    const s = parseSet(text)
    if (typeof s === "string") setProblems.push(s)
    else parsedSets.push(s)
  }
  const out = collector(source, parsedSets)
  for (const p of setProblems) out.issues.push({ file: source.file, line: 0, column: 0, path: "", message: p })
  const raw: unknown = structuredClone(input, { transfer: [] })
  for (const set of parsedSets) {
    const problem = applySet(raw, set)
    if (problem) out.issues.push({ file: source.file, line: 0, column: 0, path: dotted(set.path), message: problem, set: set.text })
  }
  if (!isMap(raw)) {
    out.add([], `a workflow is a map with name and steps, got ${describeValue(raw)}`)
    return { ok: false, issues: sortIssues(out.issues) }
  }
  const baseDir = options.baseDir ?? dirname(resolve(source.file))
  const env = options.env ?? process.env
  const custom = options.custom ?? {}

  // top level: the keys and their shapes are WorkflowFile's (schema.ts); each part is checked on its
  // own below so that one bad part does not hide the others' errors
  const top = WorkflowFile.shape
  const known = Object.keys(top)
  for (const key of Object.keys(raw)) if (!known.includes(key)) out.add([key], `unknown key '${key}' (allowed: ${known.join(", ")})`, true)
  if (!top.name.safeParse(raw["name"]).success) out.add(raw["name"] === undefined ? [] : ["name"], raw["name"] === undefined ? "a workflow needs a name" : `name must be a non-empty string, got ${describeValue(raw["name"])}`)
  if (!top.description.safeParse(raw["description"]).success) out.add(["description"], `expected a string, got ${describeValue(raw["description"])}`)

  const defaultsRaw = raw["defaults"] ?? {}
  const defaultsParsed = Defaults.safeParse(defaultsRaw)
  if (!defaultsParsed.success) zodInto(out, ["defaults"], defaultsParsed.error, defaultsRaw, Defaults)
  const defaults: Record<string, unknown> = defaultsParsed.success ? { ...defaultsParsed.data } : {}

  const platforms: Record<string, PlatformSpec> = { ...BUILTIN_PLATFORMS }
  if (raw["platforms"] !== undefined) {
    if (!isMap(raw["platforms"])) out.add(["platforms"], `platforms is a map of name → {gpu, vram_gb}, got ${describeValue(raw["platforms"])}`)
    else
      for (const [name, spec] of Object.entries(raw["platforms"])) {
        if (!PLATFORM_NAME.test(name)) out.add(["platforms", name], `platform name '${name}' must be lowercase letters, digits, - and _`, true)
        const parsed = CustomPlatform.safeParse(spec)
        if (!parsed.success) zodInto(out, ["platforms", name], parsed.error, spec, CustomPlatform)
        else platforms[name] = { name, gpu: parsed.data.gpu, vramGb: parsed.data.vram_gb }
      }
  }
  const platformList = Object.keys(platforms).join(", ")

  let runtime: RuntimeSpec | undefined
  if (raw["runtime"] !== undefined) {
    const parsed = Runtime.safeParse(raw["runtime"])
    if (!parsed.success) zodInto(out, ["runtime"], parsed.error, raw["runtime"], Runtime)
    else {
      const r = parsed.data
      runtime = {
        ...(r.executor !== undefined ? { executor: r.executor } : {}),
        ...(r.ray_address !== undefined ? { rayAddress: r.ray_address } : {}),
        ...(r.actors !== undefined ? { actors: r.actors } : {}),
        ...(r.threads !== undefined ? { threads: r.threads } : {})
      }
    }
  }

  const budgets: BudgetSpec[] = []
  if (raw["budgets"] !== undefined) {
    if (!isMap(raw["budgets"])) out.add(["budgets"], `budgets is a map of platform → {gpu_hours, per}, got ${describeValue(raw["budgets"])}`)
    else
      for (const [platform, spec] of Object.entries(raw["budgets"])) {
        if (platforms[platform] === undefined) out.add(["budgets", platform], `unknown platform '${platform}' (platforms: ${platformList})`, true)
        const parsed = Budget.safeParse(spec)
        if (!parsed.success) zodInto(out, ["budgets", platform], parsed.error, spec, Budget)
        else budgets.push({ platform, gpuHours: parsed.data.gpu_hours, per: parsed.data.per })
      }
  }

  // steps: structure
  const stepsRaw = raw["steps"]
  if (stepsRaw === undefined) out.add([], "a workflow needs steps")
  else if (!isMap(stepsRaw)) out.add(["steps"], `steps is a map of step id → step, got ${describeValue(stepsRaw)}`)
  else if (Object.keys(stepsRaw).length === 0) out.add(["steps"], "a workflow needs at least one step")
  const stepEntries = isMap(stepsRaw) ? Object.entries(stepsRaw) : []
  if (!withinLimit(WORKFLOW_STEPS, stepEntries.length, env)) {
    // checked before any per-step work, whose cost grows with the number of steps
    out.add(["steps"], `the workflow has ${stepEntries.length} steps, ${overLimit(WORKFLOW_STEPS, env)}`)
    return { ok: false, issues: sortIssues(out.issues) }
  }
  const ids = stepEntries.map(([id]) => id)
  const idSet = new Set(ids)

  interface Draft {
    id: string
    raw: Record<string, unknown>
    kernel?: KernelDefinition | undefined
    outputs?: z.ZodType | undefined
    needs: string[]
    matrix?: MatrixSpec | undefined
    matrixOk: boolean
    step?: Omit<WorkflowStep, "conditionReferences">
  }
  const drafts: Draft[] = []
  for (const [id, stepRaw] of stepEntries) {
    const at = ["steps", id]
    if (!STEP_ID.test(id)) out.add(at, `step id '${id}' must be an identifier (letters, digits and _, not starting with a digit), so that conditions can name it as steps.${id}`, true)
    if (!isMap(stepRaw)) {
      out.add(at, `a step is a map with uses (and with, needs, if, ...), got ${describeValue(stepRaw)}`)
      continue
    }
    const structure = StepStructure.safeParse(stepRaw)
    if (!structure.success) zodInto(out, at, structure.error, stepRaw, StepStructure)
    const uses = stepRaw["uses"]
    const draft: Draft = { id, raw: stepRaw, needs: [], matrixOk: true }
    if (typeof uses === "string") {
      if (uses === "custom") {
        const c = custom[id]
        if (c === undefined) out.add([...at, "uses"], "uses: custom is for TypeScript workflows (step.custom); a YAML step names a kernel")
        else draft.outputs = c.outputs
      } else {
        draft.kernel = findKernel(uses)
        if (draft.kernel === undefined) out.add([...at, "uses"], `unknown kernel '${uses}'; known kernels: ${kernelNames().sort().join(", ")}`)
        else draft.outputs = draft.kernel.outputs
      }
    }
    const needsRaw = stepRaw["needs"]
    const needs = typeof needsRaw === "string" ? [needsRaw] : Array.isArray(needsRaw) ? needsRaw.filter((n): n is string => typeof n === "string") : []
    needs.forEach((n, i) => {
      const path = typeof needsRaw === "string" ? [...at, "needs"] : [...at, "needs", i]
      if (!idSet.has(n)) out.add(path, `unknown step '${n}' in needs (steps: ${ids.join(", ")})`)
      else if (n === id) out.add(path, `step '${id}' needs itself`)
      else if (needs.indexOf(n) !== i) out.add(path, `'${n}' is listed twice in needs`)
    })
    draft.needs = [...new Set(needs.filter((n) => idSet.has(n) && n !== id))]
    if (stepRaw["matrix"] !== undefined) {
      const m = readMatrix(stepRaw["matrix"], { max: limitOf(MATRIX_INSTANCES, env), over: overLimit(MATRIX_INSTANCES, env) })
      for (const p of m.problems) out.add([...at, "matrix", ...p.path], p.message)
      draft.matrix = m.spec
      draft.matrixOk = m.problems.length === 0
    }
    const platform = typeof stepRaw["platform"] === "string" ? stepRaw["platform"] : DEFAULT_PLATFORM
    if (platforms[platform] === undefined) out.add([...at, "platform"], `unknown platform '${platform}' (platforms: ${platformList})`)
    if (structure.success) {
      const s = structure.data
      const retry = s.retry ?? Retry.parse({ max: 0 })
      const estimateSeconds = s.estimate !== undefined ? parseDuration(s.estimate) : undefined
      const timeoutSeconds = s.timeout !== undefined ? parseDuration(s.timeout) : undefined
      const pos = source.locate(at, true)
      const position: SourcePosition = { file: source.file, line: pos.line, column: pos.column }
      draft.step = {
        id,
        uses: s.uses,
        with: s.with ?? {},
        needs: draft.needs,
        ...(s.if !== undefined ? { if: s.if } : {}),
        ...(draft.matrix ? { matrix: draft.matrix } : {}),
        platform,
        ...(estimateSeconds !== undefined ? { estimateSeconds } : {}),
        ...(timeoutSeconds !== undefined ? { timeoutSeconds } : {}),
        retry: { max: retry.max, on: retry.on },
        continueOnError: s.continue_on_error ?? false,
        source: position,
        ...(custom[id] !== undefined && s.uses === "custom" ? { custom: custom[id] } : {})
      }
    }
    drafts.push(draft)
  }

  // cycles
  const needsMap = new Map(drafts.map((d) => [d.id, d.needs] as const))
  const cycle = findCycle(needsMap)
  if (cycle) {
    const first = cycle[0]!
    const to = cycle[1]!
    const draft = drafts.find((d) => d.id === first)!
    const needsRaw = draft.raw["needs"]
    const at: PathKey[] = Array.isArray(needsRaw) ? ["steps", first, "needs", needsRaw.indexOf(to)] : ["steps", first, "needs"]
    out.add(at, `needs form a cycle: ${cycle.join(" → ")}`)
  }

  const instanceCount = drafts.reduce((n, d) => n + (d.matrix === undefined ? 1 : Object.values(d.matrix.axes).reduce((k, v) => k * v.length, 1) + d.matrix.include.length), 0)
  if (!withinLimit(WORKFLOW_STEPS, instanceCount, env)) {
    out.add(["steps"], `the workflow makes up to ${instanceCount} steps with its matrix instances, ${overLimit(WORKFLOW_STEPS, env)}`)
    return { ok: false, issues: sortIssues(out.issues) }
  }

  // each step's `with`, per matrix instance
  for (const d of drafts) {
    if (d.kernel === undefined || !d.matrixOk) continue
    const at = ["steps", d.id]
    const withRaw = d.raw["with"] === undefined ? {} : d.raw["with"]
    if (!isMap(withRaw)) continue // reported by the structure schema
    const instances = stepInstances({ id: d.id, with: withRaw, matrix: d.matrix }, d.kernel, defaults)
    for (const instance of instances) {
      const stepExpressionPaths = [...instance.expressions.map((e) => e.path), ...instance.unresolved]
      // an issue at (or inside, or on an object holding) a field that an expression fills is the expression's to report
      const underExpression = (p: PathKey[]): boolean => {
        const s = dotted(p)
        return stepExpressionPaths.some((e) => s === e || s.startsWith(e + ".") || e.startsWith(s + "."))
      }
      const suffix = instance.matrix ? ` (matrix ${Object.entries(instance.matrix).map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`).join(", ")})` : ""
      /** Where a bad value was written: the step, or `defaults` (reported there once for all steps). */
      const report = (path: PathKey[], message: string, key?: boolean): void => {
        const top = String(path[0] ?? "")
        const written = valueAt(withRaw, path) !== undefined
        const fromDefaults =
          !written && (((withRaw as Record<string, unknown>)[top] === undefined && instance.origin[top] === "defaults") || (top !== "model" && top !== "corpus" && valueAt(defaults, path) !== undefined))
        if (fromDefaults) return out.add(["defaults", ...path], message, key)
        const fromMatrix = instance.origin[top] === "matrix" || (written && JSON.stringify(valueAt(withRaw, path.slice(0, 1))).includes("${{"))
        out.add([...at, "with", ...path], message + (fromMatrix ? suffix : ""), key)
      }
      const parsed = d.kernel.with.safeParse(instance.with)
      if (!parsed.success) {
        for (const issue of parsed.error.issues) {
          for (const m of zodMessages(issue, instance.with, d.kernel.with)) if (!underExpression(m.path)) report(m.path, m.message, m.key)
        }
        continue
      }
      if (instance.expressions.length > 0) continue // static checks need the resolved values
      for (const p of staticChecks(parsed.data as Record<string, unknown>, d.kernel, { baseDir, env })) report([...p.path], p.message)
    }
  }

  // defaults keys that no kernel takes
  for (const key of Object.keys(defaults)) {
    if (key === "model" || key === "corpus") continue
    const takers = drafts.filter((d) => d.kernel !== undefined && (d.kernel.with as unknown as { shape?: Record<string, unknown> }).shape?.[key] !== undefined)
    if (takers.length === 0 && drafts.some((d) => d.kernel !== undefined)) out.add(["defaults", key], `no step's kernel accepts '${key}', so this default would be ignored`, true)
  }

  // conditions and ${{ }} expressions
  const matrixed = new Set(drafts.filter((d) => d.matrix !== undefined || !d.matrixOk).map((d) => d.id))
  // Typing a step's outputs costs the CEL environment about a millisecond per step, so only the
  // steps some expression names are typed (a workflow of thousands of steps stays fast to check);
  // an indexed `steps[...]` read types them all.
  const expressionTexts = drafts.flatMap((d) => [...(typeof d.raw["if"] === "string" ? [d.raw["if"]] : []), ...expressionStrings(d.raw["with"]).map((e) => e.text)])
  const named = new Set(expressionTexts.flatMap((t) => [...t.matchAll(/steps\s*\.\s*([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]!)))
  const typedAll = expressionTexts.some((t) => /steps\s*\[/.test(t))
  const typing: StepTyping[] = drafts.filter((d) => typedAll || named.has(d.id)).map((d) => ({ id: d.id, outputs: d.outputs, matrixed: matrixed.has(d.id) }))
  const outputSchemas = new Map(drafts.map((d) => [d.id, d.outputs] as const))
  const envFor = new Map<string, ReturnType<typeof typedEnvironment>>()
  const nonNullEnvFor = new Map<string, ReturnType<typeof typedEnvironment>>()
  const conditionRefs = new Map<string, string[]>()
  for (const d of drafts) {
    // a matrix with problems still declares its axes, so that its ${{ matrix.… }} are not reported twice
    const rawMatrix = d.raw["matrix"]
    const axes = d.matrix
      ? [...new Set([...Object.keys(d.matrix.axes), ...d.matrix.include.flatMap((e) => Object.keys(e))])]
      : isMap(rawMatrix)
        ? [...new Set([...Object.keys(rawMatrix).filter((k) => k !== "include" && k !== "exclude"), ...(Array.isArray(rawMatrix["include"]) ? rawMatrix["include"].filter(isMap).flatMap((e) => Object.keys(e)) : [])])]
        : []
    const key = axes.join(",")
    if (!envFor.has(key)) envFor.set(key, typedEnvironment(typing, axes))
    if (!nonNullEnvFor.has(key)) nonNullEnvFor.set(key, typedEnvironment(typing, axes, "inner"))
    const celEnv = envFor.get(key)!
    const scope = { known: idSet, reachable: cycle ? new Set(d.needs) : ancestors(d.id, needsMap), matrixed, matrixAxes: new Set(axes), outputs: outputSchemas, nonNull: nonNullEnvFor.get(key)! }
    const condition = d.raw["if"]
    if (typeof condition === "string" && condition.trim() !== "") {
      const checked = checkExpression(celEnv, condition.replace(WHOLE_EXPRESSION, "$1"), { ...scope, matrixAxes: new Set() })
      for (const p of checked.problems) out.add(["steps", d.id, "if"], p)
      if (checked.problems.length === 0 && checked.type !== "bool" && checked.type !== "dyn") out.add(["steps", d.id, "if"], `a condition must be true or false; this one is ${checked.type}`)
      conditionRefs.set(d.id, checked.references.map((r) => r.path))
    }
    const withRaw = d.raw["with"]
    for (const path of expressionKeys(withRaw)) out.add(["steps", d.id, "with", ...path], "a ${{ }} expression in a key is never evaluated: put it in a value", true)
    for (const { path, text } of expressionStrings(withRaw)) {
      const opened = text.split("${{").length - 1
      const closed = [...text.matchAll(EXPRESSION)].length
      if (opened > closed) {
        out.add(["steps", d.id, "with", ...path], `'${text}' opens \${{ without closing it with }}`)
        continue
      }
      const whole = WHOLE_EXPRESSION.exec(text)
      for (const m of text.matchAll(EXPRESSION)) {
        const expression = m[1]!.trim()
        const checked = checkExpression(celEnv, expression, scope)
        for (const p of checked.problems) out.add(["steps", d.id, "with", ...path], `\${{ ${expression} }}: ${p}`)
        if (checked.problems.length > 0 || !whole || d.kernel === undefined) continue
        if (checked.references.every((r) => r.root === "matrix")) continue // substituted and checked per instance
        const target = schemaAt(d.kernel.with, path)
        if (target === undefined) continue
        const expected = celTypeName(target)
        if (checked.type !== undefined && !numericCompatible(checked.type, expected)) {
          out.add(["steps", d.id, "with", ...path], `\${{ ${expression} }} is ${checked.type}, but this field expects ${expected}`)
        }
      }
    }
  }

  if (out.issues.length > 0) return { ok: false, issues: sortIssues(out.issues) }

  const steps: WorkflowStep[] = drafts.map((d) => ({ ...d.step!, conditionReferences: conditionRefs.get(d.id) ?? [] }))
  const workflow: Workflow = {
    name: raw["name"] as string,
    ...(typeof raw["description"] === "string" ? { description: raw["description"] } : {}),
    file: source.file,
    digest: digestOf(raw),
    baseDir,
    defaults,
    budgets,
    platforms,
    ...(runtime !== undefined ? { runtime } : {}),
    steps
  }
  return { ok: true, workflow }
}

const yamlErrorMessage = (text: string, e: { readonly code: string; readonly message: string; readonly pos: [number, number] }): string => {
  if (e.code === "DUPLICATE_KEY") return duplicateKeyMessage(text, e.pos[0])
  if (e.code === "MULTIPLE_DOCS") return "a workflow file holds one YAML document; a second one starts here (after a `---` line)"
  return `YAML syntax error: ${e.message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "")}`
}

/** Parse YAML text and check it. `file` names it in messages. */
export const checkWorkflowText = (text: string, file: string, options: LoadOptions & { readonly baseDir?: string } = {}): LoadResult => {
  const lines = new LineCounter()
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true })
  const source = yamlSourceMap(file, doc, lines)
  if (doc.errors.length > 0) {
    const issues = doc.errors.map((e): WorkflowIssue => {
      const pos = e.linePos?.[0] ?? lines.linePos(e.pos[0])
      return { file, line: pos.line, column: pos.col, path: "", message: yamlErrorMessage(text, e) }
    })
    const unique = issues.filter((i, k) => issues.findIndex((j) => j.line === i.line && j.column === i.column && j.message === i.message) === k)
    return { ok: false, issues: sortIssues(unique) }
  }
  const env = options.env ?? process.env
  let value: unknown
  try {
    value = doc.toJS({ maxAliasCount: limitOf(YAML_ALIASES, env) })
  } catch (error) {
    // the yaml library's guard against alias bombs (a few lines that expand to gigabytes)
    if (error instanceof ReferenceError && /alias/i.test(error.message)) {
      return { ok: false, issues: [{ file, line: 1, column: 1, path: "", message: `YAML aliases (*name) expand into more alias uses than allowed: ${overLimit(YAML_ALIASES, env)}` }] }
    }
    throw error
  }
  return checkWorkflow(value, source, options)
}

/**
 * A workflow file's text: UTF-8 (a BOM is dropped), within the size limit. UTF-16 and binary
 * files are named as such rather than parsed as garbage.
 */
export const readWorkflowText = (file: string, env: NodeJS.ProcessEnv = process.env): string => {
  let bytes: Buffer
  try {
    const stat = statSync(file)
    if (stat.isFile() && !withinLimit(WORKFLOW_BYTES, stat.size, env)) throw new WorkflowFileError({ file, reason: `is ${stat.size} bytes, ${overLimit(WORKFLOW_BYTES, env)}` })
    bytes = readFileSync(file)
  } catch (error) {
    if (error instanceof WorkflowFileError) throw error
    const code = (error as NodeJS.ErrnoException).code
    throw new WorkflowFileError({ file, reason: code === "ENOENT" ? "no such file" : code === "EISDIR" ? "is a directory, not a workflow file" : code === "EACCES" ? "cannot be read (permission denied)" : String(error) })
  }
  if ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff)) {
    throw new WorkflowFileError({ file, reason: "is UTF-16 text; a workflow file is UTF-8 (save it again as UTF-8)" })
  }
  let text: string
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes)
  } catch {
    throw new WorkflowFileError({ file, reason: "is not UTF-8 text (a binary file?); a workflow file is UTF-8 YAML" })
  }
  const nul = text.indexOf("\u0000")
  if (nul >= 0) throw new WorkflowFileError({ file, reason: `holds a NUL byte at offset ${nul} (a binary file, or UTF-16 without a BOM?); a workflow file is UTF-8 YAML` })
  return text
}

const duplicateKeyMessage = (text: string, offset: number): string => {
  const key = /^\s*([^:\s]+)\s*:/.exec(text.slice(offset))?.[1] ?? "?"
  return `duplicate key '${key}' (a step id or a key appears twice in the same map)`
}

const TS_EXTENSIONS = new Set([".ts", ".mts", ".js", ".mjs"])

/** Load a workflow file: YAML, or a TypeScript/JavaScript module whose default export is a `workflow(...)`. */
export const loadWorkflowFile = async (file: string, options: LoadOptions = {}): Promise<LoadResult> => {
  if (TS_EXTENSIONS.has(extname(file))) {
    const { importWorkflowModule } = await import("./importTs.js")
    return importWorkflowModule(file, options)
  }
  return checkWorkflowText(readWorkflowText(file, options.env), file, options)
}

export { noPositions }
