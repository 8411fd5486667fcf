/** A stored run as `compareRuns` takes it: its steps in plan order and its tidy rows (tidy.ts). */
import { runLiveness, statusText } from "../store/liveness.js"
import type { RunRecord, RunStore } from "../store/RunStore.js"
import type { ComparedRun } from "./compare.js"
import { stepRows } from "./tidy.js"

export const comparedRunFromStore = (store: RunStore, record: RunRecord): ComparedRun => {
  const steps = store.getSteps(record.id)
  return {
    id: record.id,
    workflow: record.workflow,
    startedAt: record.createdAt,
    // a run whose process is gone reads as interrupted here too, as in `runs` and `show`
    status: statusText(runLiveness(record, store.lastActivity(record.id))),
    steps: steps.map((s) => ({ id: s.stepId, kernel: s.uses, status: s.status })),
    rows: steps.flatMap((s) => stepRows(record.id, s))
  }
}
