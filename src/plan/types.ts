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
}

export interface Plan {
  readonly workflow: { readonly name: string; readonly file: string; readonly digest: string }
  /** steps in a topological order */
  readonly steps: ReadonlyArray<PlannedStep>
  /** steps grouped so that each stage depends only on earlier stages */
  readonly stages: ReadonlyArray<ReadonlyArray<string>>
  readonly budgets: ReadonlyArray<BudgetSpec>
}
