/**
 * Reliability of a run as a user sees it: the real CLI (`node bin/polyquant.js`), the real Python
 * worker and the test kernels. kill -9 at seeded points then resume, a worker crash in one branch,
 * SIGKILL of the CLI (no Python left behind), `runs` naming a killed run interrupted, a second
 * resume refused while a first runs the run, two CLI runs on one store at once, and a full disk.
 * Related cases elsewhere: test/cli/run.test.ts (one kill -9 mid-step; unwritable store path),
 * test/store/concurrent.test.ts (two engines on one store, scripted runtime).
 */
import { execFile, execFileSync, spawn } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { promisify } from "node:util"
import { beforeAll, describe, expect, it } from "vitest"
import { skipWithoutPython } from "../pythonPresent.js"
import type { RunEvent } from "../../src/engine/events.js"
import { resolveInterpreter } from "../../src/python/interpreter.js"
import { RunStore } from "../../src/store/RunStore.js"

const root = join(import.meta.dirname, "..", "..")
const bin = join(root, "bin", "polyquant.js")
const fixture = (name: string): string => join(import.meta.dirname, "fixtures", name)
const hasPython = resolveInterpreter().exists

interface Result {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  pid: number
}

const jsonEvents = (stdout: string): RunEvent[] =>
  stdout
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as RunEvent)

/** Run the CLI; when `killAfter` is set, SIGKILL it as soon as its stdout holds that many JSON events. */
const cli = (args: string[], cwd: string, killAfter?: (events: RunEvent[]) => boolean, onStart?: (pid: number) => void): Promise<Result> =>
  new Promise((resolve, reject) => {
    const child = spawn("node", [bin, ...args], { cwd, stdio: ["ignore", "pipe", "pipe"] })
    onStart?.(child.pid!)
    let stdout = ""
    let stderr = ""
    let sent = false
    const timer = setTimeout(() => {
      child.kill("SIGKILL")
      reject(new Error(`polyquant ${args.join(" ")} did not end within 120 s:\n${stdout}\n${stderr}`))
    }, 120_000)
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString()
      if (killAfter && !sent && killAfter(jsonEvents(stdout.slice(0, stdout.lastIndexOf("\n") + 1)))) {
        sent = true
        child.kill("SIGKILL")
      }
    })
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
    child.on("exit", (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr, pid: child.pid! })
    })
  })

const workdir = (): string => mkdtempSync(join(tmpdir(), "pq-rel-"))

/** mulberry32: a seeded generator, so the kill points are random but the same on every run. */
const seeded = (seed: number) => (): number => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = seed
  t = Math.imul(t ^ (t >>> 15), t | 1)
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

/** The outputs that must not depend on interruptions (the worker's pid and the resume point do). */
const stable = (outputs: unknown): unknown => {
  const { pid: _pid, resumed_from: _from, ...rest } = (outputs ?? {}) as Record<string, unknown>
  return rest
}

const childrenOf = (pid: number): number[] =>
  readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        return Number(readFileSync(`/proc/${d}/stat`, "utf8").replace(/^.*\) /, "").split(" ")[1]) === pid
      } catch {
        return false
      }
    })
    .map(Number)

const alive = (pid: number): boolean => {
  try {
    return !/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"))
  } catch {
    return false
  }
}

beforeAll(async () => {
  if (!existsSync(join(root, "dist", "cli", "commands", "run.js"))) await promisify(execFile)("npx", ["tsc", "-p", "tsconfig.json"], { cwd: root })
})

