/**
 * `polyquant fixture [--force] [--name tiny-llama|tiny-gpt2]`: train the fixture models on the UDHR
 * training split (14 languages) with the Python `fixture` kernel, unless they are cached already.
 * `POLYQUANT_CACHE` moves the cache (default ~/.cache/polyquant).
 */
import { Effect, Either } from "effect"
import { ExitCode } from "../command.js"
import { parseFlagsOrReport } from "../flags.js"
import { table } from "./index.js"
import { describeKernelError } from "../../python/errors.js"
import {
  ensureFixtureEffect,
  FIXTURE_NAMES,
  fixtureStatus,
  isCurrent,
  parseFixtureName,
  type FixtureName,
  type FixtureStatus
} from "../../python/fixtures.js"
import { PythonRuntime, PythonRuntimeLive, type WorkerEvent } from "../../python/PythonRuntime.js"

export interface FixtureCommandOutput {
  readonly out: (line: string) => void
  readonly err: (line: string) => void
}

/** One line about a fixture: where it is and, from its polyquant-fixture.json, how it was trained. */
export const describeFixture = (status: FixtureStatus): string => {
  if (!status.trained) return `${status.name.padEnd(10)} not trained (${status.dir})`
  const meta = status.meta ?? {}
  const num = (key: string): number | undefined => (typeof meta[key] === "number" ? (meta[key] as number) : undefined)
  const parts: string[] = []
  const params = num("n_params")
  if (params !== undefined) parts.push(`${(params / 1e6).toFixed(2)}M params`)
  const steps = num("steps")
  if (steps !== undefined) parts.push(`${steps} steps`)
  const initial = num("initial_loss")
  const final = num("final_loss")
  if (final !== undefined) parts.push(`loss ${initial !== undefined ? `${initial.toFixed(3)} -> ` : ""}${final.toFixed(3)} nats`)
  const unigram = num("unigram_loss")
  if (unigram !== undefined) parts.push(`unigram ${unigram.toFixed(3)}`)
  const seconds = num("training_seconds")
  if (seconds !== undefined) parts.push(`${seconds.toFixed(1)} s`)
  const threads = num("threads")
  if (threads !== undefined) parts.push(`${threads} threads`)
  return `${status.name.padEnd(10)} trained     ${status.dir}${parts.length ? `  (${parts.join(", ")})` : ""}`
}

/** Progress at most at each quarter (plain output: logs and CI stay short). */
const progressPrinter = (name: string, err: (line: string) => void): ((event: WorkerEvent) => void) => {
  let shown = -1
  return (event) => {
    if (event.type !== "progress" || event.total <= 0) return
    const quarter = Math.floor((4 * event.done) / event.total)
    if (quarter <= shown) return
    shown = quarter
    err(`${name}: ${event.done}/${event.total} ${event.unit}${event.message ? ` ${event.message}` : ""}`)
  }
}

export const fixtureCommand = (
  args: ReadonlyArray<string>,
  io: FixtureCommandOutput
): Effect.Effect<number, never, PythonRuntime> =>
  Effect.gen(function* () {
    const flags = parseFlagsOrReport(table.fixture, args, io.err)
    if (flags === undefined) return ExitCode.invalidInput
    const { values } = flags
    let names: FixtureName[] = [...FIXTURE_NAMES]
    if (values.name !== undefined) {
      const parsed = yield* Effect.either(parseFixtureName(values.name))
      if (Either.isLeft(parsed)) {
        io.err(`polyquant fixture: ${parsed.left.message}`)
        return ExitCode.invalidInput
      }
      names = [parsed.right]
    }
    let failed = false
    for (const name of names) {
      const before = fixtureStatus(name)
      if (!values.force && isCurrent(before)) {
        io.out(describeFixture(before))
        continue
      }
      io.err(`${name}: ${before.trained ? "trained with other settings or another corpus: training again" : "training"} on the UDHR training split (14 languages)...`)
      const result = yield* Effect.either(ensureFixtureEffect(name, { force: values.force, onEvent: progressPrinter(name, io.err) }))
      if (Either.isLeft(result)) {
        failed = true
        const error = result.left
        if (error._tag === "FixtureUnknownError") io.err(`polyquant fixture: ${error.message}`)
        else {
          const d = describeKernelError(error)
          io.err(`polyquant fixture: ${name} failed: ${d.type}: ${d.message}${d.logTail ? `\n${d.logTail}` : ""}`)
        }
        continue
      }
      io.out(describeFixture(result.right))
    }
    return failed ? ExitCode.stepFailed : ExitCode.ok
  })

export const run = async (args: ReadonlyArray<string>): Promise<number> =>
  Effect.runPromise(
    fixtureCommand(args, { out: (l) => process.stdout.write(`${l}\n`), err: (l) => process.stderr.write(`${l}\n`) }).pipe(
      Effect.provide(PythonRuntimeLive())
    )
  )
