/**
 * Corpora only Python can read: hub datasets (through `datasets`, its cache, and `HF_HUB_OFFLINE`)
 * and tabular files (parquet, jsonl, csv). One `python -m polyquant.corpus` process answers one
 * request with the documents (python/polyquant/corpus/); resolve.ts digests them like any corpus.
 * The same request in one process is answered once: a workflow names its corpus in many steps.
 */
import { spawnSync } from "node:child_process"
import { delimiter, join } from "node:path"
import { projectRoot, resolveInterpreter } from "../python/interpreter.js"

export class CorpusReadError extends Error {
  readonly _tag = "CorpusReadError"
}

export type PythonCorpusRequest =
  | {
      readonly source: "hub"
      readonly dataset: string
      readonly languages: ReadonlyArray<string>
      readonly split: string
      readonly config?: string | undefined
      readonly text_field?: string | undefined
      readonly revision?: string | undefined
    }
  | { readonly source: "files"; readonly files: Readonly<Record<string, string>>; readonly text_field?: string | undefined }

const answered = new Map<string, Record<string, string[]>>()

/** Hours: a first download of a large hub dataset may take long; a cached one answers in seconds. */
const TIMEOUT_MS = 2 * 60 * 60 * 1000

/** Documents per language for a request, from Python; a CorpusReadError says what went wrong. */
export const readWithPython = (request: PythonCorpusRequest, env: NodeJS.ProcessEnv = process.env): Record<string, string[]> => {
  const key = JSON.stringify(request)
  const known = answered.get(key)
  if (known !== undefined) return known
  const python = resolveInterpreter(env)
  if (!python.exists) throw new CorpusReadError(`reading this corpus needs the Python environment (${python.path} is missing): ${python.fix}`)
  const pythonDir = join(projectRoot(), "python")
  const res = spawnSync(python.path, ["-m", "polyquant.corpus"], {
    input: key,
    encoding: "utf8",
    maxBuffer: 1 << 30,
    timeout: TIMEOUT_MS,
    env: { ...env, PYTHONPATH: env["PYTHONPATH"] ? `${pythonDir}${delimiter}${env["PYTHONPATH"]}` : pythonDir }
  })
  const last = (res.stdout ?? "").trimEnd().split("\n").at(-1) ?? ""
  let reply: { languages?: Record<string, string[]>; error?: string }
  try {
    reply = JSON.parse(last) as typeof reply
  } catch {
    const why = res.error ? res.error.message : `exit ${res.status}: ${(res.stderr ?? "").trim().split("\n").slice(-5).join(" | ")}`
    throw new CorpusReadError(`the corpus reader (python -m polyquant.corpus) gave no answer (${why})`)
  }
  if (reply.error !== undefined) throw new CorpusReadError(reply.error)
  const languages = reply.languages ?? {}
  answered.set(key, languages)
  return languages
}
