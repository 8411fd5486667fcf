import Database from "better-sqlite3"
import { spawnSync } from "node:child_process"
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import type { Plan } from "../../src/plan/types.js"
import { windowStart } from "../../src/store/budget.js"
import { RunBusyError, StoreOpenError } from "../../src/store/errors.js"
import { thisProcess, type ProcessProbe, type RunOwner } from "../../src/store/liveness.js"
import { migrations } from "../../src/store/migrations.js"
import { RunStore } from "../../src/store/RunStore.js"
import { runRows } from "./runRows.js"

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
    expect((store.getCheckpoint("r1", "a") as { data: Buffer }).data.toString()).toBe('{"i":4}')
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

describe("RunStore: run owners (migration 2) and claimRun", () => {
  const table: ProcessProbe = { host: "here", exists: (pid) => pid === 10, startOf: (pid) => (pid === 10 ? "boot/100" : null) }
  const owner = (pid: number, host = "here"): RunOwner => ({ pid, host, start: "boot/100" })

  it("a store at version 1 gains owner columns; its runs keep their rows, with no owner", () => {
    const path = join(tmp(), "v1.db")
    const old = new Database(path)
    old.exec(migrations[0]!)
    old.pragma("user_version = 1")
    old.prepare(`INSERT INTO runs (id, workflow, file, digest, plan_json, options_json, platform, status, created_at, updated_at) VALUES ('r0', 'wf', 'wf.yaml', 'd', ?, '{"sets":[],"force":false}', 'local', 'running', 5, 6)`).run(JSON.stringify(plan))
    old.close()
    const store = RunStore.open(path)
    expect(store.schemaVersion).toBe(migrations.length)
    expect(store.getRun("r0")).toMatchObject({ status: "running", createdAt: 5, updatedAt: 6, owner: null })
    store.close()
  })

  it("createRun records its owner; lastActivity is the later of the row's update and its last event", () => {
    const store = RunStore.open(join(tmp(), "pq.db"))
    store.createRun({ id: "r1", plan, options: { sets: [], force: false }, platform: "local", now: 1000, owner: owner(10) })
    expect(store.getRun("r1")?.owner).toEqual(owner(10))
    expect(store.lastActivity("r1")).toBe(1000)
    store.appendEvent({ type: "step-progress", runId: "r1", t: 4000, stepId: "a", done: 1, total: 2, unit: "items" })
    expect(store.lastActivity("r1")).toBe(4000)
    store.close()
  })

  it("claimRun refuses a run whose owner is alive on this host, and changes no row", () => {
    const store = RunStore.open(join(tmp(), "pq.db"))
    store.createRun({ id: "r1", plan, options: { sets: [], force: false }, platform: "local", now: 1000, owner: owner(10) })
    store.stepStarted("r1", "a", 1, {}, 1100)
    const before = runRows(store.path, "r1")
    const claim = () => store.claimRun("r1", owner(20), 2000, { probe: table })
    expect(claim).toThrow(RunBusyError)
    expect(claim).toThrow("run r1 is still running in process 10 on this host")
    expect(() => store.claimRun("r1", owner(20), 2000, { probe: table, takeover: true })).toThrow(RunBusyError)
    expect(runRows(store.path, "r1")).toEqual(before)
    store.close()
  })

  it("claimRun takes over a run whose owner is gone, or that finished, recording the new owner", () => {
    const store = RunStore.open(join(tmp(), "pq.db"))
    store.createRun({ id: "r1", plan, options: { sets: [], force: false }, platform: "local", now: 1000, owner: owner(11) })
    store.claimRun("r1", owner(10), 2000, { probe: table })
    expect(store.getRun("r1")).toMatchObject({ status: "running", updatedAt: 2000, finishedAt: null, owner: owner(10) })
    store.setRunStatus("r1", "interrupted", 3000)
    store.claimRun("r1", owner(12), 4000, { probe: table }) // stopped by its live owner: resumable
    expect(store.getRun("r1")).toMatchObject({ status: "running", owner: owner(12) })
    store.close()
  })

  it("claimRun refuses a run on another host unless told to take it over", () => {
    const store = RunStore.open(join(tmp(), "pq.db"))
    store.createRun({ id: "r1", plan, options: { sets: [], force: false }, platform: "local", now: 1000, owner: owner(11, "colab-vm") })
    const before = runRows(store.path, "r1")
    expect(() => store.claimRun("r1", owner(10), 2000, { probe: table })).toThrow(/run r1 is running on host colab-vm \(process 11, .*--takeover/)
    expect(runRows(store.path, "r1")).toEqual(before)
    store.claimRun("r1", owner(10), 2000, { probe: table, takeover: true })
    expect(store.getRun("r1")?.owner).toEqual(owner(10))
    store.close()
  })

  it("of two claims on one store (two connections), the second sees the first as the live owner", () => {
    const path = join(tmp(), "pq.db")
    const a = RunStore.open(path)
    const b = RunStore.open(path)
    const dead = Number(spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"]).stdout.toString())
    a.createRun({ id: "r1", plan, options: { sets: [], force: false }, platform: "local", now: 1000, owner: { ...thisProcess(), pid: dead } })
    a.claimRun("r1", thisProcess(), 2000)
    expect(() => b.claimRun("r1", thisProcess(), 2001)).toThrow(`run r1 is still running in process ${process.pid} on this host`)
    expect(b.getRun("r1")).toMatchObject({ updatedAt: 2000, owner: thisProcess() })
    a.close()
    b.close()
  })
})
