/**
 * Whether a step whose needs are done runs. It is skipped when a need did not succeed, unless its
 * `if:` reads a step's status (such a step exists to react to the failure), and when its `if:` is
 * false or cannot be evaluated. Each `if:` decision is recorded with the values that decided it.
 */
import { Effect, Either } from "effect"
import type { PlannedCondition, PlannedStep } from "../plan/types.js"
import { evaluateCondition } from "../workflow/conditions.js"
import type { RunContext } from "./context.js"
import { needMet, type StepOutcome } from "./state.js"

/** The condition reads `steps.<id>.status` (the loader listed what it reads: PlannedCondition.references). */
export const readsStatus = (condition: PlannedCondition | undefined): boolean =>
  condition?.references.some((path) => {
    const [root, , field] = path.split(".")
    return root === "steps" && field === "status"
  }) === true

/** The outcome of a step that does not run (skipped, recorded), or undefined when it runs. */
export const gate = (ctx: RunContext, step: PlannedStep): Effect.Effect<StepOutcome | undefined> =>
  Effect.gen(function* () {
    const { runId, now } = ctx
    const unmet = step.needs.filter((n) => !needMet(ctx.outcomes.get(n)))
    if (unmet.length > 0 && !readsStatus(step.condition)) {
      const reason = `needs ${unmet.map((n) => `${n} (${ctx.outcomes.get(n)?.status ?? "pending"})`).join(", ")} did not succeed`
      return yield* ctx.finish(step, { status: "skipped" }, { durationMs: 0, reason })
    }
    const condition = step.condition
    if (condition === undefined) return undefined
    const decision = Either.try({ try: () => evaluateCondition(condition, ctx.stepsState()), catch: (error) => (error as Error).message })
    const t = now()
    const { result, values } = Either.getOrElse(decision, () => ({ result: false, values: {} }))
    yield* ctx.store
      .use("recordBranch", (d) => d.recordBranch(runId, { stepId: step.id, expression: condition.expression, result, values, t }))
      .pipe(Effect.catchAll(ctx.warnIfLost(`the branch decision of step ${step.id}`)))
    ctx.emit({ type: "branch-decided", runId, t, stepId: step.id, expression: condition.expression, result, values })
    if (result) return undefined
    const reason = Either.isLeft(decision) ? decision.left : `condition \`${condition.expression}\` is false`
    return yield* ctx.finish(step, { status: "skipped" }, { durationMs: 0, reason })
  })
