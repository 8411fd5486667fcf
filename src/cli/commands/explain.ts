/**
 * `polyquant explain RUN STEP [--store PATH] [--json]`: the parts of a step's cache key (kernel
 * and version, resolved parameters with corpus digests, model fingerprints, upstream output
 * digests), the key itself, and whether the cache holds outputs for it.
 */
import { canonicalJson, sha256 } from "../../engine/canonical.js"
import { StepNotFoundError } from "../../store/errors.js"
import { ExitCode } from "../command.js"
import { parseFlagsOrReport } from "../flags.js"
import { findRunForCli, openStoreForCli } from "../store.js"
import { table } from "./index.js"

export const run = async (args: ReadonlyArray<string>): Promise<number> => {
  const parsed = parseFlagsOrReport(table.explain, args)
  if (parsed === undefined) return ExitCode.invalidInput
  const { values, positionals } = parsed
  const store = openStoreForCli("explain", values.store)
  if (store === undefined) return ExitCode.invalidInput
  try {
    const record = findRunForCli("explain", store, positionals[0])
    if (record === undefined) return ExitCode.invalidInput
    const stepId = positionals[1]
    const step = stepId === undefined ? undefined : store.getStep(record.id, stepId)
    if (step === undefined) {
      const known = store.getSteps(record.id).map((s) => s.stepId)
      const message = stepId === undefined ? `name a step of run ${record.id}: ${known.join(", ")}` : new StepNotFoundError({ runId: record.id, stepId, known }).message
      process.stderr.write(`polyquant explain: ${message}\n`)
      return ExitCode.invalidInput
    }
    if (step.cacheKey === null || step.keyParts === null) {
      process.stdout.write(`step ${step.stepId} (${step.status}) has no cache key: ${step.reason ?? "it never reached the point where its inputs are resolved (skipped, or a TypeScript step)"}\n`)
      return ExitCode.ok
    }
    const parts = step.keyParts
    const entry = store.cacheGet(step.cacheKey)
    const recomputed = sha256(canonicalJson(parts))
    if (values.json) {
      process.stdout.write(JSON.stringify({ runId: record.id, stepId: step.stepId, status: step.status, key: step.cacheKey, parts, cached: entry ? { runId: entry.runId, stepId: entry.stepId } : null }) + "\n")
      return ExitCode.ok
    }
    const out: string[] = []
    out.push(`step ${step.stepId} of run ${record.id}: ${step.status}`)
    out.push(`cache key  ${step.cacheKey}${recomputed === step.cacheKey ? "" : `  (its parts now hash to ${recomputed})`}`)
    out.push(`  = sha256 of the canonical JSON of:`)
    out.push(`kernel     ${parts.kernel} version ${parts.version}`)
    const models = Object.entries(parts.models)
    out.push(`models     ${models.length === 0 ? "(none)" : models.map(([p, f]) => `${p}: ${f}`).join("\n           ")}`)
    const corpora = Object.entries(parts.corpora)
    out.push(`corpora    ${corpora.length === 0 ? "(none)" : corpora.map(([p, d]) => `${p}: sha256:${d}`).join("\n           ")}`)
    const upstream = Object.entries(parts.upstream)
    out.push(`upstream   ${upstream.length === 0 ? "(none)" : upstream.map(([id, d]) => `${id}: ${d}`).join("\n           ")}`)
    const files = Object.entries(parts.files ?? {})
    if (files.length > 0) out.push(`files      ${files.map(([file, d]) => `${file}: sha256:${d}`).join("\n           ")}`)
    out.push(`params     ${JSON.stringify(JSON.parse(canonicalJson(parts.params)), null, 2).split("\n").join("\n           ")}`)
    out.push(entry ? `cache      holds outputs from run ${entry.runId} step ${entry.stepId}` : "cache      no outputs stored under this key")
    process.stdout.write(out.join("\n") + "\n")
    return ExitCode.ok
  } finally {
    store.close()
  }
}
