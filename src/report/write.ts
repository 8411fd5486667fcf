/**
 * The report of a run: Markdown with a summary, every step's tables, the branch decisions with
 * the values that decided them, and plots (SVG for reading, PNG for pasting) beside it; on request
 * also the same document as one self-contained HTML file (html.ts).
 */
import { mkdirSync, renameSync, writeFileSync } from "node:fs"
import { join, resolve } from "node:path"
import { describeBranch, formatDuration, formatHours } from "../ui/format.js"
import { renderMarkdown } from "./markdown.js"
import { bitsPlot, comparedSection, comparisonPlot, stepSection, table } from "./sections.js"
import type { Block, PlotFile, PlotRenderer, PlotSpec, ReportInput } from "./types.js"

export interface BuiltReport {
  /** the report's title: "<workflow>: run <id>" */
  readonly title: string
  /** the document, which the Markdown and the HTML are rendered from */
  readonly blocks: ReadonlyArray<Block>
  /** the Markdown, plots referenced by file name (`<name>.svg`, `<name>.png`) */
  readonly markdown: string
  readonly plots: ReadonlyArray<PlotSpec>
}

const iso = (t: number | undefined): string => (t === undefined ? "–" : new Date(t).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC"))

const heading = (level: 1 | 2 | 3, text: string): Block => ({ kind: "heading", level, text })

/** Plot names are file names: keep them unique (a `-2` suffix in order of appearance). */
const uniquePlotNames = (blocks: ReadonlyArray<Block>): Block[] => {
  const seen = new Map<string, number>()
  return blocks.map((b) => {
    if (b.kind !== "plot") return b
    const n = seen.get(b.spec.name) ?? 0
    seen.set(b.spec.name, n + 1)
    return n === 0 ? b : { kind: "plot", spec: { ...b.spec, name: `${b.spec.name}-${n + 1}` } }
  })
}

/** Build the document, its Markdown and the plot specs; pure (no files, no Python). */
export const buildReport = (input: ReportInput): BuiltReport => {
  const { run, workflow } = input
  const title = `${workflow.name}: run ${run.id}`
  const doc: Block[] = [heading(1, title)]
  const counts = new Map<string, number>()
  for (const s of input.steps) counts.set(s.status, (counts.get(s.status) ?? 0) + 1)
  doc.push({
    kind: "list",
    items: [
      [`Workflow: ${workflow.name} (`, { code: workflow.file }, ")"],
      ["Status: ", { strong: run.status }, run.platform ? ` on ${run.platform}` : ""],
      `Started: ${iso(run.startedAt)}; finished: ${iso(run.finishedAt)}${run.finishedAt !== undefined ? ` (${formatDuration(run.finishedAt - run.startedAt)})` : ""}`,
      `Steps: ${[...counts].map(([k, n]) => `${n} ${k}`).join(", ") || "none"}`
    ]
  })
  doc.push(heading(2, "Steps"))
  doc.push(
    table(
      ["step", "kernel", "status", "duration", "note"],
      input.steps.map((s) => [
        s.id,
        s.uses,
        s.status,
        s.durationMs !== undefined ? { text: formatDuration(s.durationMs), sort: s.durationMs } : "–",
        s.status === "cached" ? "cache hit" : s.error ? `${s.error.type}: ${s.error.message.split("\n")[0]}` : (s.reason ?? "")
      ]),
      [3]
    )
  )
  if (input.branches.length) {
    const outputsOf = (id: string) => input.steps.find((s) => s.id === id)?.outputs
    doc.push(heading(2, "Branch decisions"))
    doc.push({ kind: "list", items: input.branches.map((b) => [`${describeBranch(b, outputsOf)} (`, { code: b.expression }, ` was ${b.result})`]) })
  }
  if (input.budgets?.length) {
    doc.push(heading(2, "Budgets"))
    doc.push(
      table(
        ["platform", "window", "used", "left", "limit"],
        input.budgets.map((b) => [b.platform, b.window, formatHours(b.usedHours), formatHours(Math.max(0, b.limitHours - b.usedHours)), formatHours(b.limitHours)]),
        [2, 3, 4]
      )
    )
  }
  doc.push(heading(2, "Results"))
  for (const step of input.steps) {
    const section = stepSection(step, input.run.id)
    doc.push(heading(3, step.id), ...section.blocks, ...section.plots.map((spec): Block => ({ kind: "plot", spec })))
  }
  const comparison = comparisonPlot(input.steps)
  if (comparison) doc.push(heading(2, comparison.spec.title.split(":")[0]!), ...comparison.blocks, { kind: "plot", spec: comparison.spec })
  const byBits = bitsPlot(input.steps)
  if (byBits) doc.push({ kind: "plot", spec: byBits })
  if (input.compared) doc.push(...comparedSection(input.compared))
  const blocks = uniquePlotNames(doc)
  const plots = blocks.flatMap((b) => (b.kind === "plot" ? [b.spec] : []))
  return { title, blocks, markdown: renderMarkdown(blocks), plots }
}

export interface WrittenReport {
  readonly dir: string
  /** the Markdown file, `<dir>/report.md` */
  readonly path: string
  /** the self-contained HTML file, `<dir>/report.html`, when asked for */
  readonly html?: string
  readonly plots: ReadonlyArray<PlotFile>
  /** why plots are missing, when drawing failed (the Markdown is written anyway) */
  readonly plotError?: string
}

/** The default report folder of a run: `.polyquant/reports/<run>/` (beside the store). */
export const defaultReportDir = (runId: string, storeRoot = ".polyquant"): string => join(storeRoot, "reports", runId)

const writeAtomically = (path: string, text: string): void => {
  const tmp = `${path}.tmp-${process.pid}`
  writeFileSync(tmp, text)
  renameSync(tmp, path)
}

/**
 * Write `report.md` and its plots into `outDir`, and with `html` also `report.html` with the plots
 * inline (atomically for both).
 */
export const writeReport = async (input: ReportInput, options: { readonly outDir: string; readonly plots?: PlotRenderer; readonly html?: boolean }): Promise<WrittenReport> => {
  const dir = resolve(options.outDir)
  mkdirSync(dir, { recursive: true })
  const built = buildReport(input)
  let files: ReadonlyArray<PlotFile> = []
  let plotError: string | undefined
  if (built.plots.length && options.plots) {
    try {
      files = await options.plots(built.plots, dir)
    } catch (e) {
      plotError = (e as Error).message
    }
  } else if (built.plots.length) {
    plotError = "no plot renderer given"
  }
  const markdown = plotError ? built.markdown + `\n> Plots could not be drawn: ${plotError}\n` : built.markdown
  const path = join(dir, "report.md")
  writeAtomically(path, markdown)
  let html: string | undefined
  if (options.html) {
    const { readPlotFiles, readWorkflowSource, renderHtml } = await import("./html.js")
    html = join(dir, "report.html")
    const page = renderHtml({
      title: built.title,
      blocks: built.blocks,
      plots: readPlotFiles(files),
      workflow: readWorkflowSource(input.workflow.file, input.run.startedAt),
      ...(plotError !== undefined ? { plotError } : {})
    })
    writeAtomically(html, page)
  }
  return { dir, path, ...(html !== undefined ? { html } : {}), plots: files, ...(plotError !== undefined ? { plotError } : {}) }
}

/**
 * The one call for the end of `polyquant run`: read the run from the store and write its report
 * into `.polyquant/reports/<run>/` (or `outDir`), plots included. Resolves to the written report;
 * `plotError` says why plots are missing when Python could not draw them.
 */
export const writeRunReport = async (
  store: import("../store/RunStore.js").RunStore,
  runId: string,
  options: { readonly outDir?: string; readonly plots?: PlotRenderer | false } = {}
): Promise<WrittenReport> => {
  const { reportInputFromStore } = await import("./fromStore.js")
  const { pythonPlotRenderer } = await import("./plots.js")
  const input = reportInputFromStore(store, runId)
  const plots = options.plots === false ? undefined : (options.plots ?? pythonPlotRenderer())
  return writeReport(input, { outDir: options.outDir ?? defaultReportDir(input.run.id, store.root), ...(plots ? { plots } : {}) })
}
