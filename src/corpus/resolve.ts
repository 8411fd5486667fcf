/**
 * Turn a CorpusSpec into documents per language (what Python receives), with a digest that
 * enters the cache key. The UDHR and plain-text files are read here; hub datasets and parquet /
 * jsonl / csv files are read by Python's corpus reader (python.ts) and digested here all the same.
 */
import { createHash } from "node:crypto"
import { readFileSync } from "node:fs"
import { isAbsolute, resolve } from "node:path"
import { CORPUS_SPLITS, type CorpusSpec, type LoadedCorpus } from "../kernels/common.js"
import { readWithPython } from "./python.js"
import { decodeTextFile, TABULAR_FILE } from "./text.js"

export { decodeTextFile, TABULAR_FILE } from "./text.js"
import { udhrDocuments, type Split } from "./udhr.js"

export const DEFAULT_LANGUAGES: ReadonlyArray<string> = ["en", "he", "ar", "zh"]

export class CorpusFileError extends Error {
  readonly _tag = "CorpusFileError"
  constructor(readonly language: string, readonly path: string, reason: string) {
    super(`corpus file for '${language}' at ${path}: ${reason}`)
  }
}

export class CorpusSourceError extends Error {
  readonly _tag = "CorpusSourceError"
}

/** Paragraphs separated by blank lines are documents; a file without blank lines is one per line. */
export const splitDocuments = (text: string): string[] => {
  const normalized = text.replace(/\r\n?/g, "\n").trim()
  const blocks = normalized.split(/\n\s*\n/).map((b) => b.trim()).filter((b) => b.length > 0)
  return blocks.length > 1 ? blocks : normalized.split("\n").map((l) => l.trim()).filter((l) => l.length > 0)
}

const truncateBytes = (docs: string[], maxBytes: number | undefined): string[] => {
  if (maxBytes === undefined) return docs
  const out: string[] = []
  let used = 0
  for (const doc of docs) {
    const bytes = Buffer.byteLength(doc, "utf8")
    if (used + bytes <= maxBytes) {
      out.push(doc)
      used += bytes
      continue
    }
    const rest = Buffer.from(doc, "utf8").subarray(0, maxBytes - used).toString("utf8").replace(/\uFFFD+$/, "")
    if (rest.length > 0) out.push(rest)
    break
  }
  return out
}

export const corpusDigest = (source: string, split: string, languages: Record<string, string[]>): string => {
  const hash = createHash("sha256")
  hash.update(JSON.stringify({ source, split, languages: Object.keys(languages).sort().map((l) => [l, languages[l]]) }))
  return hash.digest("hex")
}

export const corpusLanguages = (spec: CorpusSpec): string[] =>
  spec.languages ? [...spec.languages] : spec.files ? Object.keys(spec.files) : [...DEFAULT_LANGUAGES]

const filePath = (file: string, baseDir: string): string => (isAbsolute(file) ? file : resolve(baseDir, file))

/** A plain-text corpus file's documents. */
const textFileDocuments = (language: string, path: string): string[] => {
  let bytes: Buffer
  try {
    bytes = readFileSync(path)
  } catch (error) {
    throw new CorpusFileError(language, path, (error as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : String(error))
  }
  const decoded = decodeTextFile(bytes)
  if ("problem" in decoded) throw new CorpusFileError(language, path, decoded.problem)
  return splitDocuments(decoded.text)
}

/** `hub:<dataset>[/<config>][@<revision>]`: what a hub corpus records as its source. */
const hubSource = (spec: CorpusSpec): string => `hub:${spec.dataset}${spec.config ? `/${spec.config}` : ""}${spec.revision ? `@${spec.revision}` : ""}`

/** Read a corpus. `baseDir` anchors relative file paths (the workflow file's folder). */
export const resolveCorpus = (spec: CorpusSpec, baseDir: string = process.cwd()): LoadedCorpus => {
  let languages: Record<string, string[]> = {}
  const wanted = corpusLanguages(spec)
  let source: string = spec.files !== undefined ? "files" : spec.source
  if (spec.source === "hub") {
    const read = readWithPython({ source: "hub", dataset: spec.dataset!, languages: wanted, split: spec.split, config: spec.config, text_field: spec.text_field, revision: spec.revision })
    languages = Object.fromEntries(wanted.map((l) => [l, read[l] ?? []]))
    source = hubSource(spec)
  } else if (spec.source === "files" || spec.files !== undefined) {
    const tabular: Record<string, string> = {}
    for (const language of wanted) {
      const file = spec.files?.[language]
      if (file === undefined) throw new CorpusFileError(language, "(none)", "no file is named for this language")
      const path = filePath(file, baseDir)
      if (TABULAR_FILE.test(path)) tabular[language] = path
      else languages[language] = textFileDocuments(language, path)
    }
    if (Object.keys(tabular).length > 0) {
      const read = readWithPython({ source: "files", files: tabular, text_field: spec.text_field })
      for (const language of Object.keys(tabular)) languages[language] = read[language] ?? []
    }
  } else {
    if (!(CORPUS_SPLITS as ReadonlyArray<string>).includes(spec.split)) throw new CorpusSourceError(`the UDHR's splits are ${CORPUS_SPLITS.join(", ")}; got '${spec.split}'`)
    for (const language of wanted) languages[language] = udhrDocuments(language, spec.split as Split)
  }
  const out: Record<string, string[]> = {}
  for (const language of wanted) {
    out[language] = truncateBytes(languages[language] ?? [], spec.max_bytes)
    if (out[language]!.length === 0) throw new CorpusFileError(language, spec.source === "hub" ? source : "(corpus)", "no text")
  }
  return { source, split: spec.split, digest: corpusDigest(source, spec.split, out), languages: out }
}