describe.skipIf(skipWithoutPython)("reliability: processes die, the run does not", () => {
  it("kill -9 at 5 seeded points, each followed by resume: outputs equal an uninterrupted run, no finished step reruns", async () => {
    const reference = await cli(["run", fixture("chain.yaml"), "--json", "--no-report", "--store", join(workdir(), "ref.db")], root)
    expect(reference.code).toBe(0)
    const finished = (events: RunEvent[]) => events.filter((e): e is Extract<RunEvent, { type: "step-finished" }> => e.type === "step-finished")
    const expected = Object.fromEntries(finished(jsonEvents(reference.stdout)).map((e) => [e.stepId, stable(e.outputs)]))
    expect(Object.keys(expected).sort()).toEqual(["a", "b", "c", "d", "e"])
    expect((expected.b as { values: number[] }).values).toEqual(Array.from({ length: 12 }, (_, i) => i * i))

    const dir = workdir()
    const store = join(dir, "pq.db")
    const random = seeded(8)
    let runId = ""
    const killPoints: number[] = []
    /** steps succeeded before each kill, with their attempt counts: none may start again */
    const done = new Map<string, number>()
    for (let k = 0; k < 5; k++) {
      // kill after the n-th event of this process (n ≥ 1 so the run exists): 1..6, seeded
      const n = 1 + Math.floor(random() * 6)
      killPoints.push(n)
      const args = k === 0 ? ["run", fixture("chain.yaml")] : ["resume", runId]
      const killed = await cli([...args, "--json", "--no-report", "--store", store], dir, (events) => events.length >= n)
      const events = jsonEvents(killed.stdout)
      if (k === 0) runId = (events.find((e) => e.type === "run-started") as { runId: string }).runId
      for (const e of events) if (e.type === "step-started") expect(done.has(e.stepId), `step ${e.stepId} reran after kill ${k}`).toBe(false)
      expect(killed.signal, `kill ${k} after ${n} events landed`).toBe("SIGKILL")
      const s = RunStore.open(store)
      expect(s.getRun(runId)?.status).toBe("running") // what nobody could record: the store still says running
      expect(s.getRun(runId)?.owner?.pid).toBe(killed.pid)
      for (const step of s.getSteps(runId)) if (step.status === "succeeded") done.set(step.stepId, step.attempts)
      s.close()
      // ...but `runs` tells that the process that ran it is gone
      const listed = JSON.parse((await cli(["runs", "--json", "--store", store], dir)).stdout) as Array<{ id: string; status: string; recordedStatus: string; note?: string }>
      expect(listed.find((r) => r.id === runId)).toMatchObject({ status: "interrupted", recordedStatus: "running", note: `process ${killed.pid} is gone` })
      if (k === 0) expect((await cli(["runs", "--store", store], dir)).stdout).toMatch(new RegExp(`${runId}  reliability-chain  interrupted \\(process ${killed.pid} is gone\\)`))
    }
    const last = await cli(["resume", runId, "--json", "--no-report", "--store", store], dir)
    expect(last.code, last.stderr).toBe(0)
    for (const e of jsonEvents(last.stdout)) if (e.type === "step-started") expect(done.has(e.stepId), `step ${e.stepId} reran`).toBe(false)
    const after = RunStore.open(store)
    expect(after.getRun(runId)?.status).toBe("succeeded")
    for (const [stepId, attempts] of done) expect(after.getStep(runId, stepId)?.attempts, stepId).toBe(attempts)
    const got = Object.fromEntries(after.getSteps(runId).map((s) => [s.stepId, stable(s.outputs)]))
    after.close()
    expect(got).toEqual(expected)
    expect(killPoints.length).toBe(5)
    expect(done.size).toBeGreaterThan(0) // the kills did land after some steps had finished
  }, 300_000)

  it("a second resume of a run that a live resume is running is refused, naming the run and the pid; the first finishes", async () => {
    const dir = workdir()
    const store = join(dir, "pq.db")
    // step b counts slowly (12 ticks of 0.4 s), so that the second resume comes while the first runs it
    const killed = await cli(["run", fixture("chain.yaml"), "--set", "steps.b.with.tick=0.4", "--json", "--no-report", "--store", store], dir, (events) =>
      events.some((e) => e.type === "step-started")
    )
    expect(killed.signal).toBe("SIGKILL")
    const runId = (jsonEvents(killed.stdout).find((e) => e.type === "run-started") as { runId: string }).runId
    let second: Promise<Result> | undefined
    const first = await cli(["resume", runId, "--json", "--no-report", "--store", store], dir, (events) => {
      // the first resume owns the run and is running step b: start the second one now
      if (second === undefined && events.some((e) => e.type === "step-started" && e.stepId === "b")) second = cli(["resume", runId, "--json", "--no-report", "--store", store], dir)
      return false
    })
    const refused = await second!
    expect(refused.code).toBe(2)
    expect(refused.stderr).toContain(`polyquant resume: run ${runId} is still running in process ${first.pid} on this host`)
    expect(jsonEvents(refused.stdout)).toEqual([])
    expect(first.code, first.stderr).toBe(0)
    const s = RunStore.open(store)
    expect(s.getRun(runId)).toMatchObject({ status: "succeeded", owner: { pid: first.pid } })
    expect(s.events(runId).filter((e) => e.type === "run-started").length).toBe(2) // the run, and the one resume that ran
    s.close()
  }, 120_000)

  it("a worker crash in one branch fails that branch; the independent branch finishes", async () => {
    const dir = workdir()
    const store = join(dir, "pq.db")
    const r = await cli(["run", fixture("crash-branch.yaml"), "--json", "--no-report", "--store", store], dir)
    expect(r.code).toBe(1)
    const s = RunStore.open(store)
    const runId = s.listRuns()[0]!.id
    const status = Object.fromEntries(s.getSteps(runId).map((x) => [x.stepId, x.status]))
    expect(status).toMatchObject({ boom: "failed", after_boom: "skipped", count: "succeeded", after_count: "succeeded" })
    const error = s.attempts(runId, "boom").at(-1)?.error as { type?: string; message?: string } | null
    expect(error?.type).toBe("KernelCrashedError")
    expect(error?.message).toMatch(/SIGKILL|signal|9/)
    expect((s.getStep(runId, "count")?.outputs as { values: number[] }).values).toEqual([0, 1, 4, 9, 16, 25])
    expect(s.getRun(runId)?.status).toBe("failed")
    s.close()
  }, 120_000)

  it("SIGKILL of the CLI leaves no Python process after 10 s", async () => {
    const dir = workdir()
    let cliPid = 0
    const python: number[] = []
    const r = await cli(
      ["run", fixture("sleep.yaml"), "--json", "--no-report", "--store", join(dir, "pq.db")],
      dir,
      (events) => {
        if (!events.some((e) => e.type === "step-progress")) return false
        python.push(...childrenOf(cliPid)) // the worker is running the step now
        return true
      },
      (pid) => (cliPid = pid)
    )
    expect(r.signal).toBe("SIGKILL")
    expect(python.length).toBeGreaterThan(0)
    expect(python.every((p) => readFileSync(`/proc/${p}/cmdline`, "utf8").includes("python") || !alive(p))).toBe(true)
    const deadline = Date.now() + 10_000
    while (python.some(alive) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 200))
    expect(python.filter(alive)).toEqual([])
  }, 120_000)

  it("two CLI runs on one store at once both finish, each with all its rows", async () => {
    const dir = workdir()
    const store = join(dir, "pq.db")
    const [a, b] = await Promise.all([0, 1].map(() => cli(["run", fixture("echo-pair.yaml"), "--json", "--no-report", "--force", "--store", store], dir)))
    expect([a!.code, b!.code]).toEqual([0, 0])
    const s = RunStore.open(store)
    const runs = s.listRuns()
    expect(runs.length).toBe(2)
    for (const run of runs) {
      expect(run.status).toBe("succeeded")
      const steps = s.getSteps(run.id)
      expect(steps.map((x) => [x.stepId, x.status, (x.outputs as { echo: { message: string } }).echo.message])).toEqual([
        ["one", "succeeded", "one"],
        ["two", "succeeded", "two"],
        ["three", "succeeded", "three"]
      ])
      const events = s.events(run.id)
      expect(events.filter((e) => e.type === "step-finished").length).toBe(3)
      expect(events.at(-1)?.type).toBe("run-finished")
    }
    s.close()
  }, 120_000)
})

