/**
 * The workflow schema in zod: one place for the shape of a workflow file. The loader checks a
 * file's structure with `WorkflowFile` (each `with` is then checked by its kernel's schema), and
 * `workflowJsonSchema()` builds, from the kernel catalogue, the JSON Schema that `polyquant schema`
 * prints for editors (`# yaml-language-server: $schema=...`). Every object is strict.
 */
import { z } from "zod"
import { kernels } from "../kernels/catalog.js"
import type { KernelDefinition } from "../kernels/define.js"
import { CorpusSpec, ModelSpec } from "../kernels/common.js"
import { parseDuration } from "./duration.js"

/** Step ids are CEL identifiers, so that `steps.<id>.outputs` reads them. */
export const STEP_ID = /^[A-Za-z_][A-Za-z0-9_]*$/
export const PLATFORM_NAME = /^[a-z0-9][a-z0-9_-]*$/

export const Duration = z
  .union([z.string(), z.number().nonnegative()])
  .refine((v) => parseDuration(v) !== undefined, "a duration is a number of seconds or text such as 90s, 30m, 6h, 1h30m")
  .describe("90s, 30m, 6h, 1h30m, 2d, or seconds")

export const Retry = z.strictObject({
  max: z.number().int().min(0, "retry.max must be 0 or more").max(20, "retry.max is at most 20").describe("retries after the first attempt"),
  on: z
    .array(z.string().regex(/^[A-Z][A-Za-z0-9]*(Error|Stopped)$/, "an error type is a class name such as OutOfMemoryError or KernelCrashedError"))
    .default([])
    .describe("error types that are retried (empty: any retryable error)")
})

/** `matrix:` — axes (name → non-empty list of values) plus `include` and `exclude` lists of combinations. */
export const Matrix = z
  .record(z.string(), z.unknown())
  .describe("axis → [values]; include: [{axis: value, ...}]; exclude: [{axis: value, ...}]")

export const Budget = z.strictObject({
  gpu_hours: z.number().positive("gpu_hours must be positive"),
  per: z.enum(["day", "week", "session"]).default("session")
})

export const CustomPlatform = z.strictObject({
  gpu: z.string().min(1).describe("GPU name, or cpu"),
  vram_gb: z.number().nonnegative().describe("GPU memory in GB (0 for a CPU)")
})

const stepFields = {
  needs: z
    .union([z.string(), z.array(z.string())], { error: "needs is a step id or a list of step ids" })
    .optional()
    .describe("step ids this step waits for"),
  if: z.string().min(1).optional().describe("a CEL expression over steps.<id>.status and steps.<id>.outputs"),
  matrix: Matrix.optional(),
  platform: z.string().optional().describe("local, colab-free, colab-pro, kaggle, or one of `platforms:`"),
  estimate: Duration.optional(),
  timeout: Duration.optional(),
  retry: Retry.optional(),
  continue_on_error: z.boolean().optional(),
  name: z.string().optional().describe("a human-readable title"),
  description: z.string().optional()
}

/** A step as far as the structure goes; its `with` is checked against its kernel afterwards. */
export const StepStructure = z.strictObject({
  uses: z.string().min(1),
  with: z.record(z.string(), z.unknown()).optional(),
  ...stepFields
})

export const Defaults = z
  .looseObject({
    model: z.union([z.string(), z.record(z.string(), z.unknown())]).optional().describe("a ModelSpec (or just its id)"),
    corpus: z.record(z.string(), z.unknown()).optional().describe("a CorpusSpec")
  })
  .describe("merged into each step's `with` wherever its kernel accepts the key")

export const Runtime = z
  .strictObject({
    executor: z.enum(["local", "ray"]).optional().describe("local: one worker (default); ray: Ray actors, one per GPU"),
    ray_address: z.string().min(1).optional().describe("auto or HOST:PORT of a running Ray cluster; none: a local Ray for the run"),
    actors: z.number().int().min(1).optional().describe("Ray actors (default: one per GPU, else 2 CPU actors)"),
    threads: z.number().int().min(1).optional().describe("torch threads per CPU actor (default: the CPUs shared out)")
  })
  .describe("where the steps run (the command line's --executor and --ray-address win)")

export const WorkflowFile = z.strictObject({
  name: z.string().min(1, "a workflow needs a name"),
  description: z.string().optional(),
  defaults: Defaults.optional(),
  budgets: z.record(z.string(), Budget).optional().describe("platform → GPU hours per day, week or session"),
  platforms: z.record(z.string().regex(PLATFORM_NAME), CustomPlatform).optional(),
  runtime: Runtime.optional(),
  steps: z.record(z.string(), StepStructure).refine((s) => Object.keys(s).length > 0, "a workflow needs at least one step")
})
export type WorkflowFile = z.infer<typeof WorkflowFile>

