/**
 * `polyquant export RUN [--format csv|jsonl|parquet] [--windows] [--out FILE] [--store PATH]`: the run's results
 * as tidy rows (src/results/tidy.ts), one per step × model × language × metric with CI bounds, so
 * that `pandas.read_csv` or R's `read.csv` gets a table with no reshaping. Notebooks read them with
 * `polyquant.results.load` (python/polyquant/results.py), which calls this command.
 */
import { spawnSync } from "node:child_process"
import { writeFileSync } from "node:fs"
import { resolveInterpreter } from "../../python/interpreter.js"
import { stepRows, toCsv, toJsonl, windowRows, windowsCsv } from "../../results/tidy.js"
import { ExitCode } from "../command.js"
import { parseFlagsOrReport } from "../flags.js"
import { findRunForCli, openStoreForCli } from "../store.js"
import { table } from "./index.js"

const FORMATS = ["csv", "jsonl", "parquet"] as const

/** Parquet through the engine's Python (pyarrow): typed columns, nulls where a row has no interval. */
const PARQUET = [
  "import json, sys",
  "import pyarrow as pa, pyarrow.parquet as pq",
  "text = pa.string()",
  "schema = pa.schema([(c, text) for c in ('run', 'step', 'kernel', 'model', 'language', 'metric')] + [(c, pa.float64()) for c in ('value', 'ci_lo', 'ci_hi')])",
  "rows = [json.loads(line) for line in sys.stdin if line.strip()]",
  "pq.write_table(pa.Table.from_pylist(rows, schema=schema), sys.argv[1])"
].join("\n")

const writeParquet = (jsonl: string, out: string): string | undefined => {
  const python = resolveInterpreter()
  if (!python.exists) return `parquet needs the Python environment (${python.path} is missing): ${python.fix}`
  const res = spawnSync(python.path, ["-c", PARQUET, out], { input: jsonl, encoding: "utf8" })
  return res.status === 0 ? undefined : `writing parquet failed: ${(res.stderr ?? "").trim().split("\n").at(-1) ?? res.error?.message}`
}

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
    if (values.windows === true) {
      if (format === "parquet") {
        process.stderr.write("polyquant export: --windows writes csv or jsonl\n")
        return ExitCode.invalidInput
      }
      const windows = store.getSteps(record.id).flatMap((s) => windowRows(record.id, s))
      const text = format === "csv" ? windowsCsv(windows) : windows.map((r) => JSON.stringify(r)).join("\n") + (windows.length ? "\n" : "")
      if (values.out !== undefined) {
        writeFileSync(String(values.out), text)
        process.stderr.write(`polyquant export: ${windows.length} windows of run ${record.id} written to ${String(values.out)}\n`)
      } else process.stdout.write(text)
      return ExitCode.ok
    }
    const rows = store.getSteps(record.id).flatMap((s) => stepRows(record.id, s))
    if (format === "parquet") {
      if (values.out === undefined) {
        process.stderr.write("polyquant export: --format parquet writes a file: name it with --out FILE\n")
        return ExitCode.invalidInput
      }
      const problem = writeParquet(toJsonl(rows), String(values.out))
      if (problem !== undefined) {
        process.stderr.write(`polyquant export: ${problem}\n`)
        return ExitCode.stepFailed
      }
      process.stderr.write(`polyquant export: ${rows.length} rows of run ${record.id} written to ${String(values.out)}\n`)
      return ExitCode.ok
    }
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
