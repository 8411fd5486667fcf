/**
 * How a corpus file reads, with no library at all: `polyquant validate` checks files with it before
 * anything runs, and the resolver (resolve.ts) reads them with it.
 */

/** Files whose rows are documents, read by Python (python/polyquant/corpus/read.py). */
export const TABULAR_FILE = /\.(parquet|jsonl|csv)$/i

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
