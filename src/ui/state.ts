/**
 * The dashboard's state as a pure fold over RunEvents: `reduce(state, event) → state`.
 * Kept free of React and Ink so the plain renderer, the summary and tests share it.
 */
import type { BudgetState, KernelError, RunEvent, RunStatus, StepStatus } from "../engine/events.js"
import { languageRows, mergeRows, type LanguageRow } from "./languages.js"

export interface StepProgress {
  readonly done: number
  readonly total: number
  readonly unit: string
  readonly message?: string
  /** when the first progress event of this attempt arrived, for the ETA */
  readonly since: number
  readonly sinceDone: number
  readonly t: number
}

export interface StepView {
  readonly id: string
  readonly uses: string
  readonly needs: ReadonlyArray<string>
  readonly platform?: string
  readonly estimateSeconds?: number
  readonly status: StepStatus
  readonly attempt: number
  readonly startedAt?: number
  readonly durationMs?: number
  readonly progress?: StepProgress
  readonly checkpoints: number
  readonly reason?: string
  readonly error?: KernelError
  readonly outputs?: unknown
}

export interface BranchView {
  readonly stepId: string
  readonly expression: string
  readonly result: boolean
  readonly values: Readonly<Record<string, unknown>>
  readonly t: number
}

export interface LogLine {
  readonly t: number
  readonly level: "info" | "warn" | "error"
  readonly stepId?: string
  readonly message: string
}

export type RecordEntry = { readonly kind: "step"; readonly id: string } | { readonly kind: "branch"; readonly index: number }

export interface RunView {
  readonly runId: string
  readonly workflow: string
  readonly file: string
  readonly platform: string
  readonly resumed: boolean
  readonly startedAt: number
  readonly status: RunStatus
  /** the engine's time, without writing the report */
  readonly durationMs?: number
  /** when the run-finished event came (after the report): where the dashboard's clock stops */
  readonly finishedAt?: number
  readonly reportPath?: string
  readonly budgets: ReadonlyArray<BudgetState>
  readonly steps: ReadonlyArray<StepView>
  /** ids of steps that reached a final status, in the order they did */
  readonly finished: ReadonlyArray<string>
  readonly branches: ReadonlyArray<BranchView>
  /** finished steps and branch decisions in the order they happened: printed once, above the live area */
  readonly record: ReadonlyArray<RecordEntry>
  readonly logs: ReadonlyArray<LogLine>
  /** the latest per-language table and the step it came from */
  readonly table?: { readonly stepId: string; readonly rows: ReadonlyArray<LanguageRow>; readonly final: boolean }
}

export const emptyRun: RunView = {
  runId: "",
  workflow: "",
  file: "",
  platform: "",
  resumed: false,
  startedAt: 0,
  status: "running",
  budgets: [],
  steps: [],
  finished: [],
  branches: [],
  record: [],
  logs: []
}

const FINAL: ReadonlySet<StepStatus> = new Set(["succeeded", "failed", "skipped", "cached", "deferred", "interrupted"])
export const isFinal = (s: StepStatus): boolean => FINAL.has(s)

const MAX_LOGS = 200

const updateStep = (state: RunView, id: string, f: (s: StepView) => StepView): RunView => {
  const i = state.steps.findIndex((s) => s.id === id)
  const base: StepView = i >= 0 ? state.steps[i]! : { id, uses: "?", needs: [], status: "pending", attempt: 0, checkpoints: 0 }
  const next = f(base)
  const steps = i >= 0 ? state.steps.map((s, j) => (j === i ? next : s)) : [...state.steps, next]
  return { ...state, steps }
}

