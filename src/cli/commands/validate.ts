/**
 * `polyquant validate FILE [--set path=value]...`: load and check a workflow (YAML or TS) and
 * print every problem at once, each with file:line:column and its field path. Exits 0 when
 * valid, 2 otherwise, and names each model the steps load with its architecture as far as its
 * files tell (blocks, linears, which methods apply). Never starts Python.
 */
import { parseArgs } from "node:util"
import { ExitCode } from "../command.js"
import { formatIssue, WorkflowFileError } from "../../workflow/errors.js"
import { loadWorkflowFile } from "../../workflow/load.js"
import { plan } from "../../plan/plan.js"

const USAGE = "Usage: polyquant validate FILE [--set path=value]..."

export const run = async (args: ReadonlyArray<string>): Promise<number> => {
  let values: { set?: string[] }
  let positionals: string[]
  try {
    ;({ values, positionals } = parseArgs({ args: [...args], allowPositionals: true, options: { set: { type: "string", multiple: true, default: [] } } }))
  } catch (error) {
    process.stderr.write(`polyquant validate: ${(error as Error).message}\n${USAGE}\n`)
    return ExitCode.invalidInput
  }
  if (positionals.length !== 1) {
    process.stderr.write(`polyquant validate: name one workflow file\n${USAGE}\n`)
    return ExitCode.invalidInput
  }
  const file = positionals[0]!
  try {
    const result = await loadWorkflowFile(file, { sets: values.set ?? [] })
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
