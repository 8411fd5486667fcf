/**
 * The TypeScript DSL: `workflow({...})` with `step.<kernel>({...})` (or `step("<kernel>", {...})`)
 * builds the same value a YAML file describes, checked by the same checker, so it is the same
 * Workflow. Each kernel's `with` is typed from its zod input type; `step.custom` adds a step that
 * runs in TypeScript as an Effect over the outputs of the steps it needs (no Python).
 *
 *   import { workflow, step } from "polyquant"
 *   export default workflow({
 *     name: "week1",
 *     defaults: { model: { id: "fixture:tiny-llama" } },
 *     steps: {
 *       a: step.disparity({ with: { quant: { bits: 4 } } }),
 *       b: step.custom({ needs: ["a"], outputs: z.object({ ok: z.boolean() }), run: (o) => Effect.succeed({ ok: true }) })
 *     }
 *   })
 */
import { createHash } from "node:crypto"
import type { Effect } from "effect"
import type { z } from "zod"
import { kernels } from "../kernels/catalog.js"
import { WorkflowInvalidError } from "./errors.js"
import { checkWorkflow, noPositions } from "./load.js"
import type { CustomStep, Workflow } from "./types.js"

type Catalog = (typeof kernels)[number]
type KernelName = Catalog["name"]
type KernelNamed<N extends KernelName> = Extract<Catalog, { readonly name: N }>

/** A `${{ … }}` expression may stand for any value in `with`. */
export type Expression = `\${{${string}}}`
export type WithInput<T> = T extends ReadonlyArray<infer E>
  ? ReadonlyArray<WithInput<E>> | Expression
  : T extends object
    ? { [K in keyof T]: WithInput<T[K]> } | Expression
    : T | Expression

export interface StepOptions {
  readonly needs?: string | ReadonlyArray<string>
  readonly if?: string
  readonly matrix?: Readonly<Record<string, unknown>>
  readonly platform?: string
  readonly estimate?: string | number
  readonly timeout?: string | number
  readonly retry?: { readonly max: number; readonly on?: ReadonlyArray<string> }
  readonly continue_on_error?: boolean
  readonly name?: string
  readonly description?: string
}

export interface KernelStepOptions<N extends KernelName> extends StepOptions {
  /** the kernel's parameters; top-level keys may come from the workflow's `defaults` (model, corpus, ...) */
  readonly with?: WithInput<Partial<z.input<KernelNamed<N>["with"]>>>
}

/** A step as the DSL records it: the YAML-equivalent fields, plus `custom` for TypeScript steps. */
export interface StepDefinition {
  readonly uses: string
  readonly fields: Readonly<Record<string, unknown>>
  readonly custom?: CustomStep
}

export interface CustomStepOptions<O extends z.ZodType> extends StepOptions {
  /** the outputs of the steps this one needs, by id; returns this step's outputs */
  readonly run: (outputs: Readonly<Record<string, unknown>>) => Effect.Effect<z.input<O>, unknown>
  /** the outputs' schema: it types later conditions and checks what `run` returns */
  readonly outputs: O
}

const kernelStep =
  <N extends KernelName>(name: N) =>
  (options: KernelStepOptions<N> = {}): StepDefinition => ({ uses: name, fields: { uses: name, ...options } })

const customStep = <O extends z.ZodType>(options: CustomStepOptions<O>): StepDefinition => {
  const { run, outputs, ...fields } = options
  const version = createHash("sha256").update(run.toString()).digest("hex").slice(0, 16)
  return {
    uses: "custom",
    fields: { uses: "custom", ...fields },
    custom: { run: run as CustomStep["run"], outputs, version }
  }
}

type Camel<S extends string> = S extends `${infer A}-${infer B}` ? `${A}${Capitalize<Camel<B>>}` : S
const camel = (s: string): string => s.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())

type StepBuilders = { readonly [K in KernelName as K | Camel<K>]: (options?: KernelStepOptions<K>) => StepDefinition }

interface StepFunction extends StepBuilders {
  <N extends KernelName>(name: N, options?: KernelStepOptions<N>): StepDefinition
  readonly custom: <O extends z.ZodType>(options: CustomStepOptions<O>) => StepDefinition
}

const builders: Record<string, unknown> = {}
for (const k of kernels) {
  builders[k.name] = kernelStep(k.name)
  builders[camel(k.name)] = kernelStep(k.name)
}

/** `step.disparity({...})`, `step.layerSweep({...})`, `step("layer-sweep", {...})`, `step.custom({...})`. */
export const step: StepFunction = Object.assign(
  <N extends KernelName>(name: N, options: KernelStepOptions<N> = {}): StepDefinition => {
    // an unknown name (from untyped JavaScript) is reported by the checker with the known kernels
    return kernelStep(name)(options)
  },
  builders,
  { custom: customStep }
) as unknown as StepFunction

export interface WorkflowDefinitionInput {
  readonly name: string
  readonly description?: string
  readonly defaults?: Readonly<Record<string, unknown>> & { readonly model?: unknown; readonly corpus?: unknown }
  readonly budgets?: Readonly<Record<string, { readonly gpu_hours: number; readonly per?: "day" | "week" | "session" }>>
  readonly platforms?: Readonly<Record<string, { readonly gpu: string; readonly vram_gb: number }>>
  readonly steps: Readonly<Record<string, StepDefinition>>
}

/** What `workflow()` attaches to the Workflow so that a loader can re-check it with a file name and --set. */
export const DEFINITION = Symbol.for("polyquant.workflow.definition")

export interface WorkflowDefinition {
  /** the YAML-equivalent value */
  readonly raw: Record<string, unknown>
  readonly custom: Readonly<Record<string, CustomStep>>
}

/** The YAML-equivalent plain value of a DSL workflow, and its custom steps. */
export const definitionOf = (input: WorkflowDefinitionInput): WorkflowDefinition => {
  const custom: Record<string, CustomStep> = {}
  const steps: Record<string, unknown> = {}
  for (const [id, s] of Object.entries(input.steps)) {
    steps[id] = structuredClone(s.fields)
    if (s.custom) custom[id] = s.custom
  }
  const { steps: _, ...rest } = input
  return { raw: { ...structuredClone(rest), steps }, custom }
}

/**
 * Build and check a workflow. Throws WorkflowInvalidError (every issue, paths as in YAML) when
 * it is not valid. `file` names the workflow in messages (the CLI re-checks with the real file).
 */
export const workflow = (input: WorkflowDefinitionInput, options: { readonly file?: string } = {}): Workflow => {
  const definition = definitionOf(input)
  const file = options.file ?? "workflow.ts"
  const result = checkWorkflow(definition.raw, noPositions(file), { custom: definition.custom, baseDir: process.cwd() })
  if (!result.ok) throw new WorkflowInvalidError({ file, issues: result.issues })
  Object.defineProperty(result.workflow, DEFINITION, { value: definition, enumerable: false })
  return result.workflow
}

export const definitionAttached = (value: unknown): WorkflowDefinition | undefined =>
  value !== null && typeof value === "object" ? ((value as Record<symbol, unknown>)[DEFINITION] as WorkflowDefinition | undefined) : undefined
