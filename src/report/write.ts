/**
 * The report of a run: Markdown with a summary, every step's tables, the branch decisions with
 * the values that decided them, and plots (SVG for reading, PNG for pasting) beside it.
 */
import { mkdirSync, renameSync, writeFileSync } from "node:fs"
import { join, resolve } from "node:path"
import { describeBranch, formatDuration, formatHours } from "../ui/format.js"
import { table } from "./markdown.js"
import { comparisonPlot, stepSection } from "./sections.js"
import type { PlotFile, PlotRenderer, PlotSpec, ReportInput } from "./types.js"

export interface BuiltReport {
  /** the Markdown, plots referenced by file name (`<name>.svg`, `<name>.png`) */
  readonly markdown: string
  readonly plots: ReadonlyArray<PlotSpec>
}

const iso = (t: number | undefined): string => (t === undefined ? "–" : new Date(t).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC"))

const plotLines = (specs: ReadonlyArray<PlotSpec>): string[] =>
  specs.flatMap((p) => ["", `![${p.title}](${p.name}.svg)`, "", `*${p.title}* — [SVG](${p.name}.svg) · [PNG](${p.name}.png)`])

/** Build the Markdown and the plot specs; pure (no files, no Python). */
export const buildReport = (input: ReportInput): BuiltReport => {
  const { run, workflow } = input
  const plots: PlotSpec[] = []
  const md: string[] = []
  md.push(`# ${workflow.name}: run ${run.id}`, "")
  const counts = new Map<string, number>()
  for (const s of input.steps) counts.set(s.status, (counts.get(s.status) ?? 0) + 1)
  md.push(
    `- Workflow: ${workflow.name} (\`${workflow.file}\`)`,
    `- Status: **${run.status}**${run.platform ? ` on ${run.platform}` : ""}`,
    `- Started: ${iso(run.startedAt)}; finished: ${iso(run.finishedAt)}${run.finishedAt !== undefined ? ` (${formatDuration(run.finishedAt - run.startedAt)})` : ""}`,
    `- Steps: ${[...counts].map(([k, n]) => `${n} ${k}`).join(", ") || "none"}`,
    ""
  )
  md.push("## Steps", "")
  md.push(
    ...table(
      ["step", "kernel", "status", "duration", "note"],
      input.steps.map((s) => [
        s.id,
        s.uses,
        s.status,
        s.durationMs !== undefined ? formatDuration(s.durationMs) : "–",
        s.status === "cached" ? "cache hit" : s.error ? `${s.error.type}: ${s.error.message.split("\n")[0]}` : (s.reason ?? "")
      ]),
      [3]
    ),
    ""
  )
  if (input.branches.length) {
    const outputsOf = (id: string) => input.steps.find((s) => s.id === id)?.outputs
    md.push("## Branch decisions", "")
    for (const b of input.branches) md.push(`- ${describeBranch(b, outputsOf)} (\`${b.expression}\` was ${b.result})`)
    md.push("")
  }
  if (input.budgets?.length) {
    md.push("## Budgets", "")
    md.push(
      ...table(
        ["platform", "window", "used", "left", "limit"],
        input.budgets.map((b) => [b.platform, b.window, formatHours(b.usedHours), formatHours(Math.max(0, b.limitHours - b.usedHours)), formatHours(b.limitHours)]),
        [2, 3, 4]
      ),
      ""
    )
  }
  md.push("## Results", "")
  for (const step of input.steps) {
    const section = stepSection(step)
    md.push(`### ${step.id}`, "", ...section.lines, ...plotLines(section.plots), "")
    plots.push(...section.plots)
  }
  const comparison = comparisonPlot(input.steps)
  if (comparison) {
    md.push(`## ${comparison.spec.title.split(":")[0]}`, "", ...comparison.lines, ...plotLines([comparison.spec]), "")
    plots.push(comparison.spec)
  }
  // plot names are file names: keep them unique
  const seen = new Map<string, number>()
  const unique = plots.map((p) => {
    const n = seen.get(p.name) ?? 0
    seen.set(p.name, n + 1)
    return n === 0 ? p : { ...p, name: `${p.name}-${n + 1}` }
  })
  let markdown = md.join("\n").replace(/\n{3,}/g, "\n\n")
  if (unique.some((p, i) => p.name !== plots[i]!.name)) {
    // rare (two steps whose ids slug alike): rename in the Markdown in order of appearance
    let i = 0
    markdown = markdown.replace(/\]\(([^)]+)\.svg\)[\s\S]*?\[PNG\]\(\1\.png\)/g, (m, name: string) => {
      const p = unique[i++]
      return p ? m.split(`${name}.`).join(`${p.name}.`) : m
    })
  }
  return { markdown: markdown.trimEnd() + "\n", plots: unique }
}

export interface WrittenReport {
  readonly dir: string
  /** the Markdown file, `<dir>/report.md` */
  readonly path: string
  readonly plots: ReadonlyArray<PlotFile>
  /** why plots are missing, when drawing failed (the Markdown is written anyway) */
  readonly plotError?: string
}

/** The default report folder of a run: `.polyquant/reports/<run>/` (beside the store). */
export const defaultReportDir = (runId: string, storeRoot = ".polyquant"): string => join(storeRoot, "reports", runId)

/** Write `report.md` and its plots into `outDir` (atomically for the Markdown). */
export const writeReport = async (input: ReportInput, options: { readonly outDir: string; readonly plots?: PlotRenderer }): Promise<WrittenReport> => {
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
  const tmp = `${path}.tmp-${process.pid}`
  writeFileSync(tmp, markdown)
  renameSync(tmp, path)
  return { dir, path, plots: files, ...(plotError !== undefined ? { plotError } : {}) }
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
