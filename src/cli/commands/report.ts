/** `polyquant report RUN [--out DIR] [--store PATH] [--no-plots]`: Markdown with tables and plots of a stored run. */
import { parseArgs } from "node:util"
import { ExitCode, parseOrReport } from "../command.js"
import { defaultReportDir, pythonPlotRenderer, reportInputFromStore, writeReport } from "../../report/index.js"
import { DEFAULT_STORE_PATH, RunStore } from "../../store/RunStore.js"

export const run = async (args: ReadonlyArray<string>): Promise<number> => {
  const parsed = parseOrReport("report", () =>
    parseArgs({
      args: [...args],
      allowPositionals: true,
      options: {
        out: { type: "string" },
        store: { type: "string", default: DEFAULT_STORE_PATH },
        "no-plots": { type: "boolean", default: false }
      }
    })
  )
  if (parsed === undefined) return ExitCode.invalidInput
  const { values, positionals } = parsed
  const runId = positionals[0]
  if (runId === undefined || positionals.length > 1) {
    process.stderr.write("polyquant report: give one run id (see `polyquant runs`)\n")
    return ExitCode.invalidInput
  }
  let store: RunStore
  try {
    store = RunStore.open(values.store)
  } catch (e) {
    process.stderr.write(`polyquant report: ${(e as Error).message}\n`)
    return ExitCode.invalidInput
  }
  try {
    let input
    try {
      input = reportInputFromStore(store, runId)
    } catch (e) {
      process.stderr.write(`polyquant report: ${(e as Error).message}\n`)
      return ExitCode.invalidInput
    }
    const outDir = values.out ?? defaultReportDir(input.run.id, store.root)
    const written = await writeReport(input, { outDir, ...(values["no-plots"] ? {} : { plots: pythonPlotRenderer() }) })
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
