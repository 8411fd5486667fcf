/**
 * GPU-hour budgets. A step on a budgeted platform is deferred when its estimate (written, or
 * measured on earlier runs of its kernel and model) exceeds what one of the platform's budgets has
 * left; the wall time of a step that used the accelerator, or ran on a budgeted platform, goes
 * into the ledger that later checks read.
 */
import { Effect } from "effect"
import type { ModelSpec } from "../kernels/common.js"
import type { PlannedStep } from "../plan/types.js"
import type { StoreWriteError } from "../store/errors.js"
import type { BudgetState } from "./events.js"
import type { RunContext } from "./context.js"

export interface Budgets {
  /** every budget of the plan, with the hours used so far (for run-started and budget events) */
  readonly states: () => BudgetState[]
  /** why the step must wait for its budget, or undefined when it fits (or no budget covers it) */
  readonly deferral: (step: PlannedStep, models: ReadonlyArray<ModelSpec>) => string | undefined
  /**
   * Charge a step's wall time. A lost ledger row would let later steps overrun their budget, so a
   * failed charge fails (and the step with it).
   */
  readonly charge: (step: PlannedStep, seconds: number) => Effect.Effect<void, StoreWriteError>
}

const formatHours = (seconds: number): string => (seconds >= 3600 ? `${(seconds / 3600).toFixed(2)} h` : `${Math.round(seconds / 60)} min`)

export const makeBudgets = (ctx: Pick<RunContext, "plan" | "db" | "store" | "runId" | "now" | "emit">): Budgets => {
  const { plan, db, runId, now } = ctx
  const covering = (step: PlannedStep) => plan.budgets.filter((b) => b.platform === step.platform)

  const states = (): BudgetState[] =>
    plan.budgets.map((b) => {
      const r = db.remainingBudget(b, now(), runId)
      return { platform: r.platform, window: r.window, limitHours: r.limitHours, usedHours: r.usedHours }
    })

  const deferral = (step: PlannedStep, models: ReadonlyArray<ModelSpec>): string | undefined => {
    const budgets = covering(step)
    if (budgets.length === 0) return undefined
    const estimate = step.estimateSeconds ?? db.measuredSeconds(step.uses, models[0]?.id)
    if (estimate === undefined) return undefined
    for (const b of budgets) {
      const left = db.remainingBudget(b, now(), runId).remainingHours * 3600
      if (estimate > left) {
        const source = step.estimateSeconds !== undefined ? "estimate" : "estimate (measured on earlier runs)"
        return `platform ${b.platform}: ${source} ${formatHours(estimate)} exceeds the ${formatHours(left)} left of its ${b.gpuHours} GPU h per ${b.per} budget`
      }
    }
    return undefined
  }

  const charge = (step: PlannedStep, seconds: number) =>
    Effect.gen(function* () {
      const budgets = covering(step)
      if (!step.gpu && budgets.length === 0) return
      yield* ctx.store.use("charge", (d) => d.charge({ platform: step.platform, ...(budgets[0] ? { window: budgets[0].per } : {}), seconds, runId, stepId: step.id, t: now() }))
      if (plan.budgets.length > 0) ctx.emit({ type: "budget", runId, t: now(), budgets: states() })
    })

  return { states, deferral, charge }
}
