import { spawnSync } from "node:child_process"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { z } from "zod"
import { defineKernel } from "../../src/kernels/define.js"
import { findKernel } from "../../src/kernels/catalog.js"
import { KernelFailedError, KernelTimeoutError } from "../../src/python/errors.js"
import { thisProcess } from "../../src/store/liveness.js"
import { RunStore } from "../../src/store/RunStore.js"
import Database from "better-sqlite3"
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { makePlan, run, scriptedRuntime, step, tmp } from "./helpers.js"
import { workerFactsFrom } from "../../src/engine/workerFacts.js"

const echo = () => (params: Record<string, unknown>) => Effect.succeed({ echo: params, pid: 7 })
const fail = (type: string, retryable = false) => () =>
  Effect.fail(new KernelFailedError({ kernel: "test-fail", type, message: `${type} happened`, traceback: "", retryable, polyquant: true }))

/** a kernel with a batch size, to see the out-of-memory policy halve it */
const batched = defineKernel({
  name: "test-batched",
  version: "1",
  description: "test",
  with: z.strictObject({ batch_size: z.number().int() }),
  outputs: z.strictObject({ batch_size: z.number().int() }),
  models: [],
  corpora: [],
  checkpoints: false,
  gpu: true
})
const kernels = (name: string) => (name === "test-batched" ? batched : findKernel(name))

const warnings = (events: ReadonlyArray<{ type: string }>) =>
  events.filter((e): e is { type: "log"; level: string; message: string } => e.type === "log" && (e as { level?: string }).level === "warn").map((e) => e.message)

const open = () => {
  const dir = tmp()
  return { dir, db: RunStore.open(join(dir, ".polyquant", "pq.db")) }
}

