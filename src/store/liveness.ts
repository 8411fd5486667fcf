/**
 * Is a stored `running` run really running? A run records its owner (pid, host, and the
 * process's start identity) when it starts or is resumed. A CLI killed with SIGKILL, or a machine
 * that died, leaves the row `running` with nobody behind it. This module is the one place that
 * decides, from the recorded owner and this host's process table, whether the owner is alive,
 * gone, or on another host (whose pids mean nothing here), and what `runs`, `show` and `resume`
 * make of that.
 *
 * `runs` and `show` show their verdict and never write it. The verdict depends on where one looks
 * from (another host cannot tell) and can be wrong where a pid is not what it seems (another pid
 * namespace with the same hostname, a pid reused on a system without start identities), so it is
 * a reading, not history. The stored status changes only when a process takes the run over
 * (`resume`, through RunStore.claimRun), and that takeover is recorded by the resume itself.
 */
import { readFileSync } from "node:fs"
import { hostname } from "node:os"
import type { RunStatus } from "../engine/events.js"
import { RunBusyError } from "./errors.js"

/** The process that runs (or last ran) a run. */
export interface RunOwner {
  readonly pid: number
  readonly host: string
  /** Linux: `<boot id>/<start time in clock ticks>`, so that a reused pid is not taken for the owner; null elsewhere */
  readonly start: string | null
}

/** What this host can learn about a process. Tests substitute their own. */
export interface ProcessProbe {
  /** this host's name (as `os.hostname()` gives it) */
  readonly host: string
  /** whether a process with this pid exists and has not exited (a zombie has exited) */
  exists(pid: number): boolean
  /** the process's start identity (see RunOwner.start), or null where the system does not tell */
  startOf(pid: number): string | null
}

export type OwnerState =
  /** on this host, and the same process is still there */
  | { readonly kind: "alive"; readonly owner: RunOwner }
  /** on this host, and no process has that pid, or another process does now (`reused`) */
  | { readonly kind: "gone"; readonly owner: RunOwner; readonly reused: boolean }
  /** on another host: its pids cannot be checked from here */
  | { readonly kind: "elsewhere"; readonly owner: RunOwner }
  /** no owner recorded (a run stored before owners were) */
  | { readonly kind: "unknown" }

/** `/proc/<pid>/stat` from the third field on (state, ppid, ...), or undefined where there is none. */
const procStat = (pid: number | "self"): string[] | undefined => {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8")
    return text.slice(text.lastIndexOf(")") + 2).split(" ") // the command name may hold spaces and parentheses
  } catch {
    return undefined
  }
}

let bootId: string | undefined
const readBootId = (): string => {
  if (bootId === undefined) {
    try {
      bootId = readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim()
    } catch {
      bootId = ""
    }
  }
  return bootId
}

/** The real process table of this host. */
export const systemProbe: ProcessProbe = {
  get host() {
    return hostname()
  },
  exists(pid) {
    if (!Number.isInteger(pid) || pid <= 0) return false // kill(0 or -n) would signal a process group
    try {
      process.kill(pid, 0)
    } catch (error) {
      // ESRCH: no such process; EPERM: it exists but belongs to another user
      if ((error as NodeJS.ErrnoException).code === "ESRCH") return false
    }
    const state = procStat(pid)?.[0]
    return state !== "Z" && state !== "X" // killed but not yet reaped by its parent: gone all the same
  },
  startOf(pid) {
    const starttime = procStat(pid)?.[19] // field 22 of proc(5)
    return starttime === undefined ? null : `${readBootId()}/${starttime}`
  }
}

/** This process, as a run's owner. */
export const thisProcess = (probe: ProcessProbe = systemProbe): RunOwner => ({ pid: process.pid, host: probe.host, start: probe.startOf(process.pid) })