/** One step schema per kernel, for editors: `with` is that kernel's own (input) schema. */
const kernelStep = (kernel: KernelDefinition) =>
  z.strictObject({ uses: z.literal(kernel.name).describe(kernel.description), with: kernel.with.optional(), ...stepFields })

/** The workflow schema with every kernel's `with` in it (what `polyquant schema` prints). */
export const workflowSchema = (catalog: ReadonlyArray<KernelDefinition> = kernels) => {
  const steps = catalog.map(kernelStep)
  const step = steps.length >= 2 ? z.discriminatedUnion("uses", steps as unknown as [ReturnType<typeof kernelStep>, ...ReturnType<typeof kernelStep>[]]) : (steps[0] ?? StepStructure)
  return WorkflowFile.extend({
    defaults: z
      .looseObject({ model: z.union([z.string(), ModelSpec]).optional(), corpus: CorpusSpec.optional() })
      .optional()
      .describe("merged into each step's `with` wherever its kernel accepts the key"),
    steps: z.record(z.string().regex(STEP_ID), step)
  })
}

type Json = Record<string, unknown>

/** A `${{ … }}` expression standing for a whole value: any field may hold one. */
const EXPRESSION_VALUE: Json = { type: "string", pattern: "^\\s*\\$\\{\\{[\\s\\S]*\\}\\}\\s*$", description: "a ${{ }} expression, evaluated before the step runs" }

/** Every value schema below `node` also accepts an expression (the loader types it against the field). */
const acceptExpressions = (node: unknown): unknown => {
  if (Array.isArray(node)) return node.map(acceptExpressions)
  if (node === null || typeof node !== "object") return node
  const out: Json = {}
  for (const [key, value] of Object.entries(node as Json)) {
    if (key === "properties" || key === "patternProperties" || key === "$defs") out[key] = Object.fromEntries(Object.entries(value as Json).map(([k, v]) => [k, acceptExpressions(v)]))
    else if (key === "items" || key === "additionalProperties" || key === "propertyNames" || key === "anyOf" || key === "oneOf" || key === "allOf" || key === "prefixItems") out[key] = acceptExpressions(value)
    else out[key] = value
  }
  return { anyOf: [out, EXPRESSION_VALUE] }
}

/**
 * A kernel's `with` as an editor should check it: the workflow's `defaults` may fill any key, so
 * none is required at its top; a model may be written as its id alone (`model: fixture:tiny-llama`);
 * and any value may be a `${{ }}` expression. The loader checks the rest.
 */
const editorWith = (withSchema: Json, kernel: KernelDefinition): Json => {
  const { required: _required, ...rest } = withSchema
  const properties = { ...((rest["properties"] as Json | undefined) ?? {}) }
  for (const path of kernel.models) {
    if (path.includes(".")) continue // nested model specs (variant.model) are written as objects
    if (properties[path] !== undefined) properties[path] = { anyOf: [{ type: "string", minLength: 1, description: "a model id: fixture:tiny-llama, a hub id or a local folder" }, properties[path]] }
  }
  const open = { ...rest, properties }
  return { anyOf: [...((acceptExpressions(open) as { anyOf: unknown[] }).anyOf)] }
}

const forEditors = (schema: Json, catalog: ReadonlyArray<KernelDefinition>): Json => {
  const steps = (schema["properties"] as Json | undefined)?.["steps"] as Json | undefined
  const step = steps?.["additionalProperties"] as Json | undefined
  const variants = (step?.["oneOf"] ?? step?.["anyOf"] ?? (step !== undefined ? [step] : [])) as Json[]
  for (const variant of variants) {
    const props = variant["properties"] as Json
    const name = ((props["uses"] as Json | undefined)?.["const"] as string | undefined) ?? ""
    const kernel = catalog.find((k) => k.name === name)
    if (kernel !== undefined && props["with"] !== undefined) props["with"] = editorWith(props["with"] as Json, kernel)
  }
  return schema
}

/** JSON Schema (draft 2020-12) of the workflow file, as editors read YAML. */
export const workflowJsonSchema = (catalog: ReadonlyArray<KernelDefinition> = kernels): Record<string, unknown> => {
  const schema = forEditors(z.toJSONSchema(workflowSchema(catalog), { io: "input", unrepresentable: "any" }) as Record<string, unknown>, catalog)
  return {
    $schema: schema["$schema"],
    $id: "https://polyquant.dev/schema/workflow.schema.json",
    title: "polyquant workflow",
    description: "A polyquant workflow: steps that run kernels (uses:) with parameters (with:). Generated by `polyquant schema`.",
    ...Object.fromEntries(Object.entries(schema).filter(([k]) => k !== "$schema"))
  }
}
