/**
 * `polyquant schema [--out FILE]`: the workflow JSON Schema, generated from the zod schemas of the
 * workflow and every kernel's `with`, for editors (`# yaml-language-server: $schema=...`).
 * The committed copy is schema/workflow.schema.json (a test keeps it up to date).
 */
import { mkdirSync, writeFileSync } from "node:fs"
import { dirname } from "node:path"
import { ExitCode } from "../command.js"
import { parseFlagsOrReport } from "../flags.js"
import { writeErrorReason, writeProblem } from "../paths.js"
import { table } from "./index.js"
import { workflowJsonSchema } from "../../workflow/schema.js"

export const schemaText = (): string => JSON.stringify(workflowJsonSchema(), null, 2) + "\n"

export const run = async (args: ReadonlyArray<string>): Promise<number> => {
  const parsed = parseFlagsOrReport(table.schema, args)
  if (parsed === undefined) return ExitCode.invalidInput
  const out = parsed.values.out
  if (out === undefined) {
    process.stdout.write(schemaText())
    return ExitCode.ok
  }
  const problem = writeProblem(out, "file")
  if (problem !== undefined) {
    process.stderr.write(`polyquant schema: cannot write ${out}: ${problem}\n`)
    return ExitCode.invalidInput
  }
  try {
    mkdirSync(dirname(out), { recursive: true })
    writeFileSync(out, schemaText())
  } catch (error) {
    process.stderr.write(`polyquant schema: cannot write ${out}: ${writeErrorReason(out, "file", error)}\n`)
    return ExitCode.invalidInput
  }
  return ExitCode.ok
}
