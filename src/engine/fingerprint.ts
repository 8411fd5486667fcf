/**
 * A model's fingerprint for the cache key. Hub ids: the id and revision (the hub's own content
 * address). Local directories and fixtures: a sha256 over the names and bytes of the files that
 * define the model (config, weights, tokenizer), memoised in the store by size and mtime so that
 * a second run hashes nothing.
 */
import { createHash } from "node:crypto"
import { closeSync, existsSync, openSync, readdirSync, readSync, statSync } from "node:fs"
import { homedir } from "node:os"
import { isAbsolute, join, resolve } from "node:path"
import type { ModelSpec } from "../kernels/common.js"
import type { RunStore } from "../store/RunStore.js"

/** Where `fixture:<name>` lives: $POLYQUANT_CACHE/fixtures/<name> (default ~/.cache/polyquant). */
export const fixtureDir = (name: string): string =>
  join(process.env["POLYQUANT_CACHE"] ?? join(homedir(), ".cache", "polyquant"), "fixtures", name)

/** Files that make up a model; run logs, READMEs and fixture training notes are not part of it. */
const MODEL_FILE = /\.(json|safetensors|bin|model|txt|tiktoken|py)$/
const EXCLUDED = new Set(["polyquant-fixture.json", "README.md"])

/** The local directory a spec names, or undefined for a hub id. */
export const localModelDir = (spec: ModelSpec, baseDir: string): string | undefined => {
  if (spec.id.startsWith("fixture:")) return fixtureDir(spec.id.slice("fixture:".length))
  const candidate = isAbsolute(spec.id) ? spec.id : resolve(baseDir, spec.id)
  if (spec.id.startsWith(".") || spec.id.startsWith("/") || spec.id.startsWith("~") || existsSync(candidate)) return candidate
  return undefined
}

const hashFile = (hash: ReturnType<typeof createHash>, path: string): void => {
  const fd = openSync(path, "r")
  try {
    const buffer = Buffer.alloc(1 << 20)
    for (;;) {
      const n = readSync(fd, buffer, 0, buffer.length, null)
      if (n <= 0) break
      hash.update(buffer.subarray(0, n))
    }
  } finally {
    closeSync(fd)
  }
}

export class ModelNotFoundError extends Error {
  readonly _tag = "ModelNotFoundError"
  constructor(readonly id: string, readonly dir: string) {
    super(`model '${id}': no model files in ${dir}`)
  }
}

/** A digest of a model directory, memoised in the store by (file, size, mtime). */
export const directoryDigest = (dir: string, id: string, store?: RunStore): string => {
  let names: string[]
  try {
    names = readdirSync(dir).filter((n) => MODEL_FILE.test(n) && !EXCLUDED.has(n)).sort()
  } catch {
    throw new ModelNotFoundError(id, dir)
  }
  if (names.length === 0) throw new ModelNotFoundError(id, dir)
  const stats = names.map((n) => {
    const s = statSync(join(dir, n))
    return [n, s.size, Math.round(s.mtimeMs)] as const
  })
  const statKey = JSON.stringify(stats)
  const memo = store?.getFingerprint(dir, statKey)
  if (memo !== undefined) return memo
  const hash = createHash("sha256")
  for (const name of names) {
    hash.update(`${name}\0`)
    hashFile(hash, join(dir, name))
    hash.update("\0")
  }
  const digest = hash.digest("hex")
  store?.putFingerprint(dir, statKey, digest)
  return digest
}

/** `id@revision` for hub models, `id@sha256:<digest>` for local ones. */
export const modelFingerprint = (spec: ModelSpec, baseDir: string, store?: RunStore): string => {
  const dir = localModelDir(spec, baseDir)
  if (dir === undefined) return `${spec.id}@${spec.revision ?? "main"}`
  return `${spec.id}@sha256:${directoryDigest(dir, spec.id, store)}`
}
