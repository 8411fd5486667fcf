/**
 * `runs`, `show` and `resume` on runs stored as running (a child `node bin/polyquant.js`): one whose
 * process is gone shows as interrupted, one whose process is alive as running, one from another
 * host as running there; `resume` refuses the live one and the other host's (changing no row) and
 * continues the dead one. The kill -9 version with real runs is in test/reliability/process.test.ts.
 */
import { execFile, spawn, spawnSync, type ChildProcess } from "node:child_process"
import { existsSync, mkdtempSync } from "node:fs"
import { hostname, tmpdir } from "node:os"
import { join } from "node:path"
import { promisify } from "node:util"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { skipWithoutPython } from "../pythonPresent.js"
import type { Plan } from "../../src/plan/types.js"
import { systemProbe, type RunOwner } from "../../src/store/liveness.js"
import { RunStore } from "../../src/store/RunStore.js"
import { runRows } from "../store/runRows.js"

const root = join(import.meta.dirname, "..", "..")
const bin = join(root, "bin", "polyquant.js")

const cli = (args: string[], cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> =>
  new Promise((resolve) => {
    execFile("node", [bin, ...args], { cwd, timeout: 120_000 }, (error, stdout, stderr) => {
      const e = error as (Error & { code?: number }) | null
      resolve({ code: e ? (typeof e.code === "number" ? e.code : null) : 0, stdout, stderr })
    })
  })

const plan: Plan = {
  workflow: { name: "owners", file: join(root, "test", "reliability", "fixtures", "echo-pair.yaml"), digest: "d" },
  steps: [
    {
      id: "one", baseId: "one", uses: "test-echo", kernelVersion: "1", with: { message: "one" }, needs: [], platform: "local",
      retry: { max: 0, on: [] }, continueOnError: false, gpu: false, checkpoints: false, source: { file: "echo-pair.yaml", line: 4, column: 3 }
    }
  ],
  stages: [["one"]],
  budgets: []
}

const deadPid = (): number => Number(spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"]).stdout.toString())

let sleeper: ChildProcess
beforeAll(async () => {
  if (!existsSync(join(root, "dist", "cli", "commands", "run.js"))) await promisify(execFile)("npx", ["tsc", "-p", "tsconfig.json"], { cwd: root })
  sleeper = spawn("sleep", ["600"], { stdio: "ignore" })
})
afterAll(() => {
  sleeper.kill("SIGKILL")
})

describe("runs, show and resume on runs stored as running", () => {
  /** a store with three runs stored as running: owner gone, owner alive, owner on another host */
  const setup = () => {
    const dir = mkdtempSync(join(tmpdir(), "pq-owners-"))
    const path = join(dir, "pq.db")
    const store = RunStore.open(path)
    const here = (pid: number): RunOwner => ({ pid, host: hostname(), start: systemProbe.startOf(pid) })
    const dead = deadPid()
    store.createRun({ id: "r-dead", plan, options: { sets: [], force: false }, platform: "local", now: Date.UTC(2026, 10, 26, 9), owner: { ...here(process.pid), pid: dead } })
    store.stepStarted("r-dead", "one", 1, {}, Date.UTC(2026, 10, 26, 9, 1))
    store.createRun({ id: "r-live", plan, options: { sets: [], force: false }, platform: "local", now: Date.UTC(2026, 10, 26, 10), owner: here(sleeper.pid!) })
    store.createRun({ id: "r-away", plan, options: { sets: [], force: false }, platform: "local", now: Date.UTC(2026, 10, 26, 11), owner: { pid: process.pid, host: "colab-vm-7", start: null } })
    store.close()
    return { dir, path, dead, live: sleeper.pid! }
  }

  it("runs: the dead run is interrupted, the live one running with its pid, the other host's running there (text and --json)", async () => {
    const { dir, path, dead, live } = setup()
    const text = await cli(["runs", "--store", path], dir)
    expect(text.code).toBe(0)
    const line = (id: string) => text.stdout.split("\n").find((l) => l.startsWith(id)) ?? ""
    expect(line("r-dead")).toContain(`interrupted (process ${dead} is gone)`)
    expect(line("r-live")).toContain(`running (process ${live})`)
    expect(line("r-away")).toContain("running (on host colab-vm-7, process")
    expect(line("r-away")).toContain("last event 2026-11-26 11:00:00 UTC")
    const json = JSON.parse((await cli(["runs", "--json", "--store", path], dir)).stdout) as Array<Record<string, unknown>>
    const byId = Object.fromEntries(json.map((r) => [r["id"], r]))
    expect(byId["r-dead"]).toMatchObject({ status: "interrupted", recordedStatus: "running", note: `process ${dead} is gone`, owner: { pid: dead, host: hostname(), state: "gone" } })
    expect(byId["r-live"]).toMatchObject({ status: "running", recordedStatus: "running", owner: { pid: live, state: "alive" } })
    expect(byId["r-away"]).toMatchObject({ status: "running", owner: { host: "colab-vm-7", state: "elsewhere" }, lastActivity: "2026-11-26T11:00:00.000Z" })
    // a look changes nothing stored
    const s = RunStore.open(path)
    expect(s.getRun("r-dead")?.status).toBe("running")
    s.close()
  })

  it("show: the dead run and the step it was running are interrupted (text and --json)", async () => {
    const { dir, path, dead } = setup()
    const text = await cli(["show", "r-dead", "--store", path], dir)
    expect(text.code).toBe(0)
    expect(text.stdout.split("\n")[0]).toBe(`run r-dead  owners (${plan.workflow.file})  interrupted (process ${dead} is gone)`)
    expect(text.stdout).toMatch(/\n {2}one +interrupted/)
    const json = JSON.parse((await cli(["show", "r-dead", "--json", "--store", path], dir)).stdout) as { run: Record<string, unknown>; steps: Array<Record<string, unknown>> }
    expect(json.run).toMatchObject({ id: "r-dead", status: "interrupted", recordedStatus: "running", owner: { pid: dead, state: "gone" } })
    expect(json.steps[0]).toMatchObject({ stepId: "one", status: "interrupted", recordedStatus: "running" })
    const live = await cli(["show", "r-live", "--store", path], dir)
    expect(live.stdout.split("\n")[0]).toContain(`running (process ${sleeper.pid})`)
    expect(live.stdout).toMatch(/\n {2}one +pending/)
  })

  it("resume refuses a run its live process still runs, naming the run and the pid, and changes no row", async () => {
    const { dir, path, live } = setup()
    const before = runRows(path, "r-live")
    const r = await cli(["resume", "r-live", "--store", path, "--plain"], dir)
    expect(r.code).toBe(2)
    expect(r.stderr).toBe(`polyquant resume: run r-live is still running in process ${live} on this host; stop that process first (Ctrl-C in its terminal, or kill ${live}), then resume the run\n`)
    expect((await cli(["resume", "r-live", "--takeover", "--store", path], dir)).code).toBe(2) // --takeover is for other hosts only
    expect(runRows(path, "r-live")).toEqual(before)
  })

  it("resume refuses another host's run without --takeover, changing no row", async () => {
    const { dir, path } = setup()
    const before = runRows(path, "r-away")
    const r = await cli(["resume", "r-away", "--store", path, "--plain"], dir)
    expect(r.code).toBe(2)
    expect(r.stderr).toContain("polyquant resume: run r-away is running on host colab-vm-7 (process")
    expect(r.stderr).toContain("take the run over with `polyquant resume r-away --takeover`")
    expect(runRows(path, "r-away")).toEqual(before)
  })

  it.skipIf(skipWithoutPython)("resume continues a run whose process is gone, and --takeover one from another host; each is then owned by its resume", async () => {
    const { dir, path } = setup()
    // the second resume finds the first one's output in the cache
    for (const [id, extra, stepStatus] of [["r-dead", [], "succeeded"], ["r-away", ["--takeover"], "cached"]] as const) {
      const r = await cli(["resume", id, ...extra, "--json", "--no-report", "--store", path], dir)
      expect(r.code, r.stderr).toBe(0)
      const s = RunStore.open(path)
      expect(s.getRun(id)).toMatchObject({ status: "succeeded", owner: { host: hostname() } })
      expect(s.getRun(id)?.owner?.pid).not.toBe(process.pid)
      expect(s.getStep(id, "one")).toMatchObject({ status: stepStatus, outputs: { echo: { message: "one" } } })
      s.close()
    }
    const runs = JSON.parse((await cli(["runs", "--json", "--store", path], dir)).stdout) as Array<{ id: string; status: string }>
    expect(runs.map((r) => [r.id, r.status])).toEqual([["r-away", "succeeded"], ["r-live", "running"], ["r-dead", "succeeded"]])
  })
})
