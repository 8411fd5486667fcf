/**
 * What a report is made from: plain data about one stored run (`ReportInput`), so the report can
 * be built and tested without the store; `fromStore.ts` reads it out of the SQLite store.
 */
import type { BudgetState, KernelError, RunStatus, StepStatus } from "../engine/events.js"
import type { PlotFile, PlotSpec } from "../kernels/internal.js"
import type { Comparison } from "../results/compare.js"

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
  /** `report --compare`: this run (the first) against others, as `polyquant compare` computes it */
  readonly compared?: Comparison
}

// the figure specs and drawn files are the `report-plots` kernel's contract (src/kernels/internal.ts)
export type { PlotFile, PlotSpec } from "../kernels/internal.js"
/** Draws specs into `outDir` as `<name>.svg` and `<name>.png`. */
export type PlotRenderer = (specs: ReadonlyArray<PlotSpec>, outDir: string) => Promise<ReadonlyArray<PlotFile>>

/**
 * The report as a document: headings, paragraphs, lists, tables, code and plots. The sections
 * (sections.ts, write.ts) build it once; markdown.ts and html.ts render it.
 */
/** Inline text: plain strings, `code` and **strong** spans. */
export type Span = string | { readonly code: string } | { readonly strong: string }
export type Inline = string | ReadonlyArray<Span>
/** A table cell: its text, with a number to sort by where the text alone would sort wrongly (durations). */
export type Cell = string | { readonly text: string; readonly sort: number | null }

export type Block =
  | { readonly kind: "heading"; readonly level: 1 | 2 | 3; readonly text: string }
  /** lines of one paragraph, each on its own line */
  | { readonly kind: "paragraph"; readonly lines: ReadonlyArray<Inline> }
  | { readonly kind: "list"; readonly items: ReadonlyArray<Inline> }
  /** `right`: the columns aligned right (numbers) */
  | { readonly kind: "table"; readonly header: ReadonlyArray<string>; readonly rows: ReadonlyArray<ReadonlyArray<Cell>>; readonly right: ReadonlyArray<number> }
  | { readonly kind: "code"; readonly language: string; readonly text: string }
  | { readonly kind: "plot"; readonly spec: PlotSpec }
