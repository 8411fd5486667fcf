/**
 * Model residency (DESIGN §4): steps of one run that use the same model share one loaded copy in
 * the one worker. Two perplexity steps on fixture:tiny-llama load it once (the worker log says
 * "loading resident model" once), and a third step on another dtype loads a second copy.
 */
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { Effect, Layer } from "effect"
import { describe, expect, it } from "vitest"
import { skipWithoutPython } from "../pythonPresent.js"
import { runPlan } from "../../src/engine/Engine.js"
import { perplexity } from "../../src/kernels/perplexity.js"
import { ensureFixtureEffect } from "../../src/python/fixtures.js"
import { PythonRuntimeLive } from "../../src/python/PythonRuntime.js"
import { RunStore } from "../../src/store/RunStore.js"
import { makeStoreService, Store } from "../../src/store/Store.js"
import { makePlan, step, tmp } from "./helpers.js"


const ppl = (id: string, language: string, dtype = "auto") =>
  step(id, "perplexity", {
    with: perplexity.with.parse({ model: { id: "fixture:tiny-llama", dtype }, corpus: { source: "udhr", languages: [language], split: "heldout", max_bytes: 600 } }) as Record<string, unknown>
  })

describe.skipIf(skipWithoutPython)("model residency", () => {
  it("loads a model once for two steps that share it", async () => {
    const dir = tmp()
    const db = RunStore.open(join(dir, ".polyquant", "pq.db"))
    const plan = makePlan(dir, [ppl("en", "en"), ppl("he", "he"), ppl("en_bf16", "en", "bfloat16")])
    const layer = Layer.merge(PythonRuntimeLive({ logPath: join(dir, "worker.log"), threads: 1 }), Layer.succeed(Store, makeStoreService(db)))
    const result = await Effect.runPromise(
      runPlan(plan, { ensureModel: (spec, onEvent) => (spec.id.startsWith("fixture:") ? ensureFixtureEffect(spec.id.slice(8), { onEvent }) : Effect.void) }).pipe(Effect.provide(layer))
    )
    expect(Object.values(result.steps).map((s) => s.status)).toEqual(["succeeded", "succeeded", "succeeded"])
    const log = readFileSync(join(db.runDir(result.runId), "worker.log"), "utf8")
    const loads = log.split("\n").filter((l) => l.includes("loading resident model"))
    expect(loads.length).toBe(2) // float32 once for en and he, bfloat16 once
    expect(loads.filter((l) => l.includes("bfloat16")).length).toBe(1)
    // the same resident copy served both languages: same model record
    const en = result.steps["en"]?.outputs as { model: { fingerprint: string } }
    const he = result.steps["he"]?.outputs as { model: { fingerprint: string } }
    expect(en.model.fingerprint).toBe(he.model.fingerprint)
    db.close()
  })
})
