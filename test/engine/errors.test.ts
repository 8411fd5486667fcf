/**
 * Step failures are tagged errors until the engine records them; the recorded `type` is the one
 * stored runs and `retry.on` lists name, so each kind of failure is checked by its exact type.
 */
import { existsSync } from "node:fs"
import { join } from "node:path"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { z } from "zod"
import { EngineDefect, Interrupted, KernelUnknownError, LocalStepError, ModelUnavailableError, recordedError, StepPrepareError } from "../../src/engine/errors.js"
import { makeStopSignal } from "../../src/engine/StopSignal.js"
import { defineKernel } from "../../src/kernels/define.js"
import { findKernel } from "../../src/kernels/catalog.js"
import { KernelFailedError } from "../../src/python/errors.js"
import { RunStore } from "../../src/store/RunStore.js"
import { makePlan, run, scriptedRuntime, step, tmp } from "./helpers.js"

const open = () => {
  const dir = tmp()
  return { dir, db: RunStore.open(join(dir, ".polyquant", "pq.db")) }
}

describe("recordedError", () => {
  it("records { type: _tag, message }, a preparation failure under its cause's tag, a kernel error with what Python reported", () => {
    expect(recordedError(new KernelUnknownError({ stepId: "s", kernel: "nope", known: ["a", "b"], custom: false }))).toEqual({ type: "KernelUnknownError", message: "step s uses unknown kernel 'nope'; known kernels: a, b" })
    expect(recordedError(new KernelUnknownError({ stepId: "s", kernel: "mine", known: [], custom: true }))).toEqual({ type: "KernelUnknownError", message: "step s: the custom step 'mine' has no TypeScript implementation in this run" })
    expect(recordedError(new StepPrepareError({ stepId: "s", reason: "bad" }))).toEqual({ type: "StepPrepareError", message: "step s: bad" })
    expect(recordedError(new StepPrepareError({ stepId: "s", reason: "no such file", causeTag: "CorpusFileError" }))).toEqual({ type: "CorpusFileError", message: "step s: no such file" })
    expect(recordedError(new ModelUnavailableError({ model: "fixture:x", reason: "diverged" }))).toEqual({ type: "ModelUnavailableError", message: "model fixture:x could not be prepared: diverged" })
    expect(recordedError(new LocalStepError({ stepId: "s", reason: "it broke" }))).toEqual({ type: "LocalStepError", message: "it broke" })
    expect(recordedError(new Interrupted({ stepId: "s" }))).toEqual({ type: "Interrupted", message: "stopped by the user (forced)" })
    expect(recordedError(new EngineDefect({ stepId: "s", defect: new TypeError("x is undefined") }))).toEqual({ type: "EngineDefect", message: "step s: x is undefined" })
    expect(recordedError(new KernelFailedError({ kernel: "k", type: "OutOfMemoryError", message: "oom", traceback: "tb", retryable: true, polyquant: true }))).toEqual({ type: "OutOfMemoryError", message: "oom", traceback: "tb", retryable: true })
  })
})

