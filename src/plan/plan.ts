/**
 * plan(): a validated Workflow → a Plan (plain data). Pure: no I/O except reading a local
 * model's config.json for its size. Matrix expansion (cartesian product with include/exclude,
 * ids `base[axis=value]`), defaults merged and each `with` parsed (kernel defaults applied),
 * `needs` on a matrixed step expanded to all its instances, a topological order and stages,
 * estimates, and each step's estimated peak memory (src/plan/memory.ts) against the platform's memory.
 */
import { findKernel } from "../kernels/catalog.js"
import type { KernelDefinition } from "../kernels/define.js"
import { stepInstances } from "../workflow/instances.js"
import type { Workflow } from "../workflow/types.js"
import type { Plan, PlannedResources, PlannedStep, PlatformSpec } from "./types.js"
import { estimateMemory } from "./memory.js"
import { DTYPE_BYTES, describeModel, dtypeFor, modelParams, readGeometry, weightsGb } from "./vram.js"

export interface PlanOptions {
  /** what this machine is: `local`'s GPU and memory (the CLI asks doctor/os); default: a CPU */
  readonly local?: PlatformSpec
  /** memory a CPU-only platform holds weights in (GB); default: unknown */
  readonly localMemoryGb?: number
  readonly env?: NodeJS.ProcessEnv
}

const isMap = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v)

const getPath = (obj: unknown, dotted: string): unknown => dotted.split(".").reduce<unknown>((v, k) => (isMap(v) ? v[k] : undefined), obj)

/** Kahn's algorithm, stable in the written order; stages are longest-path levels. */
export const orderSteps = (ids: ReadonlyArray<string>, needs: ReadonlyMap<string, ReadonlyArray<string>>): { order: string[]; stages: string[][] } => {
  const level = new Map<string, number>()
  const order: string[] = []
  const remaining = new Set(ids)
  while (remaining.size > 0) {
    const ready = ids.filter((id) => remaining.has(id) && (needs.get(id) ?? []).every((n) => !remaining.has(n)))
    if (ready.length === 0) throw new Error(`needs form a cycle among: ${[...remaining].join(", ")}`)
    for (const id of ready) {
      level.set(id, Math.max(-1, ...(needs.get(id) ?? []).map((n) => level.get(n) ?? 0)) + 1)
      order.push(id)
      remaining.delete(id)
    }
  }
  const stages: string[][] = []
  for (const id of order) (stages[level.get(id)!] ??= []).push(id)
  // order by stage, then as written, so that every step comes after what it needs
  return { order: stages.flat(), stages }
}

const specParams = (spec: Record<string, unknown>, workflow: Workflow, options: PlanOptions): ReturnType<typeof modelParams> =>
  modelParams({ id: String(spec["id"]), ...(typeof spec["params_b"] === "number" ? { params_b: spec["params_b"] } : {}) }, workflow.baseDir, options.env)

const resourcesOf = (
  kernel: KernelDefinition | undefined,
  w: Record<string, unknown>,
  platform: PlatformSpec | undefined,
  workflow: Workflow,
  options: PlanOptions
): PlannedResources | undefined => {
  if (kernel === undefined || kernel.models.length === 0) return undefined
  const spec = getPath(w, kernel.models[0]!)
  if (!isMap(spec) || typeof spec["id"] !== "string") return undefined
  const id = spec["id"]
  const onGpu = platform !== undefined && platform.gpu !== "cpu" && platform.vramGb > 0
  const dtypeOf = (s: Record<string, unknown>): string => dtypeFor(typeof s["dtype"] === "string" ? s["dtype"] : undefined, onGpu)
  const dtype = dtypeOf(spec)
  const dtypeBytes = DTYPE_BYTES[dtype] ?? 4
  const params = specParams(spec, workflow, options)
  const memoryGb = onGpu ? platform.vramGb : options.localMemoryGb
  const need = params ? weightsGb(params.paramsB, dtypeBytes) : undefined
  // disparity's variant: a second model resident beside the base one
  const variantSpec = kernel.models.slice(1).map((path) => getPath(w, path)).find((v) => isMap(v) && typeof v["id"] === "string") as Record<string, unknown> | undefined
  const memory =
    need === undefined
      ? undefined
      : estimateMemory({
          kernel: kernel.name,
          with: w,
          geometry: readGeometry(id, workflow.baseDir, options.env),
          paramsB: params?.paramsB,
          dtype,
          dtypeBytes,
          gpu: onGpu ? platform.gpu : "cpu",
          ...(memoryGb !== undefined ? { memoryGb } : {}),
          ...(variantSpec ? { variant: { paramsB: specParams(variantSpec, workflow, options)?.paramsB, dtypeBytes: DTYPE_BYTES[dtypeOf(variantSpec)] ?? 4 } } : {})
        })
  return {
    model: id,
    ...(params ? { paramsB: params.paramsB, paramsSource: params.source } : {}),
    dtype,
    dtypeBytes,
    ...(need !== undefined ? { weightsGb: need } : {}),
    ...(memoryGb !== undefined ? { memoryGb } : {}),
    ...(memory !== undefined
      ? {
          basis: memory.basis,
          peakGb: memory.peakGb,
          ...(memory.peakPhase !== undefined ? { peakPhase: memory.peakPhase } : {}),
          parts: memory.parts,
          phases: memory.phases,
          marginGb: memory.marginGb,
          ...(memory.protocol ? { protocol: memory.protocol } : {}),
          ...(memory.note !== undefined ? { memoryNote: memory.note } : {})
        }
      : {}),
    ...(memory !== undefined && memoryGb !== undefined ? { fits: memory.peakGb + memory.marginGb <= memoryGb } : {})
  }
}

