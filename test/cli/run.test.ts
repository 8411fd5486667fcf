/**
 * The run-side CLI as a user calls it (a child `node bin/polyquant.js` process, the real Python
 * runtime, the test kernels): exit codes, the cache on a second run, Ctrl-C and kill -9 followed
 * by `resume`, and `runs`/`show`/`explain` on what the runs stored.
 */
import { spawn, execFile } from "node:child_process"
import { chmodSync, existsSync, mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { promisify } from "node:util"
import { beforeAll, describe, expect, it } from "vitest"
import { skipWithoutPython } from "../pythonPresent.js"
import type { RunEvent } from "../../src/engine/events.js"
import { RunStore } from "../../src/store/RunStore.js"

const root = join(import.meta.dirname, "..", "..")
const bin = join(root, "bin", "polyquant.js")
const countWorkflow = join(root, "test", "fixtures", "engine", "count.yaml")

interface Result {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

const cli = (args: string[], cwd: string): Promise<Result> =>
  new Promise((resolve) => {
    execFile("node", [bin, ...args], { cwd, timeout: 120_000 }, (error, stdout, stderr) => {
      const e = error as (Error & { code?: number; signal?: NodeJS.Signals }) | null
      resolve({ code: e ? (typeof e.code === "number" ? e.code : null) : 0, signal: e?.signal ?? null, stdout, stderr })
    })
  })

const jsonEvents = (stdout: string): RunEvent[] =>
  stdout
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as RunEvent)

/**
 * Start `polyquant run --json`, and once the counting step has stored `checkpoints` checkpoints,
 * send `signal`; resolves when the process ends.
 */
const runAndSignal = (args: string[], cwd: string, signal: NodeJS.Signals, checkpoints: number): Promise<Result & { runId: string }> =>
  new Promise((resolve, reject) => {
    const child = spawn("node", [bin, ...args], { cwd, stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    let seen = 0
    let sent = false
    const timer = setTimeout(() => {
      child.kill("SIGKILL")
      reject(new Error(`no ${checkpoints} checkpoints within 90 s:\n${stdout}\n${stderr}`))
    }, 90_000)
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString()
      seen = jsonEvents(stdout).filter((e) => e.type === "step-checkpoint").length
      if (!sent && seen >= checkpoints) {
        sent = true
        child.kill(signal)
      }
    })
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
    child.on("exit", (code, sig) => {
      clearTimeout(timer)
      const started = jsonEvents(stdout).find((e) => e.type === "run-started")
      resolve({ code, signal: sig, stdout, stderr, runId: started?.runId ?? "" })
    })
  })

const workdir = (): string => mkdtempSync(join(tmpdir(), "pq-cli-"))

beforeAll(async () => {
  if (!existsSync(join(root, "dist", "cli", "commands", "run.js"))) await promisify(execFile)("npx", ["tsc", "-p", "tsconfig.json"], { cwd: root })
})

describe("polyquant run: input errors", () => {
  it("exits 2 naming an unwritable store path, before anything runs", async () => {
    const dir = workdir()
    const locked = join(dir, "locked")
    writeFileSync(join(dir, "placeholder"), "")
    chmodSync(dir, 0o500)
    try {
      if (process.getuid?.() === 0) return // root writes anywhere
      const r = await cli(["run", countWorkflow, "--store", join(locked, "pq.db")], dir)
      expect(r.code).toBe(2)
      expect(r.stderr).toContain(`polyquant run: cannot open the run store at ${join(locked, "pq.db")}: the folder is not writable (EACCES)`)
    } finally {
      chmodSync(dir, 0o700)
    }
  })

  it("exits 2 naming a store path under a file (unwritable even for root)", async () => {
    const dir = workdir()
    writeFileSync(join(dir, "file"), "")
    const r = await cli(["run", countWorkflow, "--store", join(dir, "file", "pq.db")], dir)
    expect(r.code).toBe(2)
    expect(r.stderr).toContain(`polyquant run: cannot open the run store at ${join(dir, "file", "pq.db")}: a part of the path is a file, not a folder`)
  })

  it("a run with a deferred step says how to continue it, with the --store it ran on", async () => {
    const dir = workdir()
    writeFileSync(
      join(dir, "defer.yaml"),
      "name: deferred\nbudgets:\n  local: { gpu_hours: 0.001, per: session }\nsteps:\n  long:\n    uses: test-sleep\n    platform: local\n    estimate: 1h\n    with: { seconds: 0 }\n"
    )
    const store = join(dir, "elsewhere", "pq.db")
    const r = await cli(["run", "defer.yaml", "--plain", "--store", store, "--no-report"], dir)
    expect(r.code).toBe(0)
    const runId = /run (\S+) started/.exec(r.stdout)?.[1]
    expect(r.stderr).toContain(`continue with \`polyquant resume ${runId} --store ${store}\``)
  })

  it("exits 2 on an invalid workflow and on an unknown run", async () => {
    const dir = workdir()
    writeFileSync(join(dir, "bad.yaml"), "name: bad\nsteps:\n  a:\n    uses: test-count\n    with: { nope: 1 }\n")
    const r = await cli(["run", "bad.yaml"], dir)
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/bad\.yaml:5:\d+ steps\.a\.with/)
    const resumed = await cli(["resume", "nosuchrun", "--store", join(dir, "pq.db")], dir)
    expect(resumed.code).toBe(2)
    expect(resumed.stderr).toContain("polyquant resume: no run 'nosuchrun' in the store; the store holds no runs")
  })
})