/** A tiny tmpfs (needs root and mount); undefined where the environment cannot make one. */
const tinyDisk = (): string | undefined => {
  const mnt = mkdtempSync(join(tmpdir(), "pq-full-"))
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=4m", "tmpfs", mnt], { stdio: "ignore" })
    return mnt
  } catch {
    rmSync(mnt, { recursive: true, force: true })
    return undefined
  }
}
const unmount = (mnt: string): void => {
  execFileSync("umount", ["-l", mnt], { stdio: "ignore" })
  rmSync(mnt, { recursive: true, force: true })
}
/** whether this environment can mount a tmpfs (probed once: mounted and unmounted at collection) */
const canMount = ((): boolean => {
  if (!hasPython || process.platform !== "linux") return false
  const probe = tinyDisk()
  if (probe) unmount(probe)
  return probe !== undefined
})()

describe.skipIf(!canMount)("reliability: a full disk (a 4 MiB tmpfs; skipped where mount -t tmpfs is not allowed)", () => {
  it("a store write that fails mid-run fails the step with a clear StoreWriteError, leaves no half-written rows, and resume finishes", async () => {
    const mnt = tinyDisk()!
    try {
      const store = join(mnt, "pq.db")
      const first = await cli(["run", fixture("echo-pair.yaml"), "--json", "--no-report", "--store", store], mnt)
      expect(first.code).toBe(0)
      // fill what is left of the disk once the run's first step has finished: the next writes fail
      const fill = (): void => {
        mkdirSync(join(mnt, "fill"))
        try {
          for (let i = 0; ; i++) writeFileSync(join(mnt, "fill", String(i)), Buffer.alloc(16 * 1024, 1))
        } catch (e) {
          expect((e as NodeJS.ErrnoException).code).toBe("ENOSPC")
        }
      }
      let filled = false
      const full = await cli(["run", fixture("chain.yaml"), "--json", "--no-report", "--store", store], mnt, (events) => {
        if (!filled && events.some((e) => e.type === "step-finished")) {
          filled = true
          fill()
        }
        return false
      })
      expect(filled).toBe(true)
      if (process.env.PQ_REL_VERBOSE) process.stderr.write(`full disk: exit ${full.code} ${full.signal}: ${full.stderr}\n${full.stdout.slice(-1500)}\n`)
      expect(full.code).toBe(1)
      // --json: the error travels in the events, naming the store write that failed and why
      const failedWrites = jsonEvents(full.stdout).filter((e) => e.type === "step-finished" && e.status === "failed")
      expect(failedWrites.length).toBeGreaterThan(0)
      expect(failedWrites[0]).toMatchObject({ error: { type: "StoreWriteError", message: expect.stringMatching(/run store: .* failed: database or disk is full/) } })
      const runId = (jsonEvents(full.stdout).find((e) => e.type === "run-started") as { runId: string }).runId
      rmSync(join(mnt, "fill"), { recursive: true })
      const s = RunStore.open(store)
      const runs = s.listRuns()
      for (const run of runs) {
        const events = s.events(run.id)
        for (const step of s.getSteps(run.id)) {
          if (step.status === "succeeded") {
            // a succeeded row has its outputs and its step-finished event
            expect(step.outputs, `${run.id}/${step.stepId}`).toBeTruthy()
            expect(events.some((e) => e.type === "step-finished" && e.stepId === step.stepId)).toBe(true)
          }
        }
      }
      s.close()
      // with space again, resume finishes the run and every step has its outputs
      const resumed = await cli(["resume", runId, "--json", "--no-report", "--store", store], mnt)
      expect(resumed.code, resumed.stdout.slice(-2000)).toBe(0)
      const t = RunStore.open(store)
      expect(t.getRun(runId)?.status).toBe("succeeded")
      expect(t.getSteps(runId).map((x) => x.status)).toEqual(["succeeded", "succeeded", "succeeded", "succeeded", "succeeded"])
      t.close()
      const check = execFileSync("node", ["-e", `const D=require(${JSON.stringify(join(root, "node_modules", "better-sqlite3"))});console.log(new D(${JSON.stringify(store)}).pragma("integrity_check",{simple:true}))`]).toString()
      expect(check.trim()).toBe("ok")
    } finally {
      unmount(mnt)
    }
  }, 120_000)
})
