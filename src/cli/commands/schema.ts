/**
 * `polyquant schema [--out FILE]`: the workflow JSON Schema, generated from the zod schemas of the
 * workflow and every kernel's `with`, for editors (`# yaml-language-server: $schema=...`).
 * The committed copy is schema/workflow.schema.json (a test keeps it up to date).
 */
import { writeFileSync } from "node:fs"
import { parseArgs } from "node:util"
import { ExitCode } from "../command.js"
import { workflowJsonSchema } from "../../workflow/schema.js"

export const schemaText = (): string => JSON.stringify(workflowJsonSchema(), null, 2) + "\n"

export const run = async (args: ReadonlyArray<string>): Promise<number> => {
  let out: string | undefined
  try {
    out = parseArgs({ args: [...args], options: { out: { type: "string" } } }).values.out
  } catch (error) {
    process.stderr.write(`polyquant schema: ${(error as Error).message}\nUsage: polyquant schema [--out FILE]\n`)
    return ExitCode.invalidInput
  }
  if (out !== undefined) writeFileSync(out, schemaText())
  else process.stdout.write(schemaText())
  return ExitCode.ok
}