export const reduce = (state: RunView, event: RunEvent): RunView => {
  switch (event.type) {
    case "run-started": {
      // A resumed run keeps what it already knows about finished steps.
      const known = new Map(state.steps.map((s) => [s.id, s]))
      return {
        ...state,
        runId: event.runId,
        workflow: event.workflow,
        file: event.file,
        platform: event.platform,
        resumed: event.resumed,
        startedAt: event.t,
        status: "running",
        budgets: event.budgets,
        steps: event.steps.map((s) => ({
          ...(known.get(s.id) ?? { status: "pending" as const, attempt: 0, checkpoints: 0 }),
          id: s.id,
          uses: s.uses,
          needs: s.needs,
          ...(s.platform !== undefined ? { platform: s.platform } : {}),
          ...(s.estimateSeconds !== undefined ? { estimateSeconds: s.estimateSeconds } : {})
        }))
      }
    }
    case "step-started":
      return updateStep({ ...state, runId: state.runId || event.runId }, event.stepId, (s) => {
        const { progress: _p, error: _e, reason: _r, ...rest } = s
        return { ...rest, status: "running", attempt: event.attempt, startedAt: event.t }
      })
    case "step-progress":
      return updateStep(state, event.stepId, (s) => {
        const fresh = s.progress === undefined || event.done < s.progress.done || s.progress.unit !== event.unit
        const progress: StepProgress = {
          done: event.done,
          total: event.total,
          unit: event.unit,
          ...(event.message !== undefined ? { message: event.message } : {}),
          since: fresh ? (s.startedAt ?? event.t) : s.progress!.since,
          sinceDone: fresh ? 0 : s.progress!.sinceDone,
          t: event.t
        }
        return { ...s, progress }
      })
    case "step-partial": {
      const rows = languageRows(event.result)
      if (rows.length === 0) return state
      const old = state.table?.stepId === event.stepId && !state.table.final ? state.table.rows : []
      return { ...state, table: { stepId: event.stepId, rows: mergeRows(old, rows), final: false } }
    }
    case "step-checkpoint":
      return updateStep(state, event.stepId, (s) => ({ ...s, checkpoints: s.checkpoints + 1 }))
    case "log": {
      const line: LogLine = {
        t: event.t,
        level: event.level,
        message: event.message,
        ...(event.stepId !== undefined ? { stepId: event.stepId } : {})
      }
      return { ...state, logs: [...state.logs, line].slice(-MAX_LOGS) }
    }
    case "branch-decided":
      return {
        ...state,
        branches: [
          ...state.branches,
          { stepId: event.stepId, expression: event.expression, result: event.result, values: event.values, t: event.t }
        ],
        record: [...state.record, { kind: "branch", index: state.branches.length }]
      }
    case "step-deferred":
      return updateStep(state, event.stepId, (s) => ({ ...s, status: "deferred", reason: event.reason }))
    case "step-finished": {
      let next = updateStep(state, event.stepId, (s) => ({
        ...s,
        status: event.status,
        durationMs: event.durationMs,
        ...(event.outputs !== undefined ? { outputs: event.outputs } : {}),
        ...(event.error !== undefined ? { error: event.error } : {}),
        ...(event.reason !== undefined ? { reason: event.reason } : {})
      }))
      if (isFinal(event.status) && !next.finished.includes(event.stepId)) {
        next = { ...next, finished: [...next.finished, event.stepId], record: [...next.record, { kind: "step", id: event.stepId }] }
      }
      const rows = languageRows(event.outputs)
      if (rows.length > 0) next = { ...next, table: { stepId: event.stepId, rows, final: true } }
      return next
    }
    case "budget":
      return { ...state, budgets: event.budgets }
    case "run-finished":
      return {
        ...state,
        status: event.status,
        durationMs: event.durationMs,
        finishedAt: event.t,
        ...(event.reportPath !== undefined ? { reportPath: event.reportPath } : {})
      }
  }
}

export const reduceAll = (events: ReadonlyArray<RunEvent>, from: RunView = emptyRun): RunView => events.reduce(reduce, from)

/** Counts of steps by final status, for the summary line. */
export const statusCounts = (state: RunView): Partial<Record<StepStatus, number>> => {
  const counts: Partial<Record<StepStatus, number>> = {}
  for (const s of state.steps) counts[s.status] = (counts[s.status] ?? 0) + 1
  return counts
}
