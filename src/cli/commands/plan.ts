/**
 * `polyquant plan FILE [--set path=value]... [--json] [--store PATH]`: the DAG by stage with
 * each step's platform, estimate, condition and estimated peak memory, the seed's resource table computed,
 * and the budget left per platform (from the store's ledger when the store exists; it is never
 * created here). Never starts Python.
 */
import { existsSync } from "node:fs"
import { totalmem } from "node:os"
import { ExitCode } from "../command.js"
import { parseFlagsOrReport } from "../flags.js"
import { table } from "./index.js"
import { plan } from "../../plan/plan.js"
import { formatPlan, type BudgetRemaining } from "../../plan/print.js"
import type { Plan } from "../../plan/types.js"
import { formatIssue, WorkflowFileError } from "../../workflow/errors.js"
import { loadWorkflowFile } from "../../workflow/load.js"

/** Used GPU hours per budget from the store, or why there are none. */
const usedHours = async (p: Plan, storePath: string): Promise<{ used?: BudgetRemaining[]; note?: string }> => {
  if (p.budgets.length === 0) return {}
  if (!existsSync(storePath)) return { note: `no store at ${storePath} yet: remaining = the full budget` }
  try {
    const { RunStore } = await import("../../store/RunStore.js")
    const store = RunStore.open(storePath)
    try {
      return { used: p.budgets.map((b) => ({ platform: b.platform, usedHours: store.remainingBudget(b).usedHours })) }
    } finally {
      store.close()
    }
  } catch (error) {
    return { note: `could not read the ledger in ${storePath} (${(error as Error).message}): remaining = the full budget` }
  }
}

export const run = async (args: ReadonlyArray<string>): Promise<number> => {
  const parsed = parseFlagsOrReport(table.plan, args)
  if (parsed === undefined) return ExitCode.invalidInput
  const { values, positionals } = parsed
  if (positionals.length !== 1) {
    process.stderr.write(`polyquant plan: name one workflow file (usage: ${table.plan.usage})\n`)
    return ExitCode.invalidInput
  }
  const file = positionals[0]!
  let result
  try {
    result = await loadWorkflowFile(file, { sets: values.set })
  } catch (error) {
    if (error instanceof WorkflowFileError) {
      process.stderr.write(`${error.message}\n`)
      return ExitCode.invalidInput
    }
    throw error
  }
  if (!result.ok) {
    for (const issue of result.issues) process.stderr.write(formatIssue(issue) + "\n")
    return ExitCode.invalidInput
  }
  const p = plan(result.workflow, { localMemoryGb: totalmem() / 1e9 })
  if (values.json) {
    process.stdout.write(JSON.stringify(p, null, 2) + "\n")
    return ExitCode.ok
  }
  const storePath = values.store ?? ".polyquant/polyquant.db"
  const { used, note } = await usedHours(p, storePath)
  process.stdout.write(formatPlan(p, { ...(used ? { used } : {}), ...(note ? { usedNote: note } : {}) }))
  return ExitCode.ok
}
