/**
 * What a report is made from: plain data about one stored run (`ReportInput`), so the report can
 * be built and tested without the store; `fromStore.ts` reads it out of the SQLite store.
 */
import type { BudgetState, KernelError, RunStatus, StepStatus } from "../engine/events.js"
import type { PlotFile, PlotSpec } from "../kernels/internal.js"

export interface ReportStep {
  readonly id: string
  readonly uses: string
  readonly status: StepStatus
  readonly durationMs?: number
  readonly cacheKey?: string
  /** the kernel's outputs (its output schema), when the step succeeded or was cached */
  readonly outputs?: unknown
  readonly error?: KernelError
  readonly reason?: string
  /** the step's `with` as planned (defaults applied), for describing configurations */
  readonly with?: Readonly<Record<string, unknown>>
  /** the matrix values of an expanded step, e.g. {calibration: "he"} */
  readonly matrix?: Readonly<Record<string, unknown>>
  readonly platform?: string
}

export interface ReportBranch {
  readonly stepId: string
  readonly expression: string
  readonly result: boolean
  readonly values: Readonly<Record<string, unknown>>
}

export interface ReportInput {
  readonly workflow: { readonly name: string; readonly file: string }
  readonly run: {
    readonly id: string
    readonly status: RunStatus
    readonly platform?: string
    readonly startedAt: number
    readonly finishedAt?: number
  }
  readonly steps: ReadonlyArray<ReportStep>
  readonly branches: ReadonlyArray<ReportBranch>
  readonly budgets?: ReadonlyArray<BudgetState>
}

// the figure specs and drawn files are the `report-plots` kernel's contract (src/kernels/internal.ts)
export type { PlotFile, PlotSpec } from "../kernels/internal.js"
/** Draws specs into `outDir` as `<name>.svg` and `<name>.png`. */
export type PlotRenderer = (specs: ReadonlyArray<PlotSpec>, outDir: string) => Promise<ReadonlyArray<PlotFile>>
