/**
 * `polyquant plan` output: the DAG by stage with each step's platform, estimate, condition and
 * estimated peak memory against the platform's (src/plan/memory.ts), then the seed's resource
 * table computed (step, GPU hours, platform) and the budget per platform (remaining from the
 * store's ledger when there is one).
 */
import { formatDuration } from "../workflow/duration.js"
import type { MemoryPart, Plan, PlannedStep } from "./types.js"

export interface BudgetRemaining {
  readonly platform: string
  readonly usedHours: number
}

export interface PrintOptions {
  /** used hours per platform in the current window, from the store; undefined: no store */
  readonly used?: ReadonlyArray<BudgetRemaining>
  /** why `used` is missing (printed once) */
  readonly usedNote?: string
}

const pad = (s: string, n: number): string => (s.length >= n ? s : s + " ".repeat(n - s.length))
const hoursText = (h: number): string => `${Number(h.toFixed(2))}h`

const paramsText = (b: number): string => (b >= 0.1 ? `${Number(b.toFixed(2))}B` : `${Number((b * 1000).toFixed(3))}M`)
const sizeText = (gb: number): string => (gb >= 0.1 ? `${Number(gb.toFixed(2))} GB` : `${Number((gb * 1000).toFixed(2))} MB`)

/** a part's number in the peak's unit (GB, or MB for a model under 0.1 GB) */
const inUnit = (gb: number, mb: boolean): string => (mb ? `${Number((gb * 1000).toFixed(2))}` : `${Number(gb.toFixed(2))}`)

/** what breaks a step that does not fit: the weights alone, or the largest part beyond them in the peak phase */
const breaker = (r: NonNullable<PlannedStep["resources"]>): string => {
  const memory = r.memoryGb ?? 0
  const margin = r.marginGb ?? 0
  if ((r.weightsGb ?? 0) + margin > memory) return "the weights alone do not fit"
  const over = (r.peakGb ?? 0) + margin - memory
  const largest = (r.parts ?? []).filter((p) => p.name !== "weights").reduce<MemoryPart | undefined>((a, p) => (a === undefined || p.gb > a.gb ? p : a), undefined)
  return `over by ${sizeText(over)}${largest ? `; ${largest.name} ${sizeText(largest.gb)} breaks it` : ""}`
}

/**
 * One step's memory: "NousResearch/Llama-2-7b-hf peak ≈ 15.2 GB + 0.5 GB CUDA context of 16 GB (T4):
 * fits — at evaluation: forward: weights 13.48 (6.74B × 2 B (float16)), activations 0.9 (batch 8 × 4096), …";
 * weights alone where the kernel or the geometry is not modelled, labelled so.
 */
export const vramText = (step: PlannedStep, gpuName?: string): string => {
  const r = step.resources
  if (r === undefined) return "-"
  if (r.basis === "none") return `${r.model}: ${r.memoryNote ?? "no weights loaded"}`
  if (r.paramsB === undefined || r.weightsGb === undefined) return `${r.model}: size unknown (set model.params_b)`
  const mem = r.memoryGb === undefined ? "memory unknown" : `${Number(r.memoryGb.toFixed(1))} GB${gpuName ? ` (${gpuName})` : ""}`
  const verdict = r.fits === undefined ? "" : r.fits ? ": fits" : `: DOES NOT FIT (${breaker(r)})`
  const margin = r.marginGb ? ` + ${sizeText(r.marginGb)} CUDA context` : ""
  if (r.basis !== "peak" || r.peakGb === undefined) {
    const note = r.memoryNote ? ` [${r.memoryNote}]` : ""
    return `${r.model} ${paramsText(r.paramsB)} × ${r.dtypeBytes} B (${r.dtype}) = ${sizeText(r.weightsGb)}${margin} of ${mem}${verdict}${note}`
  }
  const mb = r.peakGb < 0.1
  const parts = (r.parts ?? []).map((p) => `${p.name} ${inUnit(p.gb, mb)}${p.detail !== undefined && p.detail.length <= 32 ? ` (${p.detail})` : ""}`)
  const p = r.protocol
  const halved = p !== undefined && (p.batch < p.requestedBatch || p.contextFrom === "memory") ? `; the run halves the protocol to batch ${p.batch} × ${p.context} to fit (eval/perplexity.py)` : ""
  const note = r.memoryNote ? ` [${r.memoryNote}]` : ""
  return `${r.model} peak ≈ ${sizeText(r.peakGb)}${margin} of ${mem}${verdict}${halved} — at ${r.peakPhase ?? "peak"}, ${mb ? "MB" : "GB"}: ${parts.join(", ")}${note}`
}