describe("Engine: statuses, skips and branches", () => {
  it("skips what depends on a failure, runs what does not, and fails the run", async () => {
    const { dir, db } = open()
    const rt = scriptedRuntime({ "test-echo": echo(), "test-fail": fail("PolyquantError") })
    const plan = makePlan(dir, [
      step("a", "test-echo", { with: { value: 1 } }),
      step("b", "test-fail", { needs: ["a"] }),
      step("c", "test-echo", { needs: ["b"] }),
      step("d", "test-echo", { needs: ["a"], with: { value: 4 } })
    ])
    const { result, events } = await run(db, plan, rt.layer)
    expect(Object.fromEntries(Object.entries(result.steps).map(([k, v]) => [k, v.status]))).toEqual({ a: "succeeded", b: "failed", c: "skipped", d: "succeeded" })
    expect(result.status).toBe("failed")
    expect(db.getStep(result.runId, "c")?.reason).toBe("needs b (failed) did not succeed")
    expect(db.getStep(result.runId, "b")?.error).toMatchObject({ type: "PolyquantError", message: "PolyquantError happened" })
    expect(db.getStep(result.runId, "d")?.outputs).toEqual({ echo: { value: 4 }, pid: 7 })
    expect(db.getRun(result.runId)?.status).toBe("failed")
    expect(events[0]?.type).toBe("run-started")
    expect(events.at(-1)).toMatchObject({ type: "run-finished", status: "failed" })
    // the store's event log is the same stream
    expect(db.events(result.runId).map((e) => e.type)).toEqual(events.map((e) => e.type))
  })

  it("takes the branch the measured value decides, and records the values", async () => {
    const { dir, db } = open()
    const rt = scriptedRuntime({ "test-echo": echo() })
    const plan = makePlan(dir, [
      step("measure", "test-echo", { with: { value: 1.42 } }),
      step("low", "test-echo", { needs: ["measure"], condition: { expression: "steps.measure.outputs.echo.value < 2.0", references: ["steps.measure.outputs.echo.value"] } }),
      step("high", "test-echo", { needs: ["measure"], condition: { expression: "steps.measure.outputs.echo.value >= 2.0", references: ["steps.measure.outputs.echo.value"] } })
    ])
    const { result, events } = await run(db, plan, rt.layer)
    expect(result.steps["low"]?.status).toBe("succeeded")
    expect(result.steps["high"]?.status).toBe("skipped")
    const branches = db.branches(result.runId).map((b) => [b.stepId, b.result, b.values]).sort((x, y) => String(x[0]).localeCompare(String(y[0])))
    expect(branches).toEqual([
      ["high", false, { "steps.measure.outputs.echo.value": 1.42 }],
      ["low", true, { "steps.measure.outputs.echo.value": 1.42 }]
    ])
    expect(events.filter((e) => e.type === "branch-decided").length).toBe(2)
    expect(db.getStep(result.runId, "high")?.reason).toBe("condition `steps.measure.outputs.echo.value >= 2.0` is false")
  })

  it("runs a step after a failed need when its `if` reads the status, and honours continue_on_error", async () => {
    const { dir, db } = open()
    const rt = scriptedRuntime({ "test-echo": echo(), "test-fail": fail("PolyquantError") })
    const plan = makePlan(dir, [
      step("flaky", "test-fail"),
      step("cleanup", "test-echo", { needs: ["flaky"], condition: { expression: 'steps.flaky.status == "failed"', references: ["steps.flaky.status"] } }),
      step("tolerated", "test-fail", { continueOnError: true }),
      step("after", "test-echo", { needs: ["tolerated"] })
    ])
    const { result } = await run(db, plan, rt.layer)
    expect(result.steps["cleanup"]?.status).toBe("succeeded")
    expect(db.branches(result.runId)).toMatchObject([{ stepId: "cleanup", result: true, values: { "steps.flaky.status": "failed" } }])
    expect(result.steps["tolerated"]?.status).toBe("failed")
    expect(result.steps["after"]?.status).toBe("succeeded")
    expect(result.status).toBe("failed") // flaky has no continue_on_error
    const onlyTolerated = makePlan(dir, [step("tolerated", "test-fail", { continueOnError: true }), step("after", "test-echo", { needs: ["tolerated"] })])
    expect((await run(db, onlyTolerated, rt.layer)).result.status).toBe("succeeded")
  })

  it("resolves ${{ }} expressions in `with` from earlier outputs", async () => {
    const { dir, db } = open()
    const rt = scriptedRuntime({ "test-echo": echo() })
    const plan = makePlan(dir, [
      step("a", "test-echo", { with: { values: [3, 5] } }),
      step("b", "test-echo", { needs: ["a"], with: { values: "${{ steps.a.outputs.echo.values }}", value: "${{ steps.a.outputs.echo.values[1] + 1.0 }}" },
        expressions: [{ path: "values", expression: "steps.a.outputs.echo.values" }, { path: "value", expression: "steps.a.outputs.echo.values[1] + 1.0" }] })
    ])
    const { result } = await run(db, plan, rt.layer)
    expect(result.steps["b"]?.error).toBeUndefined()
    expect(rt.calls[1]?.params).toEqual({ values: [3, 5], value: 6 })
    expect(result.steps["b"]?.status).toBe("succeeded")
  })
})

