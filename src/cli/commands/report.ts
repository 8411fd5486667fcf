/**
 * `polyquant report RUN [--out DIR] [--store PATH] [--no-plots] [--html] [--compare RUN]...`: Markdown
 * with tables and plots of a stored run; with --html also report.html, the same report in one
 * self-contained file (src/report/html.ts, loaded only then).
 */
import { ExitCode } from "../command.js"
import { parseFlagsOrReport } from "../flags.js"
import { writeErrorReason, writeProblem } from "../paths.js"
import { openStoreForCli } from "../store.js"
import { comparisonForCli, matchByForCli } from "./compare.js"
import { table } from "./index.js"
import { defaultReportDir, pythonPlotRenderer, reportInputFromStore, writeReport } from "../../report/index.js"

export const run = async (args: ReadonlyArray<string>): Promise<number> => {
  const parsed = parseFlagsOrReport(table.report, args)
  if (parsed === undefined) return ExitCode.invalidInput
  const { values, positionals } = parsed
  const runId = positionals[0]
  if (runId === undefined) {
    process.stderr.write("polyquant report: give one run id (see `polyquant runs`)\n")
    return ExitCode.invalidInput
  }
  const compareBy = matchByForCli("report", "compare-by", values["compare-by"])
  if (compareBy === undefined) return ExitCode.invalidInput
  // checked before the store is opened (and created): a bad --out changes nothing
  if (values.out !== undefined) {
    const problem = writeProblem(values.out, "folder")
    if (problem !== undefined) {
      process.stderr.write(`polyquant report: cannot write the report into ${values.out}: ${problem}\n`)
      return ExitCode.invalidInput
    }
  }
  const store = openStoreForCli("report", values.store)
  if (store === undefined) return ExitCode.invalidInput
  try {
    let input
    try {
      input = reportInputFromStore(store, runId)
    } catch (e) {
      process.stderr.write(`polyquant report: ${(e as Error).message}\n`)
      return ExitCode.invalidInput
    }
    // --compare: a "Compared with" section, this run against the others (as `polyquant compare`)
    if (values.compare.length > 0) {
      const compared = comparisonForCli("report", store, [input.run.id, ...values.compare], { by: compareBy, byOption: "--compare-by" })
      if (compared === undefined) return ExitCode.invalidInput
      input = { ...input, compared }
    }
    const outDir = values.out ?? defaultReportDir(input.run.id, store.root)
    const problem = writeProblem(outDir, "folder")
    if (problem !== undefined) {
      process.stderr.write(`polyquant report: cannot write the report into ${outDir}: ${problem}\n`)
      return ExitCode.invalidInput
    }
    let written
    try {
      written = await writeReport(input, { outDir, html: values.html, ...(values["no-plots"] ? {} : { plots: pythonPlotRenderer() }) })
    } catch (e) {
      if (typeof (e as NodeJS.ErrnoException)?.code !== "string") throw e
      process.stderr.write(`polyquant report: cannot write the report into ${outDir}: ${writeErrorReason(outDir, "folder", e)}\n`)
      return ExitCode.invalidInput
    }
    process.stdout.write(`${written.path}\n`)
    if (written.html !== undefined) process.stdout.write(`${written.html}\n`)
    for (const p of written.plots) process.stdout.write(`  ${p.svg}\n  ${p.png}\n`)
    if (written.plotError && !values["no-plots"]) {
      process.stderr.write(`polyquant report: plots could not be drawn: ${written.plotError}\n`)
      return ExitCode.stepFailed
    }
    return ExitCode.ok
  } finally {
    store.close()
  }
}
