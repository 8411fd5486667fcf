/**
 * `polyquant validate FILE [--set path=value]...`: load and check a workflow (YAML or TS) and
 * print every problem at once, each with file:line:column and its field path. Exits 0 when
 * valid, 2 otherwise, and names each model the steps load with its architecture as far as its
 * files tell (blocks, linears, which methods apply). Never starts Python.
 */
import { ExitCode } from "../command.js"
import { parseFlagsOrReport } from "../flags.js"
import { table } from "./index.js"
import { formatIssue, WorkflowFileError } from "../../workflow/errors.js"
import { loadWorkflowFile } from "../../workflow/load.js"
import { plan } from "../../plan/plan.js"

export const run = async (args: ReadonlyArray<string>): Promise<number> => {
  const parsed = parseFlagsOrReport(table.validate, args)
  if (parsed === undefined) return ExitCode.invalidInput
  const { values, positionals } = parsed
  if (positionals.length !== 1) {
    process.stderr.write(`polyquant validate: name one workflow file (usage: ${table.validate.usage})\n`)
    return ExitCode.invalidInput
  }
  const file = positionals[0]!
  try {
    const result = await loadWorkflowFile(file, { sets: values.set })
    if (!result.ok) {
      for (const issue of result.issues) process.stderr.write(formatIssue(issue) + "\n")
      process.stderr.write(`${result.issues.length} error${result.issues.length === 1 ? "" : "s"} in ${file}\n`)
      return ExitCode.invalidInput
    }
    const w = result.workflow
    process.stdout.write(`${file}: valid workflow '${w.name}' with ${w.steps.length} step${w.steps.length === 1 ? "" : "s"}\n`)
    for (const m of plan(w).models ?? []) process.stdout.write(`model ${m.description}\n`)
    return ExitCode.ok
  } catch (error) {
    if (error instanceof WorkflowFileError) {
      process.stderr.write(`${error.message}\n`)
      return ExitCode.invalidInput
    }
    throw error
  }
}