describe.skipIf(skipWithoutPython)("polyquant run with the real runtime", () => {
  it("exits 1 when a step fails, naming the error", async () => {
    const dir = workdir()
    writeFileSync(join(dir, "fail.yaml"), "name: failing\nsteps:\n  boom:\n    uses: test-fail\n    with: { message: broken on purpose }\n")
    const r = await cli(["run", "fail.yaml", "--plain"], dir)
    expect(r.code).toBe(1)
    expect(r.stdout + r.stderr).toContain("broken on purpose")
    expect(r.stdout + r.stderr).toMatch(/run \S+ failed in/)
  })

  it("runs, then reuses every step from the cache in well under a second of engine time; --force reruns", async () => {
    const dir = workdir()
    const args = ["run", countWorkflow, "--json", "--set", "steps.count.with.tick=0.01"]
    const first = await cli(args, dir)
    expect(first.code).toBe(0)
    const finished = (events: RunEvent[]) => Object.fromEntries(events.flatMap((e) => (e.type === "step-finished" ? [[e.stepId, e.status]] : [])))
    expect(finished(jsonEvents(first.stdout))).toEqual({ hello: "succeeded", count: "succeeded", small: "succeeded", large: "skipped" })
    const second = await cli(args, dir)
    expect(second.code).toBe(0)
    const events = jsonEvents(second.stdout)
    expect(finished(events)).toEqual({ hello: "cached", count: "cached", small: "cached", large: "skipped" })
    const end = events.at(-1) as Extract<RunEvent, { type: "run-finished" }>
    expect(end.type).toBe("run-finished")
    expect(end.durationMs).toBeLessThan(1000)
    expect(end.reportPath).toBe(join(dir, ".polyquant", "reports", end.runId, "report.md"))
    expect(existsSync(end.reportPath!)).toBe(true)
    const forced = await cli([...args, "--force"], dir)
    expect(finished(jsonEvents(forced.stdout))["count"]).toBe("succeeded")

    // resuming a run that succeeded changes nothing stored about it
    const db = RunStore.open(join(dir, ".polyquant", "polyquant.db"))
    const before = { run: db.getRun(end.runId), steps: db.getSteps(end.runId), events: db.events(end.runId).length, branches: db.branches(end.runId) }
    db.close()
    const resumedDone = await cli(["resume", end.runId], dir)
    expect(resumedDone.code).toBe(0)
    expect(resumedDone.stdout).toMatch(new RegExp(`^run ${end.runId} already succeeded on .* UTC; resuming it changes nothing`))
    const after = RunStore.open(join(dir, ".polyquant", "polyquant.db"))
    expect({ run: after.getRun(end.runId), steps: after.getSteps(end.runId), events: after.events(end.runId).length, branches: after.branches(end.runId) }).toEqual(before)
    after.close()

    // runs / show / explain read what the runs stored
    const runs = await cli(["runs"], dir)
    expect(runs.stdout.split("\n").filter((l) => l.includes("engine-count")).length).toBe(3)
    const runId = end.runId
    const show = await cli(["show", runId], dir)
    expect(show.stdout).toContain("count                    cached")
    expect(show.stdout).toContain("small: steps.hello.outputs.echo.value < 2.0 → true  (steps.hello.outputs.echo.value = 1.5)")
    const explain = await cli(["explain", runId, "count", "--json"], dir)
    const parts = JSON.parse(explain.stdout) as { key: string; parts: { kernel: string; params: unknown; upstream: Record<string, string> }; cached: { runId: string } }
    expect(parts.parts.kernel).toBe("test-count")
    expect(parts.parts.params).toEqual({ to: 30, tick: 0.01, checkpoint_every: 3 })
    expect(Object.keys(parts.parts.upstream)).toEqual(["hello"])
    expect(parts.cached.runId).toBe(jsonEvents(first.stdout)[0]?.runId)
  })

  it("Ctrl-C stops at a checkpoint with exit 130; resume finishes with the uninterrupted result", async () => {
    const dir = workdir()
    const stopped = await runAndSignal(["run", countWorkflow, "--json"], dir, "SIGINT", 2)
    expect(stopped.code).toBe(130)
    const events = jsonEvents(stopped.stdout)
    expect(events.find((e) => e.type === "step-finished" && e.stepId === "count")).toMatchObject({ status: "interrupted" })
    expect(events.at(-1)).toMatchObject({ type: "run-finished", status: "interrupted" })
    const resumed = await cli(["resume", stopped.runId, "--json"], dir)
    expect(resumed.code).toBe(0)
    const count = jsonEvents(resumed.stdout).find((e) => e.type === "step-finished" && e.stepId === "count") as Extract<RunEvent, { type: "step-finished" }>
    const outputs = count.outputs as { values: number[]; resumed_from: number }
    expect(outputs.values).toEqual(Array.from({ length: 30 }, (_, i) => i * i))
    expect(outputs.resumed_from).toBeGreaterThanOrEqual(6)
  })

  it("kill -9 in the middle of a step: resume does not rerun finished steps and ends with the uninterrupted outputs", async () => {
    const dir = workdir()
    const store = join(dir, "state", "pq.db")
    const killed = await runAndSignal(["run", countWorkflow, "--json", "--store", store], dir, "SIGKILL", 3)
    expect(killed.signal).toBe("SIGKILL")
    const before = RunStore.open(store)
    expect(before.getRun(killed.runId)?.status).toBe("running") // nobody could write the end
    expect(before.getStep(killed.runId, "hello")?.status).toBe("succeeded")
    expect(before.getStep(killed.runId, "count")?.status).toBe("running")
    const checkpoint = JSON.parse((before.getCheckpoint(killed.runId, "count") as { data: Buffer }).data.toString()) as { i: number }
    before.close()
    const resumed = await cli(["resume", killed.runId, "--json", "--store", store], dir)
    expect(resumed.code).toBe(0)
    const events = jsonEvents(resumed.stdout)
    expect(events.filter((e) => e.type === "step-started").map((e) => (e as { stepId: string }).stepId)).toEqual(["count", "small"])
    const after = RunStore.open(store)
    const count = after.getStep(killed.runId, "count")
    expect(count?.status).toBe("succeeded")
    const outputs = count?.outputs as { values: number[]; resumed_from: number }
    expect(outputs.values).toEqual(Array.from({ length: 30 }, (_, i) => i * i))
    expect(outputs.resumed_from).toBeGreaterThanOrEqual(checkpoint.i)
    expect(after.getStep(killed.runId, "hello")?.attempts).toBe(1)
    expect(after.getRun(killed.runId)?.status).toBe("succeeded")
    after.close()
  })
})
