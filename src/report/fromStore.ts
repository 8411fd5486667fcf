/** Read a stored run out of the SQLite store as a ReportInput (plain data). */
import type { BudgetState } from "../engine/events.js"
import type { RunStore } from "../store/RunStore.js"
import type { ReportInput, ReportStep } from "./types.js"

export const reportInputFromStore = (store: RunStore, runIdOrPrefix: string): ReportInput => {
  const run = store.requireRun(runIdOrPrefix)
  const planned = new Map(run.plan.steps.map((s) => [s.id, s]))
  const steps: ReportStep[] = store.getSteps(run.id).map((s) => {
    const p = planned.get(s.stepId)
    return {
      id: s.stepId,
      uses: s.uses,
      status: s.status,
      ...(s.durationMs !== null ? { durationMs: s.durationMs } : {}),
      ...(s.cacheKey !== null ? { cacheKey: s.cacheKey } : {}),
      ...(s.outputs !== null && s.outputs !== undefined ? { outputs: s.outputs } : {}),
      ...(s.error !== null ? { error: s.error } : {}),
      ...(s.reason !== null ? { reason: s.reason } : {}),
      ...(p ? { with: p.with, platform: p.platform } : {}),
      ...(p?.matrix ? { matrix: p.matrix } : {})
    }
  })
  // the budgets as the run last reported them
  let budgets: ReadonlyArray<BudgetState> | undefined
  let startedAt = run.createdAt
  for (const e of store.events(run.id)) {
    if (e.type === "budget" || e.type === "run-started") budgets = e.budgets
    if (e.type === "run-started" && !e.resumed) startedAt = e.t
  }
  return {
    workflow: { name: run.workflow, file: run.file },
    run: {
      id: run.id,
      status: run.status,
      platform: run.platform,
      startedAt,
      ...(run.finishedAt !== null ? { finishedAt: run.finishedAt } : {})
    },
    steps,
    branches: store.branches(run.id).map((b) => ({ stepId: b.stepId, expression: b.expression, result: b.result, values: b.values })),
    ...(budgets ? { budgets } : {})
  }
}