/** Whether a run's recorded owner is alive, gone, or on another host. */
export const judgeOwner = (owner: RunOwner | null, probe: ProcessProbe = systemProbe): OwnerState => {
  if (owner === null) return { kind: "unknown" }
  if (owner.host !== probe.host) return { kind: "elsewhere", owner }
  if (!probe.exists(owner.pid)) return { kind: "gone", owner, reused: false }
  if (owner.start !== null) {
    const start = probe.startOf(owner.pid)
    if (start !== null && start !== owner.start) return { kind: "gone", owner, reused: true }
  }
  return { kind: "alive", owner }
}

/** A stored run as `runs`, `show` and `resume` should see it. */
export interface RunLiveness {
  /** the status to show: a `running` run whose owner is gone is `interrupted` */
  readonly status: RunStatus
  /** the status the store holds */
  readonly recordedStatus: RunStatus
  /** the owner's state; judged only for a run stored as `running` (a finished run has no live owner to ask about) */
  readonly owner: OwnerState | undefined
  /** for people: why `running` is not what it seems, or who runs it ("process 1234 is gone") */
  readonly note: string | undefined
  /** when the run last wrote anything (epoch ms): its last event, or its row's update */
  readonly lastActivity: number
}

const utc = (t: number): string => `${new Date(t).toISOString().slice(0, 19).replace("T", " ")} UTC`

const ago = (ms: number): string => {
  const s = Math.max(0, Math.round(ms / 1000))
  return s < 90 ? `${s} s ago` : s < 90 * 60 ? `${Math.round(s / 60)} min ago` : s < 48 * 3600 ? `${(s / 3600).toFixed(1)} h ago` : `${Math.round(s / 86400)} days ago`
}

export const runLiveness = (
  run: { readonly status: RunStatus; readonly owner: RunOwner | null },
  lastActivity: number,
  options: { readonly probe?: ProcessProbe; readonly now?: number } = {}
): RunLiveness => {
  const base = { recordedStatus: run.status, lastActivity }
  if (run.status !== "running") return { ...base, status: run.status, owner: undefined, note: undefined }
  const owner = judgeOwner(run.owner, options.probe)
  const now = options.now ?? Date.now()
  switch (owner.kind) {
    case "alive":
      return { ...base, status: "running", owner, note: `process ${owner.owner.pid}` }
    case "gone":
      return { ...base, status: "interrupted", owner, note: `process ${owner.owner.pid} is gone${owner.reused ? "; its pid belongs to another process now" : ""}` }
    case "elsewhere":
      return { ...base, status: "running", owner, note: `on host ${owner.owner.host}, process ${owner.owner.pid}; last event ${utc(lastActivity)}, ${ago(now - lastActivity)}` }
    case "unknown":
      return { ...base, status: "running", owner, note: "no owner recorded; it may have stopped" }
  }
}

/** `running (process 1234)`, `interrupted (process 1234 is gone)`, `succeeded`. */
export const statusText = (liveness: { readonly status: RunStatus; readonly note?: string | undefined }): string =>
  liveness.note === undefined ? liveness.status : `${liveness.status} (${liveness.note})`

/** The owner as JSON output shows it: `{pid, host, state}`, or null when none was recorded. */
export const ownerJson = (run: { readonly owner: RunOwner | null }, liveness: RunLiveness): { pid: number; host: string; state: OwnerState["kind"] | "finished" } | null =>
  run.owner === null ? null : { pid: run.owner.pid, host: run.owner.host, state: liveness.owner?.kind ?? "finished" }

/**
 * Why `resume` must not take a run over, or undefined when it may: the run is stored as running
 * and its owner is alive on this host, or is on another host (unless `takeover`). A run whose
 * owner is gone, or that has none recorded, is resumed as before.
 */
export const resumeRefusal = (runId: string, liveness: RunLiveness, options: { readonly takeover?: boolean } = {}): RunBusyError | undefined => {
  const owner = liveness.owner
  if (owner === undefined) return undefined
  if (owner.kind === "alive") return new RunBusyError({ runId, pid: owner.owner.pid, host: owner.owner.host, here: true, lastActivity: liveness.lastActivity })
  if (owner.kind === "elsewhere" && options.takeover !== true) return new RunBusyError({ runId, pid: owner.owner.pid, host: owner.owner.host, here: false, lastActivity: liveness.lastActivity })
  return undefined
}
