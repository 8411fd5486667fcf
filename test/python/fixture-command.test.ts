/**
 * `polyquant fixture` and `ensureFixture` against a scripted runtime: what the `fixture` kernel
 * receives (the UDHR training split of the 14 languages), when it is called (only for a missing
 * fixture, or with --force), and what is printed (numbers from polyquant-fixture.json).
 */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Either } from "effect"
import { beforeEach, describe, expect, it } from "vitest"
import { describeFixture, fixtureCommand } from "../../src/cli/commands/fixture.js"
import { resolveCorpus } from "../../src/corpus/resolve.js"
import { makeDummyRuntime } from "../../src/python/DummyRuntime.js"
import { ensureFixtureEffect, FIXTURE_LANGUAGES, fixtureStatus, type FixtureName } from "../../src/python/fixtures.js"
import { PythonRuntime } from "../../src/python/PythonRuntime.js"

const meta = (name: string) => ({
  name,
  seed: 0,
  threads: 2,
  steps: 600,
  n_params: 523_456,
  initial_loss: 7.6123,
  final_loss: 3.20449,
  unigram_loss: 5.4321,
  training_seconds: 58.349
})

/** What the real kernel leaves behind: config.json and polyquant-fixture.json in the fixture dir. */
const fakeTraining = (cache: string) => (params: unknown) => {
  const { name } = params as { name: string }
  const dir = join(cache, "fixtures", name)
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, "config.json"), "{}")
  writeFileSync(join(dir, "polyquant-fixture.json"), JSON.stringify(meta(name)))
  return { result: meta(name), events: [0, 150, 300, 450, 600].map((done) => ({ type: "progress" as const, done, total: 600, unit: "steps" })) }
}

let cache: string
beforeEach(() => {
  cache = mkdtempSync(join(tmpdir(), "polyquant-cache-"))
  process.env.POLYQUANT_CACHE = cache
})

const runCommand = async (args: string[], dummy: ReturnType<typeof makeDummyRuntime>) => {
  const out: string[] = []
  const err: string[] = []
  const code = await Effect.runPromise(
    fixtureCommand(args, { out: (l) => out.push(l), err: (l) => err.push(l) }).pipe(Effect.provideService(PythonRuntime, dummy.service))
  )
  return { code, out, err }
}

