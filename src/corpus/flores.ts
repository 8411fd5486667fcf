/**
 * FLORES+'s language table, read from the one copy Python also reads
 * (python/polyquant/corpus/flores_plus.json), so that `polyquant validate` names a language FLORES+
 * lacks, or a split it does not have, before anything runs.
 */
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"

export const FLORES_DATASET = "openlanguagedata/flores_plus"
/** polyquant's splits and FLORES+'s own (python/polyquant/corpus/flores.py `splits_of`). */
export const FLORES_SPLITS: ReadonlyArray<string> = ["train", "heldout", "all", "dev", "devtest"]

let codes: Readonly<Record<string, string>> | undefined

const table = (): Readonly<Record<string, string>> =>
  (codes ??= (JSON.parse(readFileSync(fileURLToPath(new URL("../../python/polyquant/corpus/flores_plus.json", import.meta.url)), "utf8")) as { codes: Record<string, string> }).codes)

/** The FLORES+ config of a language (`he` → heb_Hebr; a FLORES+ code as is), or undefined. */
export const floresConfigOf = (language: string): string | undefined => table()[language] ?? (/^[a-z]{3}_[A-Z][a-z]{3}$/.test(language) ? language : undefined)

/** The ISO 639-1 codes the table knows, for messages. */
export const floresLanguages = (): string[] => Object.keys(table()).filter((k) => k.length === 2).sort()
