/** `polyquant report RUN [--out DIR] [--store PATH] [--no-plots]`: Markdown with tables and plots of a stored run. */
import { ExitCode } from "../command.js"
import { parseFlagsOrReport } from "../flags.js"
import { writeErrorReason, writeProblem } from "../paths.js"
import { openStoreForCli } from "../store.js"
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
    const outDir = values.out ?? defaultReportDir(input.run.id, store.root)
    const problem = writeProblem(outDir, "folder")
    if (problem !== undefined) {
      process.stderr.write(`polyquant report: cannot write the report into ${outDir}: ${problem}\n`)
      return ExitCode.invalidInput
    }
    let written
    try {
      written = await writeReport(input, { outDir, ...(values["no-plots"] ? {} : { plots: pythonPlotRenderer() }) })
    } catch (e) {
      if (typeof (e as NodeJS.ErrnoException)?.code !== "string") throw e
      process.stderr.write(`polyquant report: cannot write the report into ${outDir}: ${writeErrorReason(outDir, "folder", e)}\n`)
      return ExitCode.invalidInput
    }
    process.stdout.write(`${written.path}\n`)
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
