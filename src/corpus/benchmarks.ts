/**
 * The benchmarks task-eval reads, from the one table Python also reads
 * (python/polyquant/eval/benchmarks.json), so that `polyquant validate` names a language a
 * benchmark lacks, or shots it cannot give, before anything runs.
 */
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { floresConfigOf } from "./flores.js"

interface BenchmarkRow {
  readonly configs: Readonly<Record<string, string>> | "flores"
  readonly test_split: string
  readonly dev_split: string | null
  readonly layout: string
}

let rows: Readonly<Record<string, BenchmarkRow>> | undefined

const table = (): Readonly<Record<string, BenchmarkRow>> =>
  (rows ??= (JSON.parse(readFileSync(fileURLToPath(new URL("../../python/polyquant/eval/benchmarks.json", import.meta.url)), "utf8")) as { benchmarks: Record<string, BenchmarkRow> }).benchmarks)

/** A benchmark's row by either of its names (Cohere's datasets moved from CohereForAI/ to CohereLabs/). */
const rowOf = (name: string): BenchmarkRow | undefined => table()[name] ?? table()[name.replace(/^CohereLabs\//, "CohereForAI/")]

/** What is wrong with running `languages` with `shots` on a benchmark, or [] when nothing is. */
export const benchmarkProblems = (name: string, languages: ReadonlyArray<string>, shots: number): string[] => {
  const row = rowOf(name)
  if (row === undefined) return []
  const has = (l: string): boolean => (row.configs === "flores" ? floresConfigOf(l) !== undefined : l in row.configs)
  const missing = languages.filter((l) => !has(l))
  const problems: string[] = []
  if (missing.length > 0) {
    const known = row.configs === "flores" ? "the FLORES+ languages" : Object.keys(row.configs).join(", ")
    problems.push(`${name} has no ${missing.map((l) => `'${l}'`).join(", ")} (it has ${known})${name === "openai/MMMLU" ? "; Global-MMLU (CohereForAI/Global-MMLU) has en and he" : ""}`)
  }
  if (shots > 0 && row.dev_split === null) problems.push(`${name} has no dev split to take shots from: shots 0 only`)
  return problems
}
