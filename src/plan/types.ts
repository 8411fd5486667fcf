/**
 * The Plan: what `plan()` computes from a validated Workflow and the engine executes.
 * Plain data (no functions, no Effects), so it can be printed, snapshot-tested and stored.
 */

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
  /** built-in platforms plus the workflow's own `platforms:` */
  readonly platforms?: ReadonlyArray<PlatformSpec>
  /** each model the steps load, with what is known of its architecture before it loads */
  readonly models?: ReadonlyArray<{ readonly id: string; readonly description: string }>
}
