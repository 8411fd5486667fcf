/**
 * `polyquant show RUN [--store PATH] [--json]`: a stored run's steps (status, duration, attempts,
 * cache hits), an outputs summary per step, its branch decisions with the values that decided
 * them, and why steps were skipped or deferred. A run stored as running whose process is gone
 * shows as interrupted, and so do its steps stored as running (src/store/liveness.ts).
 */
import { ownerJson, runLiveness, statusText } from "../../store/liveness.js"
import type { StepRecord } from "../../store/RunStore.js"
import { ExitCode } from "../command.js"
import { parseFlagsOrReport } from "../flags.js"
import { findRunForCli, openStoreForCli } from "../store.js"
import { table } from "./index.js"

const seconds = (ms: number | null): string => (ms === null ? "" : ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`)

/** A short line for a step's outputs: scalar fields as key=value, nested ones by their size. */
export const outputsSummary = (outputs: unknown, width = 100): string => {
  if (outputs === undefined || outputs === null) return ""
  if (typeof outputs !== "object") return String(outputs)
  const parts = Object.entries(outputs as Record<string, unknown>).map(([k, v]) => {
    if (v === null || typeof v !== "object") return `${k}=${typeof v === "number" && !Number.isInteger(v) ? v.toPrecision(4) : String(v)}`
    if (Array.isArray(v)) return `${k}[${v.length}]`
    const o = v as Record<string, unknown>
    if ("value" in o && (typeof o["value"] === "number" || o["value"] === null)) return `${k}=${typeof o["value"] === "number" ? (o["value"] as number).toPrecision(4) : "null"}`
    return `${k}{${Object.keys(o).slice(0, 6).join(",")}${Object.keys(o).length > 6 ? ",…" : ""}}`
  })
  const line = parts.join(" ")
  return line.length > width ? `${line.slice(0, width - 1)}…` : line
}

const stepLine = (s: StepRecord): string =>
  [s.stepId.padEnd(24), s.status.padEnd(11), seconds(s.durationMs).padStart(9), s.attempts > 1 ? ` ${s.attempts} attempts` : ""].join(" ")

export const run = async (args: ReadonlyArray<string>): Promise<number> => {
  const parsed = parseFlagsOrReport(table.show, args)
  if (parsed === undefined) return ExitCode.invalidInput
  const { values, positionals } = parsed
  const store = openStoreForCli("show", values.store)
  if (store === undefined) return ExitCode.invalidInput
  try {
    const record = findRunForCli("show", store, positionals[0])
    if (record === undefined) return ExitCode.invalidInput
    const liveness = runLiveness(record, store.lastActivity(record.id))
    // a step the dead process was running will not finish either; what the store holds stays in recordedStatus
    const steps = store
      .getSteps(record.id)
      .map((s) => (liveness.owner?.kind === "gone" && s.status === "running" ? { ...s, status: "interrupted" as const, recordedStatus: s.status } : s))
    const branches = store.branches(record.id)
    if (values.json) {
      const run = {
        ...record,
        plan: undefined,
        status: liveness.status,
        recordedStatus: liveness.recordedStatus,
        ...(liveness.note !== undefined ? { note: liveness.note } : {}),
        owner: ownerJson(record, liveness),
        lastActivity: liveness.lastActivity
      }
      process.stdout.write(JSON.stringify({ run, steps, branches, ledger: store.ledger(record.id) }) + "\n")
      return ExitCode.ok
    }
    const out: string[] = []
    out.push(`run ${record.id}  ${record.workflow} (${record.file})  ${statusText(liveness)}`)
    out.push(`started ${new Date(record.createdAt).toISOString()}${record.finishedAt !== null ? `, took ${seconds(record.finishedAt - record.createdAt)}` : ""}, platform ${record.platform}`)
    out.push("")
    out.push("steps")
    for (const s of steps) {
      out.push(`  ${stepLine(s)}`)
      const summary = outputsSummary(s.outputs)
      if (summary) out.push(`      outputs: ${summary}`)
      if (s.reason) out.push(`      ${s.status === "cached" ? "from" : "why"}: ${s.reason}`)
      if (s.error) out.push(`      error: ${s.error.type}: ${s.error.message.split("\n")[0]}`)
    }
    if (branches.length > 0) {
      out.push("")
      out.push("branch decisions")
      for (const b of branches) {
        const vals = Object.entries(b.values).map(([k, v]) => `${k} = ${JSON.stringify(v)}`).join(", ")
        out.push(`  ${b.stepId}: ${b.expression} → ${b.result}${vals ? `  (${vals})` : ""}`)
      }
    }
    const ledger = store.ledger(record.id)
    if (ledger.length > 0) {
      out.push("")
      out.push("budget charged")
      for (const e of ledger) out.push(`  ${e.platform}: ${(e.seconds / 3600).toFixed(4)} h (${e.stepId ?? "-"})`)
    }
    process.stdout.write(out.join("\n") + "\n")
    return ExitCode.ok
  } finally {
    store.close()
  }
}