/** GPU hours a step charges to its platform's budget: its estimate when it runs on a GPU. */
export const gpuHoursOf = (step: PlannedStep): number => (step.gpu && step.estimateSeconds !== undefined ? step.estimateSeconds / 3600 : 0)

export const formatPlan = (plan: Plan, options: PrintOptions = {}): string => {
  const lines: string[] = []
  const gpuOf = new Map((plan.platforms ?? []).map((p) => [p.name, p.gpu === "cpu" ? "CPU" : p.gpu]))
  const byId = new Map(plan.steps.map((s) => [s.id, s]))
  lines.push(`workflow ${plan.workflow.name} (${plan.workflow.file}): ${plan.steps.length} steps in ${plan.stages.length} stages`)
  for (const m of plan.models ?? []) lines.push(`model ${m.description}`)
  const idWidth = Math.max(4, ...plan.steps.map((s) => s.id.length))
  const usesWidth = Math.max(4, ...plan.steps.map((s) => s.uses.length))
  const platWidth = Math.max(8, ...plan.steps.map((s) => s.platform.length))
  plan.stages.forEach((stage, i) => {
    lines.push("")
    lines.push(`stage ${i + 1}`)
    for (const id of stage) {
      const s = byId.get(id)!
      const estimate = s.estimateSeconds !== undefined ? formatDuration(s.estimateSeconds) : "-"
      lines.push(`  ${pad(s.id, idWidth)}  ${pad(s.uses, usesWidth)}  ${pad(s.platform, platWidth)}  ${pad(estimate, 6)}  ${vramText(s, gpuOf.get(s.platform))}`)
      if (s.needs.length > 0) lines.push(`  ${" ".repeat(idWidth)}  needs ${s.needs.join(", ")}`)
      if (s.condition) lines.push(`  ${" ".repeat(idWidth)}  if ${s.condition.expression}`)
      if (s.expressions && s.expressions.length > 0) lines.push(`  ${" ".repeat(idWidth)}  with ${s.expressions.map((e) => `${e.path} = \${{ ${e.expression} }}`).join("; ")}`)
    }
  })

  // the seed's resource table, computed
  lines.push("")
  lines.push("resources")
  lines.push(`  ${pad("step", idWidth)}  ${pad("GPU hours", 9)}  platform`)
  for (const s of plan.steps) lines.push(`  ${pad(s.id, idWidth)}  ${pad(s.gpu ? hoursText(gpuHoursOf(s)) : "-", 9)}  ${s.platform}`)
  const platforms = [...new Set([...plan.steps.map((s) => s.platform), ...plan.budgets.map((b) => b.platform)])]
  const conditional = plan.steps.some((s) => s.condition !== undefined)
  lines.push("")
  lines.push(`budgets${conditional ? " (planned hours count every branch; conditions decide which run)" : ""}`)
  lines.push(`  ${pad("platform", platWidth)}  ${pad("planned", 8)}  ${pad("budget", 16)}  remaining`)
  for (const platform of platforms) {
    const planned = plan.steps.filter((s) => s.platform === platform).reduce((h, s) => h + gpuHoursOf(s), 0)
    const budget = plan.budgets.find((b) => b.platform === platform)
    if (budget === undefined && planned === 0) continue
    if (budget === undefined) {
      lines.push(`  ${pad(platform, platWidth)}  ${pad(hoursText(planned), 8)}  ${pad("none", 16)}  -`)
      continue
    }
    const used = options.used?.find((u) => u.platform === platform)?.usedHours
    const remaining = budget.gpuHours - (used ?? 0)
    const verdict = planned > remaining ? `: short by ${hoursText(planned - remaining)}` : ""
    const source = options.used === undefined ? " (full budget)" : ` (${hoursText(used ?? 0)} used this ${budget.per})`
    lines.push(`  ${pad(platform, platWidth)}  ${pad(hoursText(planned), 8)}  ${pad(`${hoursText(budget.gpuHours)} per ${budget.per}`, 16)}  ${hoursText(remaining)}${source}${verdict}`)
  }
  if (options.usedNote) lines.push(`  ${options.usedNote}`)
  return lines.join("\n") + "\n"
}
