import { chmodSync, existsSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import type { Plan } from "../../src/plan/types.js"
import { ArtifactStore } from "../../src/store/ArtifactStore.js"
import { windowStart } from "../../src/store/budget.js"
import { StoreOpenError } from "../../src/store/errors.js"
import { migrations } from "../../src/store/migrations.js"
import { RunStore } from "../../src/store/RunStore.js"

const tmp = (): string => mkdtempSync(join(tmpdir(), "pq-store-"))

const plan: Plan = {
  workflow: { name: "wf", file: "wf.yaml", digest: "d" },
  steps: [
    {
      id: "a", baseId: "a", uses: "test-echo", kernelVersion: "1", with: {}, needs: [], platform: "local",
      retry: { max: 0, on: [] }, continueOnError: false, gpu: false, checkpoints: false, source: { file: "wf.yaml", line: 1, column: 1 }
    }
  ],
  stages: [["a"]],
  budgets: [{ platform: "kaggle", gpuHours: 30, per: "week" }]
}

describe("RunStore", () => {
  it("creates the schema at the latest version, in WAL mode", () => {
    const store = RunStore.open(join(tmp(), "sub", "pq.db"))
    expect(store.schemaVersion).toBe(migrations.length)
    store.close()
    const again = RunStore.open(store.path)
    expect(again.schemaVersion).toBe(migrations.length)
    again.close()
  })

  it("round-trips runs, steps, branches and checkpoints", () => {
    const store = RunStore.open(join(tmp(), "pq.db"))
    store.createRun({ id: "r1", plan, options: { sets: ["x=1"], force: false }, platform: "local", now: 1000 })
    expect(store.getRun("r1")?.plan.steps[0]?.id).toBe("a")
    expect(store.getSteps("r1").map((s) => [s.stepId, s.status])).toEqual([["a", "pending"]])
    store.stepStarted("r1", "a", 1, { x: 1 }, 1100)
    store.stepFinished("r1", "a", { status: "succeeded", now: 1200, durationMs: 100, outputs: { y: 2 } })
    const step = store.getStep("r1", "a")
    expect(step).toMatchObject({ status: "succeeded", attempts: 1, outputs: { y: 2 }, durationMs: 100, startedAt: 1100 })
    store.recordBranch("r1", { stepId: "a", expression: "steps.b.outputs.v < 2.0", result: true, values: { "steps.b.outputs.v": 1.5 }, t: 5 })
    expect(store.branches("r1")).toEqual([{ stepId: "a", expression: "steps.b.outputs.v < 2.0", result: true, values: { "steps.b.outputs.v": 1.5 }, t: 5 }])
    store.saveCheckpoint("r1", "a", Buffer.from('{"i":4}'), 7)
    expect(store.getCheckpoint("r1", "a")?.toString()).toBe('{"i":4}')
    expect(store.requireRun("r").id).toBe("r1") // unique prefix
    expect(() => store.requireRun("zzz")).toThrow(/no run 'zzz' in the store; recent runs: r1/)
    store.close()
  })

  it("sums the budget ledger per platform and window", () => {
    const store = RunStore.open(join(tmp(), "pq.db"))
    // Wednesday 2026-11-25 12:00 UTC; the week started Monday 2026-11-23.
    const now = Date.UTC(2026, 10, 25, 12)
    expect(windowStart("day", now)).toBe(Date.UTC(2026, 10, 25))
    expect(windowStart("week", now)).toBe(Date.UTC(2026, 10, 23))
    expect(windowStart("week", Date.UTC(2026, 10, 29, 23))).toBe(Date.UTC(2026, 10, 23)) // Sunday
    store.charge({ platform: "kaggle", seconds: 3600, t: Date.UTC(2026, 10, 25, 1), runId: "r1", stepId: "a" }) // today
    store.charge({ platform: "kaggle", seconds: 7200, t: Date.UTC(2026, 10, 23, 9), runId: "r0" }) // Monday
    store.charge({ platform: "kaggle", seconds: 9000, t: Date.UTC(2026, 10, 22, 9), runId: "r0" }) // last week
    store.charge({ platform: "colab-free", seconds: 1800, t: Date.UTC(2026, 10, 25, 2), runId: "r1" })
    expect(store.usedSeconds("kaggle", "day", now)).toBe(3600)
    expect(store.usedSeconds("kaggle", "week", now)).toBe(3600 + 7200)
    expect(store.usedSeconds("kaggle", "session", now, "r1")).toBe(3600)
    expect(store.remainingBudget({ platform: "kaggle", gpuHours: 30, per: "week" }, now)).toEqual({
      platform: "kaggle", window: "week", limitHours: 30, usedHours: 3, remainingHours: 27
    })
    expect(store.remainingBudget({ platform: "colab-free", gpuHours: 0.25, per: "day" }, now).remainingHours).toBe(0)
    store.close()
  })

  it("names the path when the store folder is not writable", () => {
    const dir = tmp()
    chmodSync(dir, 0o500)
    try {
      if (process.getuid?.() === 0) return // root writes anywhere
      expect(() => RunStore.open(join(dir, "inner", "pq.db"))).toThrow(StoreOpenError)
      expect(() => RunStore.open(join(dir, "inner", "pq.db"))).toThrow(`cannot open the run store at ${join(dir, "inner", "pq.db")}: the folder is not writable (EACCES)`)
    } finally {
      chmodSync(dir, 0o700)
    }
  })

  it("names the path when a part of it is a file (unwritable for root too)", () => {
    const file = join(tmp(), "plain-file")
    writeFileSync(file, "")
    const path = join(file, "pq.db")
    expect(() => RunStore.open(path)).toThrow(`cannot open the run store at ${path}: a part of the path is a file, not a folder`)
  })

  it("names the path when the file is not a database", () => {
    const path = join(tmp(), "junk.db")
    writeFileSync(path, "this is not sqlite, just text that is long enough to be read as a header ".repeat(10))
    expect(() => RunStore.open(path)).toThrow(new RegExp(`cannot open the run store at ${path}: file is not a database`))
  })
})

describe("ArtifactStore", () => {
  it("stores bytes under their sha256 and leaves no temporary file", () => {
    const dir = tmp()
    const artifacts = new ArtifactStore(dir)
    const a = artifacts.put("hello")
    expect(a.sha256).toBe("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")
    expect(existsSync(a.path)).toBe(true)
    expect(artifacts.get(a.sha256).toString()).toBe("hello")
    expect(artifacts.put("hello").path).toBe(a.path)
    expect(readdirSync(join(dir, "2c"))).toEqual([a.sha256])
    writeFileSync(a.path, "tampered")
    expect(() => artifacts.get(a.sha256)).toThrow(/is corrupt/)
  })
})
