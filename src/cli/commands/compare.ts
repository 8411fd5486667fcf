/**
 * `polyquant compare RUN RUN... [--by step|kernel] [--step ID]... [--metric NAME]... [--json]
 * [--store PATH]`: stored runs side by side, from the tidy rows `export` writes — each run's value
 * per step × model × language × metric, the delta of each later run against the first (absolute
 * and relative), and whether their CIs overlap; then the rows that are not in every run. Text: the
 * runs, what was matched with what, one table per step; `--json`: the comparison document
 * (its shape is in src/results/compare.ts). Bad input is one line and exit 2; the store is only read.
 */
import { existsSync } from "node:fs"
import { resolve } from "node:path"
import {
  compareRuns,
  comparisonTables,
  matchingSentence,
  MATCH_BY,
  runsTable,
  stepsTable,
  unmatchedLines,
  type CellTable,
  type CompareOptions,
  type Comparison,
  type MatchBy
} from "../../results/compare.js"
import { comparedRunFromStore } from "../../results/fromStore.js"
import { DEFAULT_STORE_PATH, type RunRecord, type RunStore } from "../../store/RunStore.js"
import { ExitCode } from "../command.js"
import { parseFlagsOrReport } from "../flags.js"
import { findRunForCli, openStoreForCli } from "../store.js"
import { table } from "./index.js"

/** Columns padded to their widest cell, numbers right-aligned, two spaces between. */
export const alignedTable = (t: CellTable, indent = ""): string[] => {
  const all = [t.header, ...t.rows]
  const widths = t.header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? "").length)))
  return all.map((r) => indent + r.map((c, i) => (t.right.includes(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join("  ").trimEnd())
}

/** A line cut to `width` columns with "…" (long tables are cut on a terminal, not wrapped). */
const cut = (line: string, width: number | undefined): string => (width === undefined || line.length <= width ? line : `${line.slice(0, Math.max(1, width - 1))}…`)

/** The text `compare` prints: the runs, the matching, a table per step, rows not in every run, the rules. */
export const compareText = (c: Comparison, width?: number): string => {
  const out: string[] = []
  out.push(`Comparing ${c.runs.length} runs. ${matchingSentence(c)} Deltas are each later run against A.`)
  if (c.filters.steps.length || c.filters.metrics.length) {
    out.push(`only ${[c.filters.steps.length ? `steps ${c.filters.steps.join(", ")}` : "", c.filters.metrics.length ? `metrics ${c.filters.metrics.join(", ")}` : ""].filter(Boolean).join("; ")}`)
  }
  out.push("", ...alignedTable(runsTable(c), "  "))
  out.push("", c.by === "kernel" ? "steps matched by kernel, in order:" : "steps matched by id:", ...alignedTable(stepsTable(c), "  "))
  for (const t of comparisonTables(c)) out.push("", t.caption, ...alignedTable(t.table, "  "))
  const unmatched = unmatchedLines(c)
  out.push("", unmatched.length === 0 ? "every row is in every run." : `rows not in every run (${c.unmatched.length}):`, ...unmatched.map((l) => `  ${l}`))
  out.push("", `${c.rules.delta}; ${c.rules.relative}.`, c.rules.ciOverlap)
  return out.map((l) => cut(l, width)).join("\n") + "\n"
}

/**
 * Resolve `ids` (ids or unique prefixes) and compare the runs, for `compare` and `report
 * --compare`; prints the problem as `polyquant <command>: …` and returns undefined when there is one.
 */
export const comparisonForCli = (command: string, store: RunStore, ids: ReadonlyArray<string>, options: CompareOptions): Comparison | undefined => {
  const records: RunRecord[] = []
  for (const id of ids) {
    const record = findRunForCli(command, store, id)
    if (record === undefined) return undefined
    const before = records.findIndex((r) => r.id === record.id)
    if (before >= 0) {
      const twice = ids[before] === id ? `run ${record.id} is named twice` : `'${ids[before]}' and '${id}' are both run ${record.id}`
      process.stderr.write(`polyquant ${command}: ${twice}; name each run once\n`)
      return undefined
    }
    records.push(record)
  }
  const result = compareRuns(records.map((r) => comparedRunFromStore(store, r)), options)
  if (!result.ok) {
    process.stderr.write(`polyquant ${command}: ${result.problem}\n`)
    return undefined
  }
  return result.comparison
}

/** `--by` / `--compare-by`: one of step, kernel; prints the problem otherwise. */
export const matchByForCli = (command: string, option: string, value: string): MatchBy | undefined => {
  if ((MATCH_BY as ReadonlyArray<string>).includes(value)) return value as MatchBy
  process.stderr.write(`polyquant ${command}: --${option} ${value} is not one of ${MATCH_BY.join(", ")}\n`)
  return undefined
}

export const run = async (args: ReadonlyArray<string>): Promise<number> => {
  const parsed = parseFlagsOrReport(table.compare, args)
  if (parsed === undefined) return ExitCode.invalidInput
  const { values, positionals } = parsed
  if (positionals.length < 2) {
    process.stderr.write(`polyquant compare: name at least two runs to compare, got ${positionals.length} (usage: ${table.compare.usage})\n`)
    return ExitCode.invalidInput
  }
  const by = matchByForCli("compare", "by", values.by)
  if (by === undefined) return ExitCode.invalidInput
  // a read: a store that is not there is named, not created
  const path = values.store ?? DEFAULT_STORE_PATH
  if (!existsSync(path)) {
    process.stderr.write(`polyquant compare: no run store at ${resolve(path)} (name one with --store PATH)\n`)
    return ExitCode.invalidInput
  }
  const store = openStoreForCli("compare", path)
  if (store === undefined) return ExitCode.invalidInput
  try {
    const comparison = comparisonForCli("compare", store, positionals, { by, steps: values.step, metrics: values.metric })
    if (comparison === undefined) return ExitCode.invalidInput
    const width = process.stdout.isTTY ? process.stdout.columns : undefined
    process.stdout.write(values.json ? JSON.stringify(comparison) + "\n" : compareText(comparison, width))
    return ExitCode.ok
  } finally {
    store.close()
  }
}
