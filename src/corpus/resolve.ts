/**
 * Turn a CorpusSpec into documents per language (what Python receives), with a digest that
 * enters the cache key. The UDHR and local text files are read here; Python never reads them.
 */
import { createHash } from "node:crypto"
import { readFileSync } from "node:fs"
import { isAbsolute, resolve } from "node:path"
import type { CorpusSpec, LoadedCorpus } from "../kernels/common.js"
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

/**
 * A corpus file's text: UTF-8 (a BOM is dropped); undefined with the reason when it is not text
 * (UTF-16, a NUL byte, invalid UTF-8), so that a binary file is never read as a language.
 */
export const decodeTextFile = (bytes: Buffer): { text: string } | { problem: string } => {
  if ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff)) return { problem: "is UTF-16 text; corpus files are UTF-8" }
  const nul = bytes.indexOf(0)
  if (nul >= 0) return { problem: `holds a NUL byte at offset ${nul}: not a text file (corpus files are UTF-8 text)` }
  try {
    return { text: new TextDecoder("utf-8", { fatal: true }).decode(bytes) }
  } catch {
    return { problem: "is not valid UTF-8: not a text file (corpus files are UTF-8 text)" }
  }
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

/** Read a corpus. `baseDir` anchors relative file paths (the workflow file's folder). */
export const resolveCorpus = (spec: CorpusSpec, baseDir: string = process.cwd()): LoadedCorpus => {
  const languages: Record<string, string[]> = {}
  const split = spec.split as Split
  if (spec.source === "hub") {
    throw new CorpusSourceError(`hub corpus '${spec.dataset ?? "?"}' cannot be read offline; name local files instead`)
  }
  for (const language of corpusLanguages(spec)) {
    if (spec.source === "files" || spec.files !== undefined) {
      const file = spec.files?.[language]
      if (file === undefined) throw new CorpusFileError(language, "(none)", "no file is named for this language")
      const path = isAbsolute(file) ? file : resolve(baseDir, file)
      let bytes: Buffer
      try {
        bytes = readFileSync(path)
      } catch (error) {
        throw new CorpusFileError(language, path, (error as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : String(error))
      }
      const decoded = decodeTextFile(bytes)
      if ("problem" in decoded) throw new CorpusFileError(language, path, decoded.problem)
      const text = decoded.text
      languages[language] = truncateBytes(splitDocuments(text), spec.max_bytes)
    } else {
      languages[language] = truncateBytes(udhrDocuments(language, split), spec.max_bytes)
    }
    if ((languages[language] ?? []).length === 0) throw new CorpusFileError(language, "(corpus)", "no text")
  }
  const source = spec.files !== undefined ? "files" : spec.source
  return { source, split: spec.split, digest: corpusDigest(source, spec.split, languages), languages }
}