export const plan = (workflow: Workflow, options: PlanOptions = {}): Plan => {
  const platforms: Record<string, PlatformSpec> = { ...workflow.platforms, ...(options.local ? { local: options.local } : {}) }
  const instancesOf = new Map<string, string[]>()
  const drafts: Omit<PlannedStep, "needs">[] = []
  const baseNeeds = new Map<string, ReadonlyArray<string>>()
  for (const step of workflow.steps) {
    const kernel = step.custom ? undefined : findKernel(step.uses)
    const instances = step.custom
      ? [{ id: step.id, with: { ...step.with }, expressions: [], unresolved: [], origin: {} }]
      : stepInstances({ id: step.id, with: step.with, matrix: step.matrix }, kernel, workflow.defaults)
    instancesOf.set(step.id, instances.map((i) => i.id))
    for (const instance of instances) {
      const parsed = kernel !== undefined && instance.expressions.length === 0 ? (kernel.with.parse(instance.with) as Record<string, unknown>) : instance.with
      const platform = platforms[step.platform]
      const resources = resourcesOf(kernel, parsed, platform, workflow, options)
      baseNeeds.set(instance.id, step.needs)
      drafts.push({
        id: instance.id,
        baseId: step.id,
        uses: step.uses,
        kernelVersion: step.custom?.version ?? kernel?.version ?? "0",
        with: parsed,
        ...(step.if !== undefined ? { condition: { expression: step.if, references: step.conditionReferences } } : {}),
        platform: step.platform,
        ...(step.estimateSeconds !== undefined ? { estimateSeconds: step.estimateSeconds } : {}),
        ...(step.timeoutSeconds !== undefined ? { timeoutSeconds: step.timeoutSeconds } : {}),
        retry: { max: step.retry.max, on: [...step.retry.on] },
        continueOnError: step.continueOnError,
        ...(instance.matrix !== undefined ? { matrix: instance.matrix } : {}),
        gpu: kernel?.gpu ?? false,
        checkpoints: kernel?.checkpoints ?? false,
        source: step.source,
        ...(instance.expressions.length > 0 ? { expressions: instance.expressions } : {}),
        ...(step.custom ? { local: true } : {}),
        ...(resources ? { resources } : {})
      })
    }
  }
  const needs = new Map<string, string[]>()
  for (const d of drafts) needs.set(d.id, (baseNeeds.get(d.id) ?? []).flatMap((n) => instancesOf.get(n) ?? []))
  const { order, stages } = orderSteps(
    drafts.map((d) => d.id),
    needs
  )
  const byId = new Map(drafts.map((d) => [d.id, d]))
  return {
    workflow: { name: workflow.name, file: workflow.file, digest: workflow.digest },
    steps: order.map((id) => ({ ...byId.get(id)!, needs: needs.get(id) ?? [] })),
    stages,
    budgets: workflow.budgets,
    ...(workflow.runtime !== undefined ? { runtime: workflow.runtime } : {}),
    platforms: Object.values(platforms),
    models: [...new Set(drafts.flatMap((d) => (d.resources ? [d.resources.model] : [])))].map((id) => ({
      id,
      description: describeModel(id, workflow.baseDir, options.env)
    }))
  }
}