describe("Engine: retries, timeouts, output checks", () => {
  it("retries out of memory with half the batch size, under the outOfMemory policy", async () => {
    const { dir, db } = open()
    const rt = scriptedRuntime({
      "test-batched": (params, _o, n) =>
        n < 3 ? Effect.fail(new KernelFailedError({ kernel: "test-batched", type: "OutOfMemoryError", message: "CUDA out of memory", traceback: "", retryable: true, polyquant: true })) : Effect.succeed({ batch_size: params["batch_size"] })
    })
    const plan = makePlan(dir, [step("s", "test-batched", { with: { batch_size: 16 }, retry: { max: 2, on: ["OutOfMemoryError"] } })])
    const { result, events } = await run(db, plan, rt.layer, { kernels })
    expect(rt.calls.map((c) => c.params["batch_size"])).toEqual([16, 8, 4])
    expect(result.steps["s"]).toMatchObject({ status: "succeeded", outputs: { batch_size: 4 } })
    expect(db.attempts(result.runId, "s").map((a) => a.status)).toEqual(["failed", "failed", "succeeded"])
    expect(events.filter((e) => e.type === "step-started").map((e) => (e as { attempt: number }).attempt)).toEqual([1, 2, 3])
    expect(events.some((e) => e.type === "log" && e.message.includes("policy outOfMemory"))).toBe(true)
  })

  it("gives up after retry.max and does not retry errors `on` does not list", async () => {
    const { dir, db } = open()
    const rt = scriptedRuntime({ "test-fail": fail("OutOfMemoryError", true) })
    const plan = makePlan(dir, [
      step("limited", "test-fail", { retry: { max: 1, on: ["OutOfMemoryError"] } }),
      step("unlisted", "test-fail", { retry: { max: 3, on: ["ValueError"] } })
    ])
    const { result } = await run(db, plan, rt.layer)
    expect(db.attempts(result.runId, "limited").length).toBe(2)
    expect(db.attempts(result.runId, "unlisted").length).toBe(1)
    expect(result.steps["limited"]?.status).toBe("failed")
  })

  it("passes the step timeout to the runtime and fails the step with KernelTimeoutError", async () => {
    const { dir, db } = open()
    const rt = scriptedRuntime({
      "test-sleep": (_p, o) => Effect.fail(new KernelTimeoutError({ kernel: "test-sleep", timeoutMs: o.timeoutMs ?? -1, message: `ran past its timeout of ${o.timeoutMs} ms` }))
    })
    const plan = makePlan(dir, [step("s", "test-sleep", { timeoutSeconds: 2 })])
    const { result } = await run(db, plan, rt.layer)
    expect(rt.calls[0]?.options.timeoutMs).toBe(2000)
    expect(result.steps["s"]?.error).toMatchObject({ type: "KernelTimeoutError", message: "ran past its timeout of 2000 ms" })
  })

  it("times out a TypeScript step and runs independent local steps concurrently", async () => {
    const { dir, db } = open()
    const rt = scriptedRuntime({})
    const plan = makePlan(dir, [step("slow", "compare", { timeoutSeconds: 0.2 }), step("x", "compare"), step("y", "compare")])
    const running = new Set<string>()
    let overlap = 0
    const local = {
      slow: () => Effect.sleep("5 seconds").pipe(Effect.as({})),
      x: () => Effect.sync(() => running.add("x")).pipe(Effect.zipRight(Effect.sleep("100 millis")), Effect.tap(() => Effect.sync(() => { if (running.has("y")) overlap += 1 })), Effect.as({ ok: 1 })),
      y: () => Effect.sync(() => running.add("y")).pipe(Effect.zipRight(Effect.sleep("100 millis")), Effect.tap(() => Effect.sync(() => { if (running.has("x")) overlap += 1 })), Effect.as({ ok: 2 }))
    }
    const t0 = Date.now()
    const { result } = await run(db, plan, rt.layer, { local })
    expect(Date.now() - t0).toBeLessThan(3000)
    expect(result.steps["slow"]?.error?.message).toBe("step slow ran past its timeout of 0.2 s")
    expect(result.steps["x"]).toMatchObject({ status: "succeeded", outputs: { ok: 1 } })
    expect(overlap).toBe(2)
  })

  it("fails a step whose outputs do not match the kernel's schema, naming the path", async () => {
    const { dir, db } = open()
    const rt = scriptedRuntime({ "test-count": () => Effect.succeed({ values: [0, 1, "4"], resumed_from: 0 }) })
    const plan = makePlan(dir, [step("c", "test-count")])
    const { result } = await run(db, plan, rt.layer)
    expect(result.steps["c"]?.status).toBe("failed")
    expect(result.steps["c"]?.error?.type).toBe("StepOutputInvalidError")
    expect(result.steps["c"]?.error?.message).toMatch(/^step c: kernel test-count returned outputs that do not match its schema: outputs\.values\.2: /)
  })
})

