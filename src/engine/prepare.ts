/**
 * Turn a planned Python step into what the kernel receives and what its cache key hashes:
 * corpora are read into documents (src/corpus/resolve.ts), the calibration corpus defaults to the
 * workflow corpus with `split: train`, models get fingerprints (src/model/facts.ts, passed to Python
 * with the spec), and upstream outputs get digests;
 * local model dirs and data files (kernel `files` paths) named relative to the workflow become
 * absolute, and data files enter the key by content. The key hashes corpus digests, never
 * documents, and nothing about scheduling.
 */
import { createHash } from "node:crypto"
import { existsSync, readFileSync } from "node:fs"
import { isAbsolute, resolve } from "node:path"
import { CalibrationSpec, CorpusSpec, ModelSpec } from "../kernels/common.js"
import type { KernelDefinition } from "../kernels/define.js"
import type { PlannedStep } from "../plan/types.js"
import { resolveCorpus } from "../corpus/resolve.js"
import type { CacheKeyParts, RunStore } from "../store/RunStore.js"
import { canonicalJson, digestOf, sha256 } from "./canonical.js"
import { fixtureNameOf, localModelDir, modelFingerprint } from "../model/facts.js"
import { getPath, setPath } from "./paths.js"
import type { StepOutcome } from "./state.js"
import { resolvedDevice, resolvedDtype, type WorkerFacts } from "./workerFacts.js"

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
  /** the worker's libraries and CUDA: the key then holds resolved devices and dtypes and the library versions */
  readonly worker?: WorkerFacts
}

const absoluteFrom = (baseDir: string, path: string): string => (isAbsolute(path) ? path : resolve(baseDir, path))

/** sha256 of a data file's bytes; a missing file is left for the kernel to report by name. */
const fileDigest = (path: string): string => {
  try {
    return createHash("sha256").update(readFileSync(path)).digest("hex")
  } catch {
    return "missing"
  }
}

/** The dotted path of a string that still holds `${{`, if any: an expression must never reach a kernel as text. */
const unevaluatedAt = (value: unknown, path: string = "with"): string | undefined => {
  if (typeof value === "string") return value.includes("${{") ? path : undefined
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = unevaluatedAt(value[i], `${path}.${i}`)
      if (found !== undefined) return found
    }
    return undefined
  }
  if (value !== null && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) {
      const found = k.includes("${{") ? `${path}.${k}` : unevaluatedAt(v, `${path}.${k}`)
      if (found !== undefined) return found
    }
  }
  return undefined
}

export const prepareStep = (input: PrepareInput): PreparedStep => {
  const { step, kernel, baseDir, store, worker } = input
  const left = unevaluatedAt(input.withValue)
  if (left !== undefined) throw new Error(`${left} still holds a \${{ }} expression after evaluation; the kernel would read it as text`)
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
    const spec = ModelSpec.parse(value)
    const fingerprint = modelFingerprint(spec, baseDir, store)
    modelParts[path] = fingerprint
    // computed once, here: Python records it instead of hashing the weights again (not part of the key)
    params = setPath(params, `${path}.fingerprint`, fingerprint)
    // a local model dir is named relative to the workflow; the worker's own folder may differ
    const dir = fixtureNameOf(spec.id) !== undefined ? undefined : localModelDir(spec.id, baseDir)
    if (dir !== undefined && dir !== spec.id && existsSync(dir)) params = setPath(params, `${path}.id`, dir)
    if (worker !== undefined) {
      // the key holds what `auto` became on this worker: float32 CPU results are not float16 CUDA results
      const device = resolvedDevice(spec.device, worker)
      keyParams = setPath(keyParams, path, { ...spec, device, dtype: resolvedDtype(spec.dtype, device) })
    }
  }
  const files: Record<string, string> = {}
  for (const path of kernel.files ?? []) {
    const value = getPath(params, path)
    if (typeof value === "string") {
      const file = absoluteFrom(baseDir, value)
      files[file] = fileDigest(file)
      params = setPath(params, path, file)
    } else if (value !== null && typeof value === "object") {
      const absolute = Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, typeof v === "string" ? absoluteFrom(baseDir, v) : v]))
      for (const file of Object.values(absolute)) if (typeof file === "string") files[file] = fileDigest(file)
      params = setPath(params, path, absolute)
    }
  }
  const upstream: Record<string, string> = {}
  for (const need of step.needs) {
    const outcome = input.upstream.get(need)
    if (outcome !== undefined) upstream[need] = upstreamDigest(outcome)
  }
  const parts: CacheKeyParts = {
    kernel: kernel.name,
    version: kernel.version,
    params: keyParams,
    models: modelParts,
    corpora,
    upstream,
    // only when there are any, so that keys of steps without data files stay as they were
    ...(Object.keys(files).length > 0 ? { files } : {}),
    ...(worker !== undefined ? { libraries: worker.libraries } : {})
  }
  return { params, key: sha256(canonicalJson(parts)), parts, models }
}
