/**
 * Checks of a step's parsed `with` that its zod schema cannot make, all without Python:
 * UDHR languages exist, corpus files exist, a local model directory exists, and quantization
 * parameters fit the model when its config.json is local (group_size divides every linear's
 * in_features; protected or overridden layer indices are within the layer count), and a kernel that
 * quantizes or looks inside blocks is refused a local model whose weights hold no decoder blocks.
 * Values are recognised by their schema (CorpusSpec, ModelSpec, QuantConfig, Protect, Override,
 * Language from src/kernels/common.ts), wherever a kernel puts them.
 */
import { closeSync, existsSync, openSync, readSync } from "node:fs"
import { isAbsolute, resolve } from "node:path"
import type { z } from "zod"
import { CalibrationSpec, CorpusSpec, Language, ModelSpec, Override, Protect, QuantConfig } from "../kernels/common.js"
import type { KernelDefinition } from "../kernels/define.js"
import { benchmarkProblems } from "../corpus/benchmarks.js"
import { FLORES_DATASET, FLORES_SPLITS, floresConfigOf, floresLanguages } from "../corpus/flores.js"
import { decodeTextFile, TABULAR_FILE } from "../corpus/text.js"
import { isUdhrLanguage } from "../corpus/udhr.js"
import { describeArchitecture } from "../plan/architecture.js"
import { localArchitecture, readGeometry, type ModelGeometry } from "../plan/vram.js"
import { FIXTURE_NAMES, fixtureNameOf, isDirectory, isFixtureName, isLocalModelId, localModelDir } from "../model/facts.js"
import { arrayElement, kindOf, objectShape, recordValue, tupleItems, unwrap } from "./zodwalk.js"

export interface StaticProblem {
  /** path inside `with` */
  readonly path: ReadonlyArray<string | number>
  readonly message: string
}


const isMap = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v)

const same = (a: z.ZodType, b: z.ZodType): boolean => unwrap(a) === unwrap(b)

interface Found {
  readonly path: (string | number)[]
  readonly value: unknown
  readonly kind: "corpus" | "model" | "quant" | "protect" | "override" | "language" | "calibration"
}

/** Walk a value beside its schema and collect the values the checks care about. */
const collect = (value: unknown, schema: z.ZodType | undefined, path: (string | number)[], found: Found[]): void => {
  if (schema === undefined || value === undefined || value === null) return
  if (same(schema, CorpusSpec)) return void found.push({ path, value, kind: "corpus" })
  if (same(schema, ModelSpec)) return void found.push({ path, value, kind: "model" })
  if (same(schema, Language)) return void found.push({ path, value, kind: "language" })
  if (same(schema, QuantConfig)) found.push({ path, value, kind: "quant" })
  if (same(schema, Protect)) found.push({ path, value, kind: "protect" })
  if (same(schema, Override)) found.push({ path, value, kind: "override" })
  if (same(schema, CalibrationSpec)) found.push({ path, value, kind: "calibration" })
  const kind = kindOf(schema)
  if (kind === "object" && isMap(value)) {
    const shape = objectShape(schema) ?? {}
    for (const [k, v] of Object.entries(value)) collect(v, shape[k], [...path, k], found)
  } else if (kind === "array" && Array.isArray(value)) value.forEach((v, i) => collect(v, arrayElement(schema), [...path, i], found))
  else if (kind === "tuple" && Array.isArray(value)) value.forEach((v, i) => collect(v, tupleItems(schema)?.[i], [...path, i], found))
  else if (kind === "record" && isMap(value)) for (const [k, v] of Object.entries(value)) collect(v, recordValue(schema), [...path, k], found)
}

/** Kernels that quantize or look inside blocks; perplexity, tokenizer-stats and task-eval run on any model. */
const STRUCTURE_KERNELS = new Set(["layer-sweep", "attention-heads", "layer-importance", "quantize"])
const needsStructure = (kernel: string, found: ReadonlyArray<Found>): boolean => STRUCTURE_KERNELS.has(kernel) || found.some((f) => f.kind === "quant")

const layerRange = (layers: number): string => `${-layers}..${layers - 1}`

