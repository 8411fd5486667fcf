/**
 * `polyquant compile RUN STEP --to gptqmodel|llm-compressor|autoawq|llama.cpp [--out FILE]`: an
 * `allocate` step's plan in a quantizer's own syntax — GPTQModel's quantize_config.json with
 * `dynamic`, an llm-compressor recipe, AutoAWQ's quant_config, a llama.cpp tensor-type file. The
 * step wrote all four into its outputs (`compiled`, python/polyquant/compile/); this command
 * picks one, prints or writes it, and prints the tool's caveats (`notes`) on stderr. The store
 * is only read; bad input is one line and exit 2.
 */
import { existsSync, mkdirSync, statSync, writeFileSync } from "node:fs"
import { join, resolve } from "node:path"
import { COMPILE_TARGETS } from "../../kernels/allocate.js"
import { ExitCode } from "../command.js"
import { parseFlagsOrReport } from "../flags.js"
import { findRunForCli, openStoreForCli } from "../store.js"
import { table } from "./index.js"

type Target = (typeof COMPILE_TARGETS)[number]
interface Compiled {
  readonly file: string
  readonly text: string
  readonly notes: ReadonlyArray<string>
}

const fail = (message: string): number => {
  process.stderr.write(`polyquant compile: ${message}\n`)
  return ExitCode.invalidInput
}

/** `--out`: a folder (existing, or written with a trailing slash) takes the tool's own file name. */
const outPath = (out: string, file: string): string => {
  const isFolder = out.endsWith("/") || (existsSync(out) && statSync(out).isDirectory())
  if (!isFolder) return out
  mkdirSync(out, { recursive: true })
  return join(out, file)
}

export const run = async (args: ReadonlyArray<string>): Promise<number> => {
  const parsed = parseFlagsOrReport(table.compile, args)
  if (parsed === undefined) return ExitCode.invalidInput
  const { values, positionals } = parsed
  const to = values.to
  if (to === undefined) return fail(`name the quantizer with --to ${COMPILE_TARGETS.join("|")}`)
  if (!(COMPILE_TARGETS as ReadonlyArray<string>).includes(to)) return fail(`--to ${to} is not one of ${COMPILE_TARGETS.join(", ")}`)
  if (positionals[1] === undefined) return fail(`name the allocate step (usage: ${table.compile.usage})`)
  const store = openStoreForCli("compile", values.store)
  if (store === undefined) return ExitCode.invalidInput
  try {
    const record = findRunForCli("compile", store, positionals[0])
    if (record === undefined) return ExitCode.invalidInput
    const stepId = positionals[1]
    const steps = store.getSteps(record.id)
    const step = steps.find((s) => s.stepId === stepId)
    if (step === undefined) return fail(`run ${record.id} has no step ${stepId} (its steps: ${steps.map((s) => s.stepId).join(", ")})`)
    if (step.uses !== "allocate") {
      const allocating = steps.filter((s) => s.uses === "allocate").map((s) => s.stepId)
      return fail(`step ${stepId} uses ${step.uses}; compile reads an allocate step's plan${allocating.length ? ` (this run's: ${allocating.join(", ")})` : ""}`)
    }
    if (step.status !== "succeeded") return fail(`step ${stepId} of run ${record.id} is ${step.status}: it has no plan to compile`)
    const compiled = (step.outputs as { compiled?: Record<Target, Compiled> } | null)?.compiled?.[to as Target]
    if (compiled === undefined) return fail(`step ${stepId}'s outputs hold no ${to} plan`)
    const met = (step.outputs as { allocation?: { met?: boolean; reason?: string | null } }).allocation
    if (met?.met === false) process.stderr.write(`polyquant compile: note: step ${stepId}'s allocation did not meet its bound (${met.reason ?? "see the report"})\n`)
    for (const note of compiled.notes) process.stderr.write(`${to}: ${note}\n`)
    if (values.out === undefined) {
      process.stdout.write(compiled.text)
      return ExitCode.ok
    }
    const path = outPath(String(values.out), compiled.file)
    try {
      writeFileSync(path, compiled.text)
    } catch (e) {
      return fail(`cannot write ${resolve(path)}: ${(e as Error).message}`)
    }
    process.stderr.write(`polyquant compile: ${to} plan of ${record.id}/${stepId} written to ${path}\n`)
    return ExitCode.ok
  } finally {
    store.close()
  }
}
