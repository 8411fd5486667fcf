/**
 * `polyquant export RUN [--format csv|jsonl] [--out FILE] [--store PATH]`: the run's results as
 * tidy rows (src/results/tidy.ts), one per step × model × language × metric with CI bounds, so that
 * `pandas.read_csv` or R's `read.csv` gets a table with no reshaping.
 */
import { writeFileSync } from "node:fs"
import { stepRows, toCsv, toJsonl } from "../../results/tidy.js"
import { ExitCode } from "../command.js"
import { parseFlagsOrReport } from "../flags.js"
import { findRunForCli, openStoreForCli } from "../store.js"
import { table } from "./index.js"

const FORMATS = ["csv", "jsonl"] as const

export const run = async (args: ReadonlyArray<string>): Promise<number> => {
  const parsed = parseFlagsOrReport(table.export, args)
  if (parsed === undefined) return ExitCode.invalidInput
  const { values, positionals } = parsed
  const format = String(values.format ?? "csv")
  if (!(FORMATS as ReadonlyArray<string>).includes(format)) {
    process.stderr.write(`polyquant export: --format ${format} is not one of ${FORMATS.join(", ")}\n`)
    return ExitCode.invalidInput
  }
  const store = openStoreForCli("export", values.store)
  if (store === undefined) return ExitCode.invalidInput
  try {
    const record = findRunForCli("export", store, positionals[0])
    if (record === undefined) return ExitCode.invalidInput
    const rows = store.getSteps(record.id).flatMap((s) => stepRows(record.id, s))
    const text = format === "csv" ? toCsv(rows) : toJsonl(rows)
    if (values.out !== undefined) {
      writeFileSync(String(values.out), text)
      process.stderr.write(`polyquant export: ${rows.length} rows of run ${record.id} written to ${String(values.out)}\n`)
    } else process.stdout.write(text)
    return ExitCode.ok
  } finally {
    store.close()
  }
}