/** Why a corpus file cannot be read as text (its first MiB is looked at), or undefined. */
const corpusFileProblem = (path: string): string | undefined => {
  try {
    const fd = openSync(path, "r")
    try {
      const buffer = Buffer.alloc(1 << 20)
      const n = readSync(fd, buffer, 0, buffer.length, 0)
      // a longer file is judged by its first MiB up to the last line end, so that no character is cut
      const end = n < buffer.length ? n : buffer.lastIndexOf(0x0a, n - 1) + 1
      const decoded = decodeTextFile(buffer.subarray(0, end > 0 ? end : n))
      return "problem" in decoded ? decoded.problem : undefined
    } finally {
      closeSync(fd)
    }
  } catch (error) {
    return `cannot be read: ${(error as Error).message}`
  }
}

export const staticChecks = (
  parsed: Record<string, unknown>,
  kernel: Pick<KernelDefinition, "name" | "with" | "models">,
  options: { readonly baseDir: string; readonly env: NodeJS.ProcessEnv }
): StaticProblem[] => {
  const problems: StaticProblem[] = []
  const found: Found[] = []
  collect(parsed, kernel.with, [], found)
  const corpora = found.filter((f) => f.kind === "corpus")
  const allUdhr = corpora.every((c) => (c.value as CorpusSpec).source === "udhr" && (c.value as CorpusSpec).files === undefined)

  for (const c of corpora) {
    const spec = c.value as CorpusSpec
    if (spec.source === "udhr" && spec.files === undefined) {
      ;(spec.languages ?? []).forEach((l, i) => {
        if (!isUdhrLanguage(l)) problems.push({ path: [...c.path, "languages", i], message: `unknown UDHR language '${l}' (e.g. en, he, ar, zh, de, ru, hi, ja; or a udhr declaration code such as cmn_hant)` })
      })
    }
    if (spec.source === "files" && spec.files === undefined) problems.push({ path: [...c.path, "files"], message: "source: files needs `files` (language → path of a text file)" })
    for (const [language, file] of Object.entries(spec.files ?? {})) {
      const path = isAbsolute(file) ? file : resolve(options.baseDir, file)
      if (!existsSync(path)) problems.push({ path: [...c.path, "files", language], message: `corpus file not found: ${file} (paths are relative to the workflow's folder)` })
      else if (!TABULAR_FILE.test(path)) {
        const problem = corpusFileProblem(path)
        if (problem !== undefined) problems.push({ path: [...c.path, "files", language], message: `corpus file ${file} ${problem}` })
      }
    }
    for (const l of spec.languages ?? []) {
      if (spec.files !== undefined && spec.files[l] === undefined) problems.push({ path: [...c.path, "languages"], message: `language '${l}' has no file in corpus.files (files: ${Object.keys(spec.files).join(", ")})` })
    }
    if (spec.source === "hub" && spec.dataset === undefined) problems.push({ path: [...c.path, "dataset"], message: "source: hub needs `dataset` (a hub dataset id)" })
    if (spec.source === "hub" && spec.dataset === FLORES_DATASET) {
      ;(spec.languages ?? []).forEach((l, i) => {
        if (floresConfigOf(l) === undefined)
          problems.push({ path: [...c.path, "languages", i], message: `language '${l}' has no FLORES+ config in polyquant's table (it knows ${floresLanguages().join(", ")}); name the FLORES+ config itself, e.g. heb_Hebr` })
      })
      if (!FLORES_SPLITS.includes(spec.split)) problems.push({ path: [...c.path, "split"], message: `FLORES+ has the splits dev and devtest (polyquant's train and heldout); got ${spec.split}` })
    }
  }
  if (kernel.name === "task-eval") {
    // the benchmark's own languages (python/polyquant/eval/benchmarks.json): named before anything runs
    const data = (parsed["data"] ?? {}) as { source?: string; dataset?: string }
    if (data.source === "hub" && typeof data.dataset === "string") {
      const languages = Array.isArray(parsed["languages"]) ? (parsed["languages"] as string[]) : ["en", "he", "ar", "zh"]
      for (const message of benchmarkProblems(data.dataset, languages, typeof parsed["shots"] === "number" ? parsed["shots"] : 0))
        problems.push({ path: Array.isArray(parsed["languages"]) && message.includes(" has no '") ? ["languages"] : ["data", "dataset"], message })
    }
  }
  if (allUdhr) {
    for (const l of found.filter((f) => f.kind === "language" && !corpora.some((c) => f.path.join(".").startsWith(c.path.join(".") + ".")))) {
      if (!isUdhrLanguage(String(l.value))) problems.push({ path: l.path, message: `unknown UDHR language '${String(l.value)}'` })
    }
  }

  // the model this step loads: at the kernel's first models path
  let geometry: ModelGeometry | undefined
  let modelId: string | undefined
  for (const m of found.filter((f) => f.kind === "model")) {
    const id = (m.value as ModelSpec).id
    const fixture = fixtureNameOf(id)
    if (fixture !== undefined && !isFixtureName(fixture)) {
      problems.push({ path: [...m.path, "id"], message: `unknown fixture '${id}' (fixtures: ${FIXTURE_NAMES.map((f) => `fixture:${f}`).join(", ")})` })
      continue
    }
    if (isLocalModelId(id) && !isDirectory(localModelDir(id, options.baseDir) ?? id)) {
      problems.push({ path: [...m.path, "id"], message: `model directory not found: ${id} (paths are relative to the workflow's folder)` })
      continue
    }
    if (modelId === undefined && kernel.models.length > 0 && m.path.join(".") === kernel.models[0]) {
      modelId = id
      geometry = readGeometry(id, options.baseDir, options.env)
      const packed = String((m.value as ModelSpec).format ?? "hf") !== "hf"
      const arch = packed ? undefined : localArchitecture(id, options.baseDir, options.env)
      if (arch !== undefined && arch.blocks === undefined && needsStructure(kernel.name, found)) {
        problems.push({ path: [...m.path, "id"], message: `${describeArchitecture(id, arch)} (kernel ${kernel.name})` })
      }
    }
  }
  // module patterns: valid regular expressions always; matching some module when the weights are local
  const arch = modelId === undefined ? undefined : localArchitecture(modelId, options.baseDir, options.env)
  const checkPattern = (pattern: string | undefined, path: (string | number)[], layers?: ReadonlyArray<number>): void => {
    if (pattern === undefined) return
    let regex: RegExp
    try {
      regex = new RegExp(pattern)
    } catch (error) {
      problems.push({ path, message: `'${pattern}' is not a valid regular expression: ${(error as Error).message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /, "")}` })
      return
    }
    if (arch === undefined || arch.modules.length === 0) return
    const inLayers = (name: string): boolean => layers === undefined || arch.blocks === undefined || layers.some((i) => name.startsWith(`${arch.blocks}.${i < 0 ? arch.layers + i : i}.`))
    if (!arch.modules.some((m) => regex.test(m) && inLayers(m))) {
      const examples = arch.modules.filter((m) => arch.blocks === undefined || m.startsWith(`${arch.blocks}.0.`)).slice(0, 3)
      problems.push({ path, message: `'${pattern}' matches no module of ${modelId}${layers !== undefined ? " in those layers" : ""} (modules are named like ${examples.join(", ")}); a pattern that matches nothing would quantize everything at the defaults` })
    }
  }
  for (const f of found) {
    if (f.kind === "protect") ((f.value as Protect).modules ?? []).forEach((p, k) => checkPattern(p, [...f.path, "modules", k]))
    if (f.kind === "override") checkPattern((f.value as Override).modules, [...f.path, "modules"], (f.value as Override).layers)
  }

  if (geometry === undefined || modelId === undefined) return problems

  const L = geometry.layers
  const inFeatures = geometry.inFeatures
  const checkGroup = (g: number | undefined, path: (string | number)[]): void => {
    if (g === undefined || g <= 0 || inFeatures.length === 0) return
    const bad = inFeatures.filter((f) => f % g !== 0)
    if (bad.length > 0) {
      problems.push({ path, message: `group_size ${g} does not divide in_features ${bad.join(", ")} of ${modelId} (its linears have in_features ${inFeatures.join(", ")}); use a divisor or -1 (per channel)` })
    }
  }
  const checkLayers = (layers: ReadonlyArray<number> | undefined, path: (string | number)[]): void => {
    if (L === undefined || layers === undefined) return
    layers.forEach((i, k) => {
      if (i >= L || i < -L) problems.push({ path: [...path, k], message: `layer ${i} is out of range: ${modelId} has ${L} layers (valid: ${layerRange(L)})` })
    })
  }
  for (const f of found) {
    // method gguf: llama.cpp's block sizes fit themselves to each row (its fallback), group_size does not apply
    if (f.kind === "quant" && (f.value as QuantConfig).method !== "gguf") checkGroup((f.value as QuantConfig).group_size, [...f.path, "group_size"])
    if (f.kind === "protect") checkLayers((f.value as Protect).layers, [...f.path, "layers"])
    if (f.kind === "override") {
      const o = f.value as Override
      checkGroup(o.group_size, [...f.path, "group_size"])
      checkLayers(o.layers, [...f.path, "layers"])
    }
  }
  return problems
}
