/**
 * The Workflow: what loading a YAML file or running the TypeScript DSL produces, after every
 * check passed. `plan()` (src/plan/plan.ts) turns it into a Plan.
 */
import type { Effect } from "effect"
import type { z } from "zod"
import type { BudgetSpec, PlatformSpec } from "../plan/types.js"

export interface SourcePosition {
  readonly file: string
  readonly line: number
  readonly column: number
}

export interface MatrixSpec {
  /** axis → its values, in the order written */
  readonly axes: Readonly<Record<string, ReadonlyArray<unknown>>>
  /** extra combinations (may add keys that are not axes) */
  readonly include: ReadonlyArray<Readonly<Record<string, unknown>>>
  /** partial combinations to remove */
  readonly exclude: ReadonlyArray<Readonly<Record<string, unknown>>>
}

/** A DSL step that runs in TypeScript: an Effect over the outputs of the steps it needs. */
export interface CustomStep {
  readonly run: (outputs: Readonly<Record<string, unknown>>) => Effect.Effect<unknown, unknown>
  readonly outputs: z.ZodType
  /** a digest of `run`'s source: the cache key's kernel version */
  readonly version: string
}

export interface WorkflowStep {
  readonly id: string
  readonly uses: string
  /** `with` as written (after --set), before defaults are merged and the matrix is expanded */
  readonly with: Readonly<Record<string, unknown>>
  readonly needs: ReadonlyArray<string>
  readonly if?: string
  readonly matrix?: MatrixSpec
  readonly platform: string
  readonly estimateSeconds?: number
  readonly timeoutSeconds?: number
  readonly retry: { readonly max: number; readonly on: ReadonlyArray<string> }
  readonly continueOnError: boolean
  readonly source: SourcePosition
  /** `steps.…` paths the condition reads */
  readonly conditionReferences: ReadonlyArray<string>
  /** set for `step.custom` (uses: "custom") */
  readonly custom?: CustomStep
}

/** The workflow's `runtime:` block (src/engine/executor.ts resolves it with the flags). */
export interface RuntimeSpec {
  readonly executor?: "local" | "ray"
  readonly rayAddress?: string
  readonly actors?: number
  readonly threads?: number
}

export interface Workflow {
  readonly name: string
  readonly description?: string
  readonly file: string
  /** sha256 of the workflow's canonical JSON (after --set) */
  readonly digest: string
  /** the folder relative paths (corpus files, local models) are resolved against */
  readonly baseDir: string
  readonly defaults: Readonly<Record<string, unknown>>
  readonly budgets: ReadonlyArray<BudgetSpec>
  /** built-in platforms and the workflow's own, by name */
  readonly platforms: Readonly<Record<string, PlatformSpec>>
  readonly runtime?: RuntimeSpec
  /** in the order written */
  readonly steps: ReadonlyArray<WorkflowStep>
}
