/**
 * Reports of stored runs. The engine calls, at the end of `polyquant run`:
 *
 *   const input = reportInputFromStore(store, runId)
 *   const { path } = await writeReport(input, { outDir: defaultReportDir(runId, store.root), plots: pythonPlotRenderer() })
 */
export type { PlotFile, PlotRenderer, PlotSpec, ReportBranch, ReportInput, ReportStep } from "./types.js"
export { buildReport, defaultReportDir, writeReport, writeRunReport, type BuiltReport, type WrittenReport } from "./write.js"
export { pythonPlotRenderer, ReportPlotFailedError } from "./plots.js"
export { reportInputFromStore } from "./fromStore.js"