describe("polyquant fixture", () => {
  it("trains each missing fixture on the UDHR training split of the 14 languages", async () => {
    const dummy = makeDummyRuntime({ fixture: fakeTraining(cache) })
    const { code, out, err } = await runCommand([], dummy)
    expect(code).toBe(0)
    expect(dummy.calls.map((c) => (c.params as { name: string }).name)).toEqual(["tiny-llama", "tiny-gpt2"])
    const params = dummy.calls[0]!.params as { corpus: { split: string; digest: string; languages: Record<string, string[]> }; force?: boolean }
    expect(Object.keys(params.corpus.languages).sort()).toEqual([...FIXTURE_LANGUAGES].sort())
    expect(params.corpus.split).toBe("train")
    const expected = resolveCorpus({ source: "udhr", languages: [...FIXTURE_LANGUAGES], split: "train" } as never)
    expect(params.corpus.digest).toBe(expected.digest)
    expect(params.corpus.languages.en).toHaveLength(26) // the preamble and articles 1-25
    expect(params.force).toBeUndefined()
    expect(dummy.calls[0]!.options.logPath).toBe(join(cache, "fixtures", "train.log"))
    // progress at most once per quarter: 0, 150, 300, 450, 600 of 600 steps
    expect(err.filter((l) => l.startsWith("tiny-llama: ") && l.includes("/600"))).toEqual([
      "tiny-llama: 0/600 steps",
      "tiny-llama: 150/600 steps",
      "tiny-llama: 300/600 steps",
      "tiny-llama: 450/600 steps",
      "tiny-llama: 600/600 steps"
    ])
    expect(out).toHaveLength(2)
    // 523456 params = 0.52M; losses to 3 decimals; 58.349 s to one decimal
    expect(out[0]).toBe(`tiny-llama trained     ${join(cache, "fixtures", "tiny-llama")}  (0.52M params, 600 steps, loss 7.612 -> 3.204 nats, unigram 5.432, 58.3 s, 2 threads)`)
  })

  it("does not call the kernel when the fixture exists, and does with --force", async () => {
    const dummy = makeDummyRuntime({ fixture: fakeTraining(cache) })
    await runCommand(["--name", "tiny-gpt2"], dummy)
    expect(dummy.calls).toHaveLength(1)
    const again = await runCommand(["--name", "fixture:tiny-gpt2"], dummy)
    expect(again.code).toBe(0)
    expect(dummy.calls).toHaveLength(1)
    expect(again.out[0]).toContain("tiny-gpt2  trained")
    await runCommand(["--name", "tiny-gpt2", "--force"], dummy)
    expect(dummy.calls).toHaveLength(2)
    expect((dummy.calls[1]!.params as { force?: boolean }).force).toBe(true)
  })

  it("rejects an unknown fixture name with the list of fixtures (exit 2)", async () => {
    const dummy = makeDummyRuntime({})
    const { code, err } = await runCommand(["--name", "tiny-bert"], dummy)
    expect(code).toBe(2)
    expect(err).toEqual(["polyquant fixture: unknown fixture model 'tiny-bert'; the fixtures are fixture:tiny-llama, fixture:tiny-gpt2"])
    expect(dummy.calls).toHaveLength(0)
  })

  it("exits 1 with the kernel's error when training fails", async () => {
    const dummy = makeDummyRuntime({ fixture: { fail: { type: "CorpusError", message: "corpus has no documents for 'sw'" } } })
    const { code, err } = await runCommand(["--name", "tiny-llama"], dummy)
    expect(code).toBe(1)
    expect(err).toContain("polyquant fixture: tiny-llama failed: CorpusError: corpus has no documents for 'sw'")
  })
})

describe("ensureFixture", () => {
  it("fails when the kernel returns without leaving a trained fixture", async () => {
    const dummy = makeDummyRuntime({ fixture: { result: {} } })
    const out = await Effect.runPromise(Effect.either(ensureFixtureEffect("fixture:tiny-llama").pipe(Effect.provideService(PythonRuntime, dummy.service))))
    expect(Either.isLeft(out) && out.left.message).toContain("holds no polyquant-fixture.json")
  })

  it("retrains a fixture trained on another corpus or with another seed", async () => {
    const dummy = makeDummyRuntime({ fixture: fakeTraining(cache) })
    const corpus = resolveCorpus({ source: "udhr", languages: [...FIXTURE_LANGUAGES], split: "train" } as never)
    const write = (extra: Record<string, unknown>) => {
      const dir = join(cache, "fixtures", "tiny-llama")
      mkdirSync(dir, { recursive: true })
      writeFileSync(join(dir, "config.json"), "{}")
      writeFileSync(join(dir, "polyquant-fixture.json"), JSON.stringify({ ...meta("tiny-llama"), corpus_digest: corpus.digest, ...extra }))
    }
    const ensure = () => Effect.runPromise(ensureFixtureEffect("tiny-llama").pipe(Effect.provideService(PythonRuntime, dummy.service)))
    write({})
    await ensure()
    expect(dummy.calls).toHaveLength(0) // current: same corpus, seed 0
    write({ corpus_digest: "0".repeat(64) })
    await ensure()
    expect(dummy.calls).toHaveLength(1)
    write({ seed: 7 })
    await ensure()
    expect(dummy.calls).toHaveLength(2)
  })

  it("reads a trained fixture's status without any runtime call", () => {
    fakeTraining(cache)({ name: "tiny-llama" })
    const status = fixtureStatus("tiny-llama" as FixtureName)
    expect(status.trained).toBe(true)
    expect(describeFixture({ ...status, meta: { steps: 10 } })).toBe(`tiny-llama trained     ${status.dir}  (10 steps)`)
  })
})
