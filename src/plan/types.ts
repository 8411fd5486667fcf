/**
 * The Plan: what `plan()` computes from a validated Workflow and the engine executes.
 * Plain data (no functions, no Effects), so it can be printed, snapshot-tested and stored.
 */
import type { RuntimeSpec } from "../workflow/types.js"

export interface BudgetSpec {
  readonly platform: string
  readonly gpuHours: number
  readonly per: "day" | "week" | "session"
}

export interface PlannedCondition {
  /** the CEL source, as written */
  readonly expression: string
  /** the `steps.<id>.…` paths it reads, for recording the values that decided it */
  readonly references: ReadonlyArray<string>
}

export interface PlannedStep {
  /** unique id; a matrix expansion gets `base[key=value,...]` */
  readonly id: string
  /** the id written in the workflow */
  readonly baseId: string
  readonly uses: string
  readonly kernelVersion: string
  /** the kernel's `with`, parsed by its schema with defaults applied and workflow defaults merged in */
  readonly with: Record<string, unknown>
  /** planned ids this step waits for */
  readonly needs: ReadonlyArray<string>
  readonly condition?: PlannedCondition
  readonly platform: string
  readonly estimateSeconds?: number
  readonly timeoutSeconds?: number
  readonly retry: { readonly max: number; readonly on: ReadonlyArray<string> }
  readonly continueOnError: boolean
  readonly matrix?: Readonly<Record<string, unknown>>
  readonly gpu: boolean
  readonly checkpoints: boolean
  /** where the step was written: for error messages at run time */
  readonly source: { readonly file: string; readonly line: number; readonly column: number }
  /**
   * `${{ steps.… }}` expressions inside `with` (dotted path in `with` → CEL source). When present,
   * `with` is NOT parsed yet (it holds the expression strings): the engine calls
   * `resolveWith(step, stepsState)` from src/workflow/conditions.ts right before running the step.
   */
  readonly expressions?: ReadonlyArray<{ readonly path: string; readonly expression: string }>
  /** a custom DSL step (`step.custom`): the engine runs `workflow.custom[baseId].run` in TypeScript, not Python */
  readonly local?: boolean
  /** model size against the platform's memory, for `polyquant plan` (absent when the step loads no model) */
  readonly resources?: PlannedResources
}

/** One term of a step's memory estimate (src/plan/memory.ts), in GB (10⁹ bytes). */
export interface MemoryPart {
  readonly name: string
  readonly gb: number
  /** what it counts, e.g. "batch 8 × 4096" */
  readonly detail?: string
}

/** The evaluation protocol the memory estimate used, as the run resolves it (eval/perplexity.py Protocol.resolve). */
export interface PlannedProtocol {
  readonly batch: number
  readonly context: number
  readonly requestedBatch: number
  /** given: with.protocol.context_length; model: the model's max positions; memory: halved to fit */
  readonly contextFrom: "given" | "model" | "memory"
}

export interface PlannedResources {
  readonly model: string
  /** parameters in billions, and where that number came from */
  readonly paramsB?: number
  readonly paramsSource?: "spec" | "config" | "table"
  readonly dtype: string
  readonly dtypeBytes: number
  /** parameters × dtype bytes, in GB (10⁹ bytes) */
  readonly weightsGb?: number
  /** the platform's GPU memory (or RAM for a CPU-only local platform), in GB */
  readonly memoryGb?: number
  /**
   * peak: `peakGb` is the step's estimated peak (src/plan/memory.ts); weights: only the weights
   * could be counted (no memory model for the kernel, or the geometry is unknown; `memoryNote` says
   * which); none: the step loads no weights (a tokenizer only)
   */
  readonly basis?: "peak" | "weights" | "none"
  /** what the allocator holds at the step's peak (torch.cuda.max_memory_allocated on CUDA), in GB */
  readonly peakGb?: number
  /** the phase of the step at that peak, e.g. "quantized pass: KL" */
  readonly peakPhase?: string
  /** the peak phase's parts, summing to peakGb: weights first */
  readonly parts?: ReadonlyArray<MemoryPart>
  /** every modelled phase's total, largest first */
  readonly phases?: ReadonlyArray<{ readonly name: string; readonly gb: number }>
  /** outside the allocator but on the device (the CUDA context), added for the verdict only */
  readonly marginGb?: number
  readonly protocol?: PlannedProtocol
  readonly memoryNote?: string
  /** peakGb + marginGb within memoryGb (weights alone when basis is weights) */
  readonly fits?: boolean
}

export interface PlatformSpec {
  readonly name: string
  /** a GPU name, or "cpu" */
  readonly gpu: string
  /** GPU memory in GB (0 for a CPU) */
  readonly vramGb: number
}

export interface Plan {
  readonly workflow: { readonly name: string; readonly file: string; readonly digest: string }
  /** steps in a topological order */
  readonly steps: ReadonlyArray<PlannedStep>
  /** steps grouped so that each stage depends only on earlier stages */
  readonly stages: ReadonlyArray<ReadonlyArray<string>>
  readonly budgets: ReadonlyArray<BudgetSpec>
  /** the workflow's `runtime:` block (where steps run; flags override it) */
  readonly runtime?: RuntimeSpec
  /** built-in platforms plus the workflow's own `platforms:` */
  readonly platforms?: ReadonlyArray<PlatformSpec>
  /** each model the steps load, with what is known of its architecture before it loads */
  readonly models?: ReadonlyArray<{ readonly id: string; readonly description: string }>
}
