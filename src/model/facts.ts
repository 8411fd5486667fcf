/**
 * Facts about a model named in a workflow, computed one way for the whole tool: where the cache
 * is, which fixtures exist and where they live, whether an id is a local folder (`~` expanded
 * like a shell does), where its config.json is, and its fingerprint. The engine computes the
 * fingerprint once and passes it to Python with the model spec (prepare.ts); Python computes the
 * same value by the same rule only when a script calls a kernel directly
 * (python/polyquant/models/spec.py `fingerprint_dir`).
 */
import { createHash } from "node:crypto"
import { closeSync, existsSync, openSync, readdirSync, readSync, statSync } from "node:fs"
import { homedir } from "node:os"
import { isAbsolute, join, resolve } from "node:path"
import type { RunStore } from "../store/RunStore.js"

/** The fixture models (DESIGN §8), trained by the `fixture` kernel. */
export const FIXTURE_NAMES = ["tiny-llama", "tiny-gpt2"] as const
export type FixtureName = (typeof FIXTURE_NAMES)[number]

export const FIXTURE_PREFIX = "fixture:"

/** `~` and `~/…` as a shell expands them; anything else unchanged. */
export const expandHome = (path: string): string => (path === "~" ? homedir() : path.startsWith("~/") ? join(homedir(), path.slice(2)) : path)

/** `$POLYQUANT_CACHE` (trimmed, `~` expanded, made absolute), else `~/.cache/polyquant`. Python reads it the same way. */
export const cacheDir = (env: NodeJS.ProcessEnv = process.env): string => {
  const named = env["POLYQUANT_CACHE"]?.trim()
  return named ? resolve(expandHome(named)) : join(homedir(), ".cache", "polyquant")
}

/** `fixture:tiny-llama` → `tiny-llama`; undefined for anything that is not a `fixture:` id. */
export const fixtureNameOf = (id: string): string | undefined => (id.startsWith(FIXTURE_PREFIX) ? id.slice(FIXTURE_PREFIX.length) : undefined)

export const isFixtureName = (name: string): name is FixtureName => (FIXTURE_NAMES as ReadonlyArray<string>).includes(name)

/** Where fixture `name` lives: $POLYQUANT_CACHE/fixtures/<name>. */
export const fixtureDir = (name: string, env: NodeJS.ProcessEnv = process.env): string => join(cacheDir(env), "fixtures", name)

/** Written like a local folder: ./, ../, /, or ~. (A bare name that is an existing folder is local too: `localModelDir`.) */
export const isLocalModelId = (id: string): boolean => /^(\.{1,2}\/|\/|~(\/|$))/.test(id)

/** The folder a model id names: a fixture's, a local one (relative to `baseDir`), or undefined for a hub id. */
export const localModelDir = (id: string, baseDir: string, env: NodeJS.ProcessEnv = process.env): string | undefined => {
  const fixture = fixtureNameOf(id)
  if (fixture !== undefined) return fixtureDir(fixture, env)
  const expanded = expandHome(id)
  const candidate = isAbsolute(expanded) ? expanded : resolve(baseDir, expanded)
  if (isLocalModelId(id) || isDirectory(candidate)) return candidate
  return undefined
}

/** Where a model's config.json is on this machine, if it is. */
export const localConfigPath = (id: string, baseDir: string, env: NodeJS.ProcessEnv = process.env): string | undefined => {
  const dir = localModelDir(id, baseDir, env)
  if (dir === undefined) return undefined
  const path = join(dir, "config.json")
  return existsSync(path) ? path : undefined
}

export const isDirectory = (path: string): boolean => {
  try {
    return statSync(path).isDirectory()
  } catch {
    return false
  }
}

// ------------------------------------------------------------------------------------------------
// The fingerprint (the model's part of the cache key, and what every result records)

/** Files that make up a model; run logs, READMEs and fixture training notes are not part of it. */
export const MODEL_FILE = /\.(json|safetensors|bin|model|txt|tiktoken|py)$/
export const NOT_MODEL_FILES: ReadonlySet<string> = new Set(["polyquant-fixture.json", "README.md"])

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

/**
 * sha256 over `name \0 bytes \0` of each model file in name order, memoised in the store by (file, size, mtime).
 * ggufFile: the one .gguf of the folder the model is (a GGUF folder often holds several quant types).
 */
export const directoryDigest = (dir: string, id: string, store?: RunStore, ggufFile?: string): string => {
  let names: string[]
  try {
    names = readdirSync(dir).filter((n) => (MODEL_FILE.test(n) && !NOT_MODEL_FILES.has(n)) || n === ggufFile).sort()
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

export class GgufFileError extends Error {
  readonly _tag = "GgufFileError"
}

/** The .gguf a `format: gguf` spec names in its folder: `file`, or the folder's only one (python/polyquant/models/llamacpp.py `gguf_file`). */
export const ggufFileOf = (dir: string, id: string, file: string | undefined): string => {
  let found: string[]
  try {
    found = readdirSync(dir).filter((n) => n.endsWith(".gguf")).sort()
  } catch {
    throw new ModelNotFoundError(id, dir)
  }
  if (file !== undefined) {
    if (!found.includes(file)) throw new GgufFileError(`model '${id}': no file '${file}' in ${dir} (its .gguf files: ${found.join(", ") || "none"})`)
    return file
  }
  if (found.length !== 1) throw new GgufFileError(`model '${id}': name the GGUF file with \`file:\`; ${dir} holds ${found.length ? `several: ${found.join(", ")}` : "none"}`)
  return found[0]!
}

type FingerprintedSpec = { readonly id: string; readonly revision?: string | undefined; readonly format?: string | undefined; readonly file?: string | undefined }

/** `id@revision` for hub models (the hub's own content address; `id/file@revision` for a GGUF), `id@sha256:<digest>` for local ones. */
export const modelFingerprint = (spec: FingerprintedSpec, baseDir: string, store?: RunStore): string => {
  const dir = localModelDir(spec.id, baseDir)
  const gguf = spec.format === "gguf"
  if (dir === undefined) return `${spec.id}${gguf && spec.file !== undefined ? `/${spec.file}` : ""}@${spec.revision ?? "main"}`
  return `${spec.id}@sha256:${directoryDigest(dir, spec.id, store, gguf ? ggufFileOf(dir, spec.id, spec.file) : undefined)}`
}