describe("Engine: cache", () => {
  it("reuses every step on a second run, reruns with force, and misses when a parameter changes", async () => {
    const { dir, db } = open()
    const rt = scriptedRuntime({ "test-echo": echo() })
    const steps = [step("a", "test-echo", { with: { value: 1 } }), step("b", "test-echo", { needs: ["a"], with: { value: 2 } })]
    const first = await run(db, makePlan(dir, steps), rt.layer)
    expect(rt.calls.length).toBe(2)
    const second = await run(db, makePlan(dir, steps), rt.layer)
    expect(rt.calls.length).toBe(2)
    expect(Object.values(second.result.steps).map((s) => s.status)).toEqual(["cached", "cached"])
    expect(second.result.steps["b"]?.outputs).toEqual(first.result.steps["b"]?.outputs)
    expect(db.getStep(second.result.runId, "a")?.reason).toBe(`outputs of run ${first.result.runId} step a`)
    expect(db.getStep(second.result.runId, "a")?.cacheKey).toBe(db.getStep(first.result.runId, "a")?.cacheKey)
    const forced = await run(db, makePlan(dir, steps), rt.layer, { force: true })
    expect(rt.calls.length).toBe(4)
    expect(Object.values(forced.result.steps).map((s) => s.status)).toEqual(["succeeded", "succeeded"])
    // a changed upstream parameter changes a's key and, through a's outputs, b's key
    const changed = await run(db, makePlan(dir, [step("a", "test-echo", { with: { value: 9 } }), steps[1]!]), rt.layer)
    expect(Object.values(changed.result.steps).map((s) => s.status)).toEqual(["succeeded", "succeeded"])
    const partsB = db.getStep(changed.result.runId, "b")?.keyParts
    expect(partsB?.upstream["a"]).toMatch(/^succeeded:[0-9a-f]{64}$/)
    expect(partsB).toMatchObject({ kernel: "test-echo", version: "1", params: { value: 2 } })
  })

  it("asks the worker's environment once per run, and misses the cache when torch's version changed", async () => {
    const { dir, db } = open()
    let torch = "2.9.0"
    const environment = () => Effect.succeed({ python: "3.11.7", executable: "python", packages: { torch, transformers: "5.18.0" }, cuda: null, cpu_threads: 2 })
    const rt = scriptedRuntime({ "test-echo": echo(), environment })
    const steps = [step("a", "test-echo", { with: { value: 1 } }), step("b", "test-echo", { with: { value: 2 } })]
    const options = { workerFacts: workerFactsFrom }
    const first = await run(db, makePlan(dir, steps), rt.layer, options)
    expect(rt.calls.filter((c) => c.kernel === "environment").length).toBe(1)
    expect(db.getStep(first.result.runId, "a")?.keyParts?.libraries).toEqual({ torch: "2.9.0", transformers: "5.18.0" })
    const same = await run(db, makePlan(dir, steps), rt.layer, options)
    expect(Object.values(same.result.steps).map((s) => s.status)).toEqual(["cached", "cached"])
    torch = "2.10.0"
    const upgraded = await run(db, makePlan(dir, steps), rt.layer, options)
    expect(Object.values(upgraded.result.steps).map((s) => s.status)).toEqual(["succeeded", "succeeded"])
  })

  it("fails a step, naming why, when the worker's environment cannot be read for its key", async () => {
    const { dir, db } = open()
    const environment = () => Effect.fail(new KernelFailedError({ kernel: "environment", type: "ImportError", message: "no module named torch", traceback: "", retryable: false, polyquant: false }))
    const rt = scriptedRuntime({ "test-echo": echo(), environment })
    const { result } = await run(db, makePlan(dir, [step("a", "test-echo", { with: { value: 1 } })]), rt.layer, { workerFacts: workerFactsFrom })
    expect(result.steps["a"]?.status).toBe("failed")
    expect(result.steps["a"]?.error?.message).toMatch(/^step a: the worker's library versions and devices \(for the cache key\) could not be read: /)
    expect(rt.calls.map((c) => c.kernel)).toEqual(["environment"])
  })

  it("keys a corpus by its digest, not its documents, and hands Python the documents", async () => {
    const { dir, db } = open()
    const rt = scriptedRuntime({ "test-echo": echo() })
    const plan = makePlan(dir, [step("a", "test-echo", { with: { corpus: { source: "udhr", languages: ["en", "he"], split: "heldout" } } })])
    const { result } = await run(db, plan, rt.layer)
    const sent = rt.calls[0]?.params["corpus"] as { digest: string; languages: Record<string, string[]> }
    expect(Object.keys(sent.languages)).toEqual(["en", "he"])
    expect(sent.languages["en"]?.length).toBe(5) // articles 26-30
    const parts = db.getStep(result.runId, "a")?.keyParts
    expect(parts?.corpora).toEqual({ corpus: sent.digest })
    expect(parts?.params).toEqual({ corpus: { digest: sent.digest } })
  })

  it("defaults the calibration corpus to the workflow corpus with split train", async () => {
    const { dir, db } = open()
    const rt = scriptedRuntime({ "test-echo": echo() })
    const plan = makePlan(dir, [
      step("q", "test-echo", { with: { corpus: { source: "udhr", languages: ["en"], split: "heldout" }, quant: { method: "gptq", bits: 4, group_size: 64, sym: false, include_embeddings: false, include_lm_head: false } } })
    ])
    await run(db, plan, rt.layer)
    const quant = rt.calls[0]?.params["quant"] as { calibration: { corpus: { split: string; languages: Record<string, string[]> }; samples: number } }
    expect(quant.calibration.corpus.split).toBe("train")
    expect(quant.calibration.corpus.languages["en"]?.length).toBe(26) // preamble + articles 1-25
    expect(quant.calibration.samples).toBe(128)
  })
})

describe("Engine: budgets", () => {
  it("charges every worker a step held (a sweep lent helper actors on the Ray executor)", async () => {
    const { dir, db } = open()
    let clock = Date.UTC(2026, 10, 25, 12)
    const rt = scriptedRuntime({
      "test-echo": (p, options) =>
        Effect.sync(() => {
          clock += 60_000
          options.onWorkers?.(3)
          return { echo: p, pid: 1 }
        })
    })
    const plan = makePlan(dir, [step("wide", "test-echo", { platform: "kaggle", with: { value: 1 } })], [{ platform: "kaggle", gpuHours: 30, per: "week" }])
    const { result } = await run(db, plan, rt.layer, { now: () => clock })
    expect(result.steps["wide"]?.status).toBe("succeeded")
    expect(db.ledger(result.runId).map((r) => r.seconds)).toEqual([180]) // 60 s × 3 workers
  })

  it("defers a step whose estimate exceeds what is left, runs one that fits, and charges its wall time", async () => {
    const { dir, db } = open()
    const now = Date.UTC(2026, 10, 25, 12)
    db.charge({ platform: "kaggle", seconds: 0.5 * 3600, t: now - 3600, runId: "earlier" })
    let clock = now
    const rt = scriptedRuntime({ "test-echo": (p) => Effect.sync(() => { clock += 120_000; return { echo: p, pid: 1 } }) })
    const plan = makePlan(
      dir,
      [
        step("big", "test-echo", { platform: "kaggle", estimateSeconds: 3600, with: { value: 1 } }),
        step("small", "test-echo", { platform: "kaggle", estimateSeconds: 600, with: { value: 2 } }),
        step("after_big", "test-echo", { needs: ["big"] })
      ],
      [{ platform: "kaggle", gpuHours: 1, per: "day" }]
    )
    const { result, events } = await run(db, plan, rt.layer, { now: () => clock })
    expect(result.steps["big"]?.status).toBe("deferred")
    expect(db.getStep(result.runId, "big")?.reason).toBe("platform kaggle: estimate 1.00 h exceeds the 30 min left of its 1 GPU h per day budget")
    expect(events.find((e) => e.type === "step-deferred")).toMatchObject({ stepId: "big" })
    expect(result.steps["small"]?.status).toBe("succeeded")
    expect(result.steps["after_big"]?.status).toBe("skipped")
    expect(db.ledger(result.runId)).toEqual([{ platform: "kaggle", window: "day", seconds: 120, runId: result.runId, stepId: "small", t: clock }])
    expect(db.usedSeconds("kaggle", "day", clock)).toBe(1800 + 120)
    expect(events.filter((e) => e.type === "budget").at(-1)).toMatchObject({ budgets: [{ platform: "kaggle", limitHours: 1, usedHours: (1800 + 120) / 3600 }] })
  })

  it("estimates from earlier runs of the same kernel when a step gives none", async () => {
    const { dir, db } = open()
    let clock = Date.UTC(2026, 10, 25, 12)
    const rt = scriptedRuntime({ "test-echo": (p) => Effect.sync(() => { clock += 1_800_000; return { echo: p, pid: 1 } }) })
    await run(db, makePlan(dir, [step("warm", "test-echo", { with: { value: 1 } })]), rt.layer, { now: () => clock }) // 30 min measured
    const plan = makePlan(dir, [step("next", "test-echo", { platform: "colab-free", with: { value: 2 } })], [{ platform: "colab-free", gpuHours: 0.25, per: "day" }])
    const { result } = await run(db, plan, rt.layer, { now: () => clock })
    expect(result.steps["next"]?.status).toBe("deferred")
    expect(db.getStep(result.runId, "next")?.reason).toBe("platform colab-free: estimate (measured on earlier runs) 30 min exceeds the 15 min left of its 0.25 GPU h per day budget")
  })
})

describe("Engine: models", () => {
  it("prepares a fixture before its step (progress shown), then keys the step by the fixture's digest", async () => {
    const { dir, db } = open()
    const saved = process.env["POLYQUANT_CACHE"]
    process.env["POLYQUANT_CACHE"] = join(dir, "cache")
    try {
      const rt = scriptedRuntime({ "test-echo": echo() })
      const plan = makePlan(dir, [
        step("a", "test-echo", { with: { model: { id: "fixture:tiny-x", dtype: "auto", device: "auto", format: "hf", trust_remote_code: false } } }),
        step("b", "test-echo", { with: { model: { id: "fixture:broken", dtype: "auto", device: "auto", format: "hf", trust_remote_code: false } } })
      ])
      const prepared: string[] = []
      const ensureModel = (spec: { id: string }, onEvent: (e: { type: "progress"; done: number; total: number; unit: string; message?: string }) => void) =>
        Effect.suspend(() => {
          prepared.push(spec.id)
          if (spec.id === "fixture:broken") return Effect.fail(new Error("training diverged"))
          onEvent({ type: "progress", done: 5, total: 10, unit: "steps", message: "loss 3.2" })
          const folder = join(dir, "cache", "fixtures", "tiny-x")
          mkdirSync(folder, { recursive: true })
          writeFileSync(join(folder, "config.json"), "{}")
          writeFileSync(join(folder, "model.safetensors"), "W")
          return Effect.void
        })
      const { result, events } = await run(db, plan, rt.layer, { ensureModel })
      expect(prepared).toEqual(["fixture:tiny-x", "fixture:broken"])
      expect(events.find((e) => e.type === "step-progress")).toMatchObject({ stepId: "a", done: 5, total: 10, message: "preparing fixture:tiny-x: loss 3.2" })
      expect(events.find((e) => e.type === "log" && e.stepId === "a")).toMatchObject({ message: "training fixture:tiny-x on first use (about a minute on two CPU cores)" })
      expect(db.getStep(result.runId, "a")?.keyParts?.models["model"]).toMatch(/^fixture:tiny-x@sha256:[0-9a-f]{64}$/)
      expect(result.steps["b"]?.error).toEqual({ type: "ModelUnavailableError", message: "model fixture:broken could not be prepared: training diverged" })
    } finally {
      if (saved === undefined) delete process.env["POLYQUANT_CACHE"]
      else process.env["POLYQUANT_CACHE"] = saved
    }
  })
})

describe("Engine: run owners", () => {
  const deadPid = (): number => Number(spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"]).stdout.toString())

  it("records this process as a run's owner; resuming a run its live owner still runs fails with RunBusyError and writes nothing", async () => {
    const { dir, db } = open()
    const rt = scriptedRuntime({ "test-echo": echo() })
    const plan = makePlan(dir, [step("a", "test-echo", { with: { value: 1 } })])
    const { result } = await run(db, plan, rt.layer)
    expect(db.getRun(result.runId)?.owner).toEqual(thisProcess())
    // as if this process were still running it: stored as running, owned by a live process
    db.setRunStatus(result.runId, "running", 5)
    const before = { run: db.getRun(result.runId), steps: db.getSteps(result.runId), events: db.events(result.runId).length }
    const calls = rt.calls.length
    const refused = await run(db, plan, rt.layer, { resume: result.runId }).then(
      () => undefined,
      (e: unknown) => e
    )
    expect(String(refused)).toContain(`RunBusyError: run ${result.runId} is still running in process ${process.pid} on this host`)
    expect({ run: db.getRun(result.runId), steps: db.getSteps(result.runId), events: db.events(result.runId).length }).toEqual(before)
    expect(rt.calls.length).toBe(calls)
  })

  it("resumes a run whose owner is gone, and takes it over", async () => {
    const { dir, db } = open()
    const rt = scriptedRuntime({ "test-echo": echo() })
    const plan = makePlan(dir, [step("a", "test-echo", { with: { value: 1 } })])
    db.createRun({ id: "r-dead", plan, options: { sets: [], force: false }, platform: "local", now: 1, owner: { ...thisProcess(), pid: deadPid() } })
    const { result } = await run(db, plan, rt.layer, { resume: "r-dead" })
    expect(result).toMatchObject({ runId: "r-dead", status: "succeeded" })
    expect(db.getRun("r-dead")).toMatchObject({ status: "succeeded", owner: thisProcess() })
  })
})

describe("Engine: no store write is dropped in silence", () => {
  it("a failed GPU-hour ledger charge fails the step with StoreWriteError (later steps would not be deferred)", async () => {
    const { dir, db } = open()
    db.charge = () => {
      throw new Error("disk I/O error")
    }
    const rt = scriptedRuntime({ "test-echo": echo() })
    const plan = makePlan(dir, [step("a", "test-echo", { gpu: true, with: { value: 1 } })])
    const { result } = await run(db, plan, rt.layer)
    expect(result.steps["a"]?.status).toBe("failed")
    expect(db.getStep(result.runId, "a")?.error).toMatchObject({ type: "StoreWriteError", message: "run store: charge failed: disk I/O error" })
  })

  it("a branch record or the run's final status that cannot be stored is said in a warning event; the run goes on", async () => {
    const { dir, db } = open()
    db.recordBranch = () => {
      throw new Error("database is locked")
    }
    const setStatus = db.setRunStatus.bind(db)
    db.setRunStatus = (id, status, t) => {
      if (status !== "running") throw new Error("readonly database")
      setStatus(id, status, t)
    }
    const rt = scriptedRuntime({ "test-echo": echo() })
    const plan = makePlan(dir, [
      step("m", "test-echo", { with: { value: 1 } }),
      step("b", "test-echo", { needs: ["m"], condition: { expression: "steps.m.outputs.echo.value < 2.0", references: ["steps.m.outputs.echo.value"] } })
    ])
    const { result, events } = await run(db, plan, rt.layer)
    expect(result.steps["b"]?.status).toBe("succeeded")
    expect(warnings(events)).toEqual([
      "the branch decision of step b could not be stored: run store: recordBranch failed: database is locked",
      "the run's final status (succeeded) could not be stored: run store: setRunStatus failed: readonly database"
    ])
  })

  it("a checkpoint the store cannot keep is said in a warning event (a resume would start from an older one)", async () => {
    const { dir, db } = open()
    db.saveCheckpoint = () => {
      throw new Error("database or disk is full")
    }
    const rt = scriptedRuntime({
      "test-count": (_params, options) =>
        Effect.sync(() => {
          writeFileSync(options.checkpointPath as string, JSON.stringify({ i: 2, values: [0, 1] }))
          options.onEvent?.({ type: "checkpoint" })
          return { values: [0, 1, 4], resumed_from: 0 }
        })
    })
    const plan = makePlan(dir, [step("c", "test-count", { checkpoints: true, with: { to: 3 } })])
    const { result, events } = await run(db, plan, rt.layer)
    expect(result.steps["c"]?.status).toBe("succeeded")
    // once when the kernel reported it, once when the call ended
    expect(warnings(events)).toEqual([
      "the checkpoint of step c could not be stored: database or disk is full",
      "the checkpoint of step c could not be stored: database or disk is full"
    ])
  })

  it("an event the event log cannot store reaches the views with a warning", async () => {
    const { dir, db } = open()
    db.appendEvent = () => {
      throw new Error("disk full")
    }
    const rt = scriptedRuntime({ "test-echo": echo() })
    const { result, events } = await run(db, makePlan(dir, [step("a", "test-echo", { with: { value: 1 } })]), rt.layer)
    expect(result.status).toBe("succeeded")
    expect(events.some((e) => e.type === "step-finished")).toBe(true)
    expect(warnings(events)).toContain("the event log could not store a run-started event: disk full")
  })
})

describe("Engine: a resume never rewrites a finished run, and never trusts a corrupt checkpoint", () => {
  const snapshot = (db: RunStore, runId: string) => ({ run: db.getRun(runId), steps: db.getSteps(runId), branches: db.branches(runId), events: db.events(runId), ledger: db.ledger(runId) })

  it("resuming a run that succeeded changes none of its rows, events or duration, and runs nothing", async () => {
    const { dir, db } = open()
    const rt = scriptedRuntime({ "test-echo": echo() })
    const plan = makePlan(dir, [
      step("m", "test-echo", { with: { value: 1 } }),
      step("b", "test-echo", { needs: ["m"], condition: { expression: "steps.m.outputs.echo.value < 2.0", references: ["steps.m.outputs.echo.value"] } })
    ])
    const first = await run(db, plan, rt.layer)
    expect(first.result.status).toBe("succeeded")
    const before = snapshot(db, first.result.runId)
    const calls = rt.calls.length
    const again = await run(db, plan, rt.layer, { resume: first.result.runId, now: () => Date.now() + 3_600_000 })
    expect(again.result).toMatchObject({ runId: first.result.runId, status: "succeeded", alreadyFinished: true })
    expect(again.result.steps["m"]?.outputs).toEqual(first.result.steps["m"]?.outputs)
    expect(again.events).toEqual([])
    expect(rt.calls.length).toBe(calls)
    expect(snapshot(db, first.result.runId)).toEqual(before)
  })

  it("a garbled checkpoint row is reported, discarded, and the step reruns from its start; the next resume is clean", async () => {
    const { dir, db } = open()
    let seen: Array<string | undefined> = []
    const rt = scriptedRuntime({
      "test-count": (_params, options, callIndex) =>
        Effect.suspend(() => {
          const path = options.checkpointPath as string
          seen.push(existsSync(path) ? readFileSync(path, "utf8") : undefined)
          if (callIndex === 1) {
            writeFileSync(path, JSON.stringify({ i: 2, values: [0, 1] }))
            options.onEvent?.({ type: "checkpoint" })
            return Effect.fail(new KernelFailedError({ kernel: "test-count", type: "PolyquantError", message: "boom", traceback: "", retryable: false, polyquant: true }))
          }
          return Effect.succeed({ values: [0, 1, 4], resumed_from: 0 })
        })
    })
    const plan = makePlan(dir, [step("c", "test-count", { checkpoints: true, with: { to: 3 } })])
    const first = await run(db, plan, rt.layer)
    expect(first.result.status).toBe("failed")
    expect(db.getCheckpoint(first.result.runId, "c")).toEqual({ data: Buffer.from(JSON.stringify({ i: 2, values: [0, 1] })) })
    // garble the stored row, as a bad disk or a hand edit would
    const raw = new Database(join(dir, ".polyquant", "pq.db"))
    raw.prepare("UPDATE checkpoints SET data = ? WHERE run_id = ?").run(Buffer.from('{"i": 2, "values": [0, 1'), first.result.runId)
    raw.close()
    expect(db.getCheckpoint(first.result.runId, "c")).toEqual({ corrupt: "its bytes do not match the sha256 stored with them" })
    seen = []
    const resumed = await run(db, plan, rt.layer, { resume: first.result.runId })
    expect(resumed.result.steps["c"]?.status).toBe("succeeded")
    expect(seen).toEqual([undefined]) // the kernel started from the beginning
    expect(warnings(resumed.events)).toEqual([
      "the stored checkpoint of step c is corrupt (its bytes do not match the sha256 stored with them); it was discarded, and the step starts from the beginning"
    ])
    expect(db.getCheckpoint(first.result.runId, "c")).toBeUndefined()
  })
})