describe("Engine: each failure is recorded under its type", () => {
  it("an unknown kernel, a custom step without TypeScript, an unresolvable `with` and a missing corpus file", async () => {
    const { dir, db } = open()
    const custom = defineKernel({ name: "my-custom", version: "1", description: "test", with: z.strictObject({}), outputs: z.strictObject({}), models: [], corpora: [], checkpoints: false, gpu: false, local: true })
    const kernels = (name: string) => (name === "my-custom" ? custom : findKernel(name))
    const rt = scriptedRuntime({ "test-echo": (p) => Effect.succeed({ echo: p, pid: 1 }) })
    const plan = makePlan(dir, [
      step("a", "test-echo", { with: { value: 1 } }),
      step("unknown", "no-such-kernel"),
      step("mine", "my-custom"),
      step("unresolved", "test-echo", { needs: ["a"], continueOnError: true, with: { value: "${{ steps.a.outputs.nope }}" }, expressions: [{ path: "value", expression: "steps.a.outputs.nope" }] }),
      step("corpus", "test-echo", { continueOnError: true, with: { corpus: { source: "files", languages: ["en"], files: { en: "missing.txt" } } } })
    ])
    const { result } = await run(db, plan, rt.layer, { kernels })
    const error = (id: string) => db.getStep(result.runId, id)?.error
    expect(error("unknown")).toMatchObject({ type: "KernelUnknownError", message: expect.stringMatching(/^step unknown uses unknown kernel 'no-such-kernel'; known kernels: .*test-echo/) })
    expect(error("mine")).toEqual({ type: "KernelUnknownError", message: "step mine: the custom step 'my-custom' has no TypeScript implementation in this run" })
    expect(error("unresolved")).toEqual({ type: "StepPrepareError", message: "step unresolved: cannot evaluate 'steps.a.outputs.nope': No such key: nope" })
    expect(error("corpus")).toEqual({ type: "CorpusFileError", message: `step corpus: corpus file for 'en' at ${join(dir, "missing.txt")}: no such file` })
    // continue_on_error covers a step's own preparation, not a `with` that cannot be resolved
    expect(result.steps["corpus"]?.continueOnError).toBe(true)
    expect(result.steps["unresolved"]?.continueOnError).toBeUndefined()
  })

  it("a custom step's own tag, an untagged failure as LocalStepError, and a defect as EngineDefect", async () => {
    const { dir, db } = open()
    const plan = makePlan(dir, [step("tagged", "compare"), step("plain", "compare"), step("text", "compare"), step("bug", "compare")])
    const local = {
      tagged: () => Effect.fail({ _tag: "ThresholdMissedError", message: "d = 0.3 exceeds 0.2" }),
      plain: () => Effect.fail(new Error("plain failure")),
      text: () => Effect.fail("just a string"),
      bug: () => Effect.die(new TypeError("cannot read 'x' of undefined"))
    }
    const { result } = await run(db, plan, scriptedRuntime({}).layer, { local })
    expect(Object.fromEntries(Object.entries(result.steps).map(([id, o]) => [id, o.error]))).toEqual({
      tagged: { type: "ThresholdMissedError", message: "d = 0.3 exceeds 0.2" },
      plain: { type: "LocalStepError", message: "plain failure" },
      text: { type: "LocalStepError", message: "just a string" },
      bug: { type: "EngineDefect", message: "step bug: cannot read 'x' of undefined" }
    })
  })

  it("a forced stop ends the call: the attempt records Interrupted, the step is interrupted, the next step does not start", async () => {
    const { dir, db } = open()
    const stop = makeStopSignal()
    const rt = scriptedRuntime({
      "test-sleep": () => Effect.suspend(() => {
        stop.request({ force: true })
        return Effect.never
      }),
      "test-echo": (p) => Effect.succeed({ echo: p, pid: 1 })
    })
    const plan = makePlan(dir, [step("s", "test-sleep", { gpu: true }), step("e", "test-echo", { needs: ["s"] })])
    const { result } = await run(db, plan, rt.layer, { stop })
    expect(result.status).toBe("interrupted")
    expect(result.steps["s"]?.status).toBe("interrupted")
    expect(db.attempts(result.runId, "s")).toMatchObject([{ status: "interrupted", error: { type: "Interrupted", message: "stopped by the user (forced)" } }])
    expect(db.getStep(result.runId, "s")?.reason).toBe("stopped by the user; its last checkpoint is stored")
    expect(result.steps["e"]?.status).toBe("pending")
    expect(rt.calls.map((c) => c.kernel)).toEqual(["test-sleep"])
  })

  it("a plain stop writes the step's stop file; the kernel that stops itself leaves the step interrupted, not retried", async () => {
    const { dir, db } = open()
    const stop = makeStopSignal()
    let sawStopFile = false
    const rt = scriptedRuntime({
      "test-sleep": (_p, options) => Effect.suspend(() => {
        stop.request()
        sawStopFile = options.stopPath !== undefined && existsSync(options.stopPath)
        return Effect.fail(new KernelFailedError({ kernel: "test-sleep", type: "KernelStopped", message: "stopped at a checkpoint", traceback: "", retryable: false, polyquant: true }))
      })
    })
    const plan = makePlan(dir, [step("s", "test-sleep", { retry: { max: 3, on: ["KernelStopped"] } })])
    const { result } = await run(db, plan, rt.layer, { stop })
    expect(sawStopFile).toBe(true)
    expect(result.steps["s"]?.status).toBe("interrupted")
    expect(db.attempts(result.runId, "s")).toMatchObject([{ status: "interrupted", error: { type: "KernelStopped" } }])
  })
})
