/**
 * The one place that decides whether a stored `running` run has a live owner (src/store/liveness.ts):
 * the decision table with a scripted process table, then the real one (this process, a child that
 * exited, a zombie, pid 1), then what `runs`/`show` show and when `resume` refuses.
 */
import { spawn, spawnSync } from "node:child_process"
import { existsSync } from "node:fs"
import { hostname } from "node:os"
import { describe, expect, it } from "vitest"
import { judgeOwner, resumeRefusal, runLiveness, statusText, systemProbe, thisProcess, type ProcessProbe, type RunOwner } from "../../src/store/liveness.js"

/** A process table with the given pids (pid → start identity) on host `here`. */
const probeOf = (processes: Record<number, string | null>): ProcessProbe => ({
  host: "here",
  exists: (pid) => pid in processes,
  startOf: (pid) => processes[pid] ?? null
})

const owner = (pid: number, host = "here", start: string | null = "boot/100"): RunOwner => ({ pid, host, start })

/** The pid of a process that has exited and been reaped. */
const deadPid = (): number => {
  const child = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"])
  return Number(child.stdout.toString())
}

describe("judgeOwner: the decision", () => {
  const table = probeOf({ 10: "boot/100", 11: null })
  it.each([
    ["no owner recorded", null, "unknown"],
    ["alive, same start", owner(10), "alive"],
    ["no such pid", owner(12), "gone"],
    ["pid reused (another start)", owner(10, "here", "boot/999"), "gone"],
    ["start unknown when recorded: the pid alone decides", owner(10, "here", null), "alive"],
    ["start unknown now (no /proc): the pid alone decides", owner(11), "alive"],
    ["another host, even with a pid that is alive here", owner(10, "there"), "elsewhere"],
    ["another host, with a pid that is gone here", owner(12, "there"), "elsewhere"]
  ])("%s", (_name, recorded, kind) => {
    expect(judgeOwner(recorded, table).kind).toBe(kind)
  })

  it("says when the pid now belongs to another process", () => {
    expect(judgeOwner(owner(10, "here", "boot/999"), table)).toEqual({ kind: "gone", owner: owner(10, "here", "boot/999"), reused: true })
    expect(judgeOwner(owner(12), table)).toEqual({ kind: "gone", owner: owner(12), reused: false })
  })
})

describe("systemProbe: the real process table", () => {
  it("this process is alive and is its own owner; a reaped child is gone", () => {
    const me = thisProcess()
    expect(me).toMatchObject({ pid: process.pid, host: hostname() })
    expect(judgeOwner(me).kind).toBe("alive")
    const dead = deadPid()
    expect(systemProbe.exists(dead)).toBe(false)
    expect(judgeOwner({ ...me, pid: dead }).kind).toBe("gone")
  })

  it("never probes pid 0 or a negative pid (kill would signal a process group)", () => {
    expect(systemProbe.exists(0)).toBe(false)
    expect(systemProbe.exists(-1)).toBe(false)
    expect(systemProbe.exists(1.5)).toBe(false)
  })

  it("a process of another user (EPERM) or of this one counts as alive: pid 1", () => {
    expect(systemProbe.exists(1)).toBe(true)
  })

  it.skipIf(!existsSync("/proc/self/stat"))("Linux: the start identity tells a reused pid from the owner", () => {
    const me = thisProcess()
    expect(me.start).toMatch(/^[0-9a-f-]*\/\d+$/)
    expect(systemProbe.startOf(process.pid)).toBe(me.start)
    expect(judgeOwner({ ...me, start: `${me.start}0` })).toEqual({ kind: "gone", owner: { ...me, start: `${me.start}0` }, reused: true })
  })

  it.skipIf(!existsSync("/proc/self/stat"))("Linux: a killed process that its parent has not reaped yet (a zombie) is gone", async () => {
    // sh starts a child that exits at once, then becomes `sleep`, which never reaps it
    const parent = spawn("sh", ["-c", "sleep 0 & echo $!; exec sleep 30"], { stdio: ["ignore", "pipe", "ignore"] })
    try {
      const zombie = await new Promise<number>((resolve) => parent.stdout.once("data", (d: Buffer) => resolve(Number(d.toString().trim()))))
      const deadline = Date.now() + 5000
      while (systemProbe.exists(zombie) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
      expect(() => process.kill(zombie, 0)).not.toThrow() // kill(pid, 0) alone would call it alive
      expect(systemProbe.exists(zombie)).toBe(false)
    } finally {
      parent.kill("SIGKILL")
    }
  })
})

describe("runLiveness and resumeRefusal: what runs, show and resume make of it", () => {
  const table = probeOf({ 10: "boot/100" })
  const now = Date.UTC(2026, 10, 26, 14, 10, 0)
  const last = Date.UTC(2026, 10, 26, 14, 0, 0)

  it("a running run whose process is gone shows as interrupted; the stored status is kept apart", () => {
    const l = runLiveness({ status: "running", owner: owner(12) }, last, { probe: table, now })
    expect(l).toMatchObject({ status: "interrupted", recordedStatus: "running", note: "process 12 is gone", lastActivity: last })
    expect(statusText(l)).toBe("interrupted (process 12 is gone)")
    expect(resumeRefusal("r1", l)).toBeUndefined()
    expect(statusText(runLiveness({ status: "running", owner: owner(10, "here", "boot/7") }, last, { probe: table, now }))).toBe(
      "interrupted (process 10 is gone; its pid belongs to another process now)"
    )
  })

  it("a live owner on this host: running, and resume is refused naming the run and the pid, even with takeover", () => {
    const l = runLiveness({ status: "running", owner: owner(10) }, last, { probe: table, now })
    expect(statusText(l)).toBe("running (process 10)")
    const refusal = resumeRefusal("r1", l)
    expect(refusal?._tag).toBe("RunBusyError")
    expect(refusal?.message).toBe("run r1 is still running in process 10 on this host; stop that process first (Ctrl-C in its terminal, or kill 10), then resume the run")
    expect(resumeRefusal("r1", l, { takeover: true })?.message).toBe(refusal?.message)
  })

  it("an owner on another host is not judged by pids: running there, with its last event; resume needs --takeover", () => {
    const l = runLiveness({ status: "running", owner: owner(12, "colab-vm") }, last, { probe: table, now })
    expect(statusText(l)).toBe("running (on host colab-vm, process 12; last event 2026-11-26 14:00:00 UTC, 10 min ago)")
    expect(resumeRefusal("r1", l)?.message).toBe(
      "run r1 is running on host colab-vm (process 12, last event 2026-11-26 14:00:00 UTC), whose processes this host cannot see; " +
        "if that process or machine is gone, take the run over with `polyquant resume r1 --takeover`"
    )
    expect(resumeRefusal("r1", l, { takeover: true })).toBeUndefined()
  })

  it("a finished run is what the store says, whoever ran it; a run with no owner recorded resumes as before", () => {
    const done = runLiveness({ status: "succeeded", owner: owner(10) }, last, { probe: table, now })
    expect(done).toMatchObject({ status: "succeeded", owner: undefined, note: undefined })
    expect(statusText(done)).toBe("succeeded")
    expect(resumeRefusal("r1", runLiveness({ status: "interrupted", owner: owner(10) }, last, { probe: table, now }))).toBeUndefined()
    const old = runLiveness({ status: "running", owner: null }, last, { probe: table, now })
    expect(statusText(old)).toBe("running (no owner recorded; it may have stopped)")
    expect(resumeRefusal("r1", old)).toBeUndefined()
  })
})
