/**
 * `polyquant runs [--store PATH] [--limit N] [--json]`: the stored runs, newest first. A run
 * stored as running whose process is gone shows as `interrupted (process 1234 is gone)`; one run
 * from another host shows as running there, with its last event (src/store/liveness.ts).
 */
import { ownerJson, runLiveness, statusText } from "../../store/liveness.js"
import { ExitCode } from "../command.js"
import { parseFlagsOrReport } from "../flags.js"
import { openStoreForCli } from "../store.js"
import { table } from "./index.js"

export const run = async (args: ReadonlyArray<string>): Promise<number> => {
  const parsed = parseFlagsOrReport(table.runs, args)
  if (parsed === undefined) return ExitCode.invalidInput
  const { values } = parsed
  const store = openStoreForCli("runs", values.store)
  if (store === undefined) return ExitCode.invalidInput
  try {
    const runs = store.listRuns(values.limit).map((r) => {
      const steps = store.getSteps(r.id)
      const count = (status: string) => steps.filter((s) => s.status === status).length
      const liveness = runLiveness(r, store.lastActivity(r.id))
      return {
        id: r.id,
        workflow: r.workflow,
        status: liveness.status,
        recordedStatus: liveness.recordedStatus,
        ...(liveness.note !== undefined ? { note: liveness.note } : {}),
        owner: ownerJson(r, liveness),
        lastActivity: new Date(liveness.lastActivity).toISOString(),
        started: new Date(r.createdAt).toISOString(),
        durationMs: r.finishedAt !== null ? r.finishedAt - r.createdAt : null,
        steps: steps.length,
        succeeded: count("succeeded"),
        cached: count("cached"),
        failed: count("failed"),
        skipped: count("skipped"),
        deferred: count("deferred")
      }
    })
    if (values.json) {
      process.stdout.write(JSON.stringify(runs) + "\n")
      return ExitCode.ok
    }
    if (runs.length === 0) {
      process.stdout.write(`no runs in ${store.path}\n`)
      return ExitCode.ok
    }
    const header = ["run", "workflow", "status", "started (UTC)", "steps: ok cached failed skipped deferred"]
    const rows = runs.map((r) => [
      r.id,
      r.workflow,
      statusText(r),
      r.started.slice(0, 19).replace("T", " "),
      `${r.steps}: ${r.succeeded} ${r.cached} ${r.failed} ${r.skipped} ${r.deferred}`
    ])
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? "").length)))
    for (const row of [header, ...rows]) process.stdout.write(row.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ").trimEnd() + "\n")
    return ExitCode.ok
  } finally {
    store.close()
  }
}
