/**
 * The fixture models (DESIGN §8): `fixture:tiny-llama` and `fixture:tiny-gpt2`, trained on the
 * UDHR training split of 14 languages by the Python `fixture` kernel and cached under
 * `$POLYQUANT_CACHE/fixtures/<name>` (default ~/.cache/polyquant). `ensureFixture` is what the
 * engine calls before a step that names a `fixture:*` model, and what `polyquant fixture` runs.
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { Cause, Data, Effect, Exit } from "effect"
import { CorpusSpec, type LoadedCorpus } from "../kernels/common.js"
import { resolveCorpus } from "../corpus/resolve.js"
import { KernelFailedError, type KernelCallError } from "./errors.js"
import { cacheDir, FIXTURE_NAMES, fixtureDir as fixtureFolder, type FixtureName } from "../model/facts.js"
import { PythonRuntime, PythonRuntimeLive, type WorkerEvent } from "./PythonRuntime.js"

// the fixtures' names and folders are model facts (src/model/facts.ts)
export { FIXTURE_NAMES, type FixtureName } from "../model/facts.js"

/** The languages the fixtures are trained on (ISO 639-1; src/corpus maps them to UDHR codes). */
export const FIXTURE_LANGUAGES: ReadonlyArray<string> = ["en", "de", "fr", "es", "ru", "he", "ar", "hi", "zh", "ja", "ko", "sw", "tr", "fi"]

/** Written last by the trainer (python/polyquant/models/fixture.py): its presence means "trained". */
export const FIXTURE_META = "polyquant-fixture.json"

export class FixtureUnknownError extends Data.TaggedError("FixtureUnknownError")<{ readonly name: string; readonly message: string }> {}

/** `tiny-llama` or `fixture:tiny-llama` → `tiny-llama`; anything else is a FixtureUnknownError. */
export const parseFixtureName = (name: string): Effect.Effect<FixtureName, FixtureUnknownError> => {
  const bare = name.startsWith("fixture:") ? name.slice("fixture:".length) : name
  return (FIXTURE_NAMES as ReadonlyArray<string>).includes(bare)
    ? Effect.succeed(bare as FixtureName)
    : Effect.fail(new FixtureUnknownError({ name, message: `unknown fixture model '${name}'; the fixtures are ${FIXTURE_NAMES.map((n) => `fixture:${n}`).join(", ")}` }))
}

export const fixtureDir = (name: FixtureName, env: NodeJS.ProcessEnv = process.env): string => fixtureFolder(name, env)

export interface FixtureStatus {
  readonly name: FixtureName
  readonly dir: string
  readonly trained: boolean
  /** polyquant-fixture.json: seed, threads, steps, losses, corpus digest, seconds, ... */
  readonly meta?: Record<string, unknown>
}

export const fixtureStatus = (name: FixtureName, env: NodeJS.ProcessEnv = process.env): FixtureStatus => {
  const dir = fixtureDir(name, env)
  const metaPath = join(dir, FIXTURE_META)
  if (!existsSync(metaPath) || !existsSync(join(dir, "config.json"))) return { name, dir, trained: false }
  try {
    return { name, dir, trained: true, meta: JSON.parse(readFileSync(metaPath, "utf8")) as Record<string, unknown> }
  } catch {
    return { name, dir, trained: false } // unreadable metadata: train again
  }
}

/**
 * Whether a trained fixture matches what would be trained now: the same corpus (digest), seed and,
 * when asked for, step count. The trainer applies the same rule (plus its own config), so a
 * stale fixture is retrained rather than silently used.
 */
export const isCurrent = (status: FixtureStatus, options: { readonly seed?: number; readonly steps?: number } = {}): boolean => {
  if (!status.trained || status.meta === undefined) return false
  const meta = status.meta
  if (meta.corpus_digest !== undefined && meta.corpus_digest !== fixtureCorpus().digest) return false
  if ((meta.seed ?? 0) !== (options.seed ?? 0)) return false
  return options.steps === undefined || meta.steps === options.steps
}

/** The training corpus: the UDHR preamble and articles 1-25 in the 14 fixture languages. */
export const fixtureCorpus = (): LoadedCorpus => resolveCorpus(CorpusSpec.parse({ source: "udhr", languages: [...FIXTURE_LANGUAGES], split: "train" }))

export interface EnsureFixtureOptions {
  /** train again even if the fixture exists */
  readonly force?: boolean
  readonly seed?: number
  readonly steps?: number
  /** the worker log (default: <cache>/fixtures/train.log) */
  readonly logPath?: string
  readonly onEvent?: (event: WorkerEvent) => void
}

/** The fixture, trained first if it is missing (or if `force`), in the worker of the PythonRuntime in context. */
export const ensureFixtureEffect = (
  name: string,
  options: EnsureFixtureOptions = {}
): Effect.Effect<FixtureStatus, KernelCallError | FixtureUnknownError, PythonRuntime> =>
  Effect.gen(function* () {
    const fixture = yield* parseFixtureName(name)
    const before = fixtureStatus(fixture)
    if (options.force !== true && isCurrent(before, options)) return before
    const runtime = yield* PythonRuntime
    const root = join(cacheDir(), "fixtures")
    mkdirSync(root, { recursive: true })
    yield* runtime.call(
      "fixture",
      {
        name: fixture,
        corpus: fixtureCorpus(),
        ...(options.seed !== undefined ? { seed: options.seed } : {}),
        ...(options.steps !== undefined ? { steps: options.steps } : {}),
        ...(options.force ? { force: true } : {})
      },
      {
        runId: "fixture",
        stepId: `fixture-${fixture}`,
        logPath: options.logPath ?? join(root, "train.log"),
        eventsPath: join(root, `.${fixture}.events.jsonl`),
        ...(options.onEvent ? { onEvent: options.onEvent } : {})
      }
    )
    const after = fixtureStatus(fixture)
    if (!after.trained) {
      return yield* new KernelFailedError({
        kernel: "fixture",
        type: "ModelError",
        message: `the fixture kernel returned, but ${after.dir} holds no ${FIXTURE_META} and config.json`,
        traceback: "",
        retryable: false,
        polyquant: true
      })
    }
    return after
  }).pipe(Effect.withSpan("ensureFixture", { attributes: { name } }))

/**
 * The same as a Promise, for callers outside an Effect context (the engine's `ensureModel`):
 * returns at once when the fixture exists; otherwise trains it with a runtime of its own, which
 * shares this process's worker (and stops it afterwards only if it had to start it).
 */
export const ensureFixture = async (name: string, options: EnsureFixtureOptions = {}): Promise<FixtureStatus> => {
  const bare = name.startsWith("fixture:") ? name.slice("fixture:".length) : name
  if ((FIXTURE_NAMES as ReadonlyArray<string>).includes(bare) && options.force !== true) {
    const status = fixtureStatus(bare as FixtureName)
    if (isCurrent(status, options)) return status
  }
  const program = ensureFixtureEffect(name, options).pipe(Effect.provide(PythonRuntimeLive()))
  const exit = await Effect.runPromiseExit(program)
  if (Exit.isSuccess(exit)) return exit.value
  throw Cause.squash(exit.cause)
}
