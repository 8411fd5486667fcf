/**
 * Turn a planned Python step into what the kernel receives and what its cache key hashes:
 * corpora are read into documents (src/corpus/resolve.ts), the calibration corpus defaults to the
 * workflow corpus with `split: train`, models get fingerprints, and upstream outputs get digests.
 * The key hashes corpus digests, never documents, and nothing about scheduling.
 */
import { CalibrationSpec, CorpusSpec, ModelSpec } from "../kernels/common.js"
import type { KernelDefinition } from "../kernels/define.js"
import type { PlannedStep } from "../plan/types.js"
import { resolveCorpus } from "../corpus/resolve.js"
import type { CacheKeyParts, RunStore } from "../store/RunStore.js"
import { canonicalJson, digestOf, sha256 } from "./canonical.js"
import { modelFingerprint } from "./fingerprint.js"
import { getPath, setPath } from "./paths.js"
import type { StepOutcome } from "./state.js"

export interface PreparedStep {
  /** the JSON Python receives */
  readonly params: Record<string, unknown>
  readonly key: string
  readonly parts: CacheKeyParts
  /** model specs at the kernel's model paths (fixtures must exist before fingerprinting) */
  readonly models: ReadonlyArray<ModelSpec>
}

/** Model specs at the kernel's `models` paths, parsed (defaults applied). */
export const stepModels = (kernel: KernelDefinition, withValue: Record<string, unknown>): ModelSpec[] =>
  kernel.models.flatMap((path) => {
    const value = getPath(withValue, path)
    if (value === undefined || value === null) return []
    const parsed = ModelSpec.safeParse(value)
    return parsed.success ? [parsed.data] : []
  })

const CALIBRATION_METHODS = new Set(["gptq", "awq"])

/** Fill `…calibration.corpus` where absent: the workflow corpus with `split: train`. */
const withCalibrationDefaults = (kernel: KernelDefinition, withValue: Record<string, unknown>): Record<string, unknown> => {
  let out = withValue
  for (const path of kernel.corpora) {
    if (!path.endsWith("calibration.corpus") || getPath(out, path) !== undefined) continue
    const calibrationPath = path.slice(0, -".corpus".length)
    const quantPath = calibrationPath.includes(".") ? calibrationPath.slice(0, calibrationPath.lastIndexOf(".")) : ""
    const calibration = getPath(out, calibrationPath)
    const method = quantPath === "" ? undefined : (getPath(out, `${quantPath}.method`) as string | undefined)
    if (calibration === undefined && !CALIBRATION_METHODS.has(method ?? "")) continue
    const workflowCorpus = CorpusSpec.safeParse(getPath(out, "corpus") ?? {})
    const corpus = CorpusSpec.parse({ ...(workflowCorpus.success ? workflowCorpus.data : {}), split: "train" })
    out =
      calibration === undefined
        ? setPath(out, calibrationPath, CalibrationSpec.parse({ corpus }))
        : setPath(out, path, corpus)
  }
  return out
}

export const upstreamDigest = (outcome: StepOutcome): string =>
  `${outcome.status === "cached" ? "succeeded" : outcome.status}:${digestOf(outcome.outputs ?? null)}`

export interface PrepareInput {
  readonly step: PlannedStep
  readonly kernel: KernelDefinition
  /** the step's `with` after `${{ }}` expressions were resolved */
  readonly withValue: Record<string, unknown>
  readonly upstream: ReadonlyMap<string, StepOutcome>
  /** the workflow file's folder: relative corpus files and model dirs are resolved from it */
  readonly baseDir: string
  readonly store?: RunStore
}

export const prepareStep = (input: PrepareInput): PreparedStep => {
  const { step, kernel, baseDir, store } = input
  let params = withCalibrationDefaults(kernel, input.withValue)
  let keyParams = params
  const corpora: Record<string, string> = {}
  for (const path of kernel.corpora) {
    const value = getPath(params, path)
    if (value === undefined || value === null) continue
    const spec = CorpusSpec.parse(value)
    const resolved = resolveCorpus(spec, baseDir)
    corpora[path] = resolved.digest
    params = setPath(params, path, resolved)
    keyParams = setPath(keyParams, path, { digest: resolved.digest })
  }
  const models = stepModels(kernel, params)
  const modelParts: Record<string, string> = {}
  for (const path of kernel.models) {
    const value = getPath(params, path)
    if (value === undefined || value === null) continue
    modelParts[path] = modelFingerprint(ModelSpec.parse(value), baseDir, store)
  }
  const upstream: Record<string, string> = {}
  for (const need of step.needs) {
    const outcome = input.upstream.get(need)
    if (outcome !== undefined) upstream[need] = upstreamDigest(outcome)
  }
  const parts: CacheKeyParts = { kernel: kernel.name, version: kernel.version, params: keyParams, models: modelParts, corpora, upstream }
  return { params, key: sha256(canonicalJson(parts)), parts, models }
}
