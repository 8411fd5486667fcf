/**
 * `--plain`: one readable line per event, no colours and no cursor movement, for CI logs and
 * notebook cells. `--json`: each RunEvent as one JSON line (its schema is docs/events.md).
 */
import type { RunEvent } from "../engine/events.js"
import { describeBranch, etaMs, formatDuration, formatEstimate, formatHours, formatNumber, statusIcon } from "./format.js"
import { headline } from "./headline.js"
import { languageRows } from "./languages.js"
import { emptyRun, reduce, statusCounts, type RunView } from "./state.js"
import type { Renderer, RendererOptions } from "./types.js"

const clock = (t: number): string => new Date(t).toISOString().slice(11, 19)

const rowsLine = (output: unknown): string | undefined => {
  const rows = languageRows(output)
  if (rows.length === 0) return undefined
  return rows
    .map((r) =>
      r.degradation !== undefined
        ? `${r.language} d=${formatEstimate(r.degradation, "percent")}`
        : r.premium !== undefined && r.baseline === undefined
          ? `${r.language} premium=${formatNumber(r.premium)}×`
          : `${r.language} ppl=${formatNumber(r.baseline)}${r.bitsPerByte !== undefined ? ` bpb=${formatNumber(r.bitsPerByte)}` : ""}`
    )
    .join("; ")
}

/** The plain line for one event, given the state before it (for durations, ETA, branch values). */
export const plainLine = (event: RunEvent, before: RunView): string | undefined => {
  switch (event.type) {
    case "run-started": {
      const budgets = event.budgets.map((b) => `${b.platform} ${formatHours(b.usedHours)}/${formatHours(b.limitHours)} per ${b.window}`)
      return `run ${event.runId} ${event.resumed ? "resumed" : "started"}: workflow ${event.workflow} (${event.file}), ${event.steps.length} steps on ${event.platform}${budgets.length ? `; budgets ${budgets.join(", ")}` : ""}`
    }
    case "step-started":
      return `${event.stepId} started${event.attempt > 1 ? ` (attempt ${event.attempt})` : ""}`
    case "step-progress": {
      const step = before.steps.find((s) => s.id === event.stepId)
      const since = step?.progress?.since ?? step?.startedAt
      const eta = since !== undefined ? etaMs(event.done, event.total, since, event.t) : undefined
      const pct = event.total > 0 ? ` ${Math.round((100 * event.done) / event.total)}%` : ""
      return `${event.stepId} ${formatNumber(event.done, 0)}/${formatNumber(event.total, 0)} ${event.unit}${pct}${eta !== undefined ? ` eta ${formatDuration(eta)}` : ""}${event.message ? ` ${event.message}` : ""}`
    }
    case "step-partial": {
      const rows = rowsLine(event.result)
      return rows === undefined ? undefined : `${event.stepId} partial: ${rows}`
    }
    case "step-checkpoint":
      return `${event.stepId} checkpoint saved`
    case "log":
      return `${event.level === "info" ? "" : `${event.level}: `}${event.stepId ? `${event.stepId}: ` : ""}${event.message}`
    case "branch-decided": {
      const outputsOf = (id: string) => before.steps.find((s) => s.id === id)?.outputs
      return `branch ${describeBranch(event, outputsOf)}`
    }
    case "step-deferred":
      return `${event.stepId} deferred: ${event.reason}`
    case "step-finished": {
      const parts = [`${statusIcon[event.status]} ${event.stepId} ${event.status} in ${formatDuration(event.durationMs)}`]
      if (event.reason) parts.push(`(${event.reason})`)
      if (event.error) parts.push(`${event.error.type}: ${event.error.message}`)
      const uses = before.steps.find((s) => s.id === event.stepId)?.uses ?? ""
      const gist = headline(uses, event.outputs)
      if (gist) parts.push(`— ${gist}`)
      const rows = rowsLine(event.outputs)
      if (rows) parts.push(`— ${rows}`)
      return parts.join(" ")
    }
    case "budget":
      return `budget ${event.budgets.map((b) => `${b.platform} ${formatHours(b.usedHours)} used, ${formatHours(Math.max(0, b.limitHours - b.usedHours))} left per ${b.window}`).join("; ")}`
    case "run-finished": {
      const after = reduce(before, event)
      const counts = Object.entries(statusCounts(after))
        .map(([k, n]) => `${n} ${k}`)
        .join(", ")
      return `run ${event.runId} ${event.status} in ${formatDuration(event.durationMs)} (${counts})${event.reportPath ? `; report ${event.reportPath}` : ""}`
    }
  }
}

export class PlainRenderer implements Renderer {
  private state: RunView = emptyRun
  private readonly out: NodeJS.WritableStream
  private readonly timestamps: boolean
  constructor(options: RendererOptions = {}) {
    this.out = options.stdout ?? process.stdout
    this.timestamps = options.timestamps ?? true
  }
  handle(event: RunEvent): void {
    const line = plainLine(event, this.state)
    this.state = reduce(this.state, event)
    if (line === undefined) return
    const oneLine = line.replace(/\r?\n/g, " ⏎ ")
    this.out.write(`${this.timestamps ? `${clock(event.t)} ` : ""}${oneLine}\n`)
  }
  close(): Promise<void> {
    return Promise.resolve()
  }
}

export class JsonRenderer implements Renderer {
  private readonly out: NodeJS.WritableStream
  constructor(options: RendererOptions = {}) {
    this.out = options.stdout ?? process.stdout
  }
  handle(event: RunEvent): void {
    this.out.write(JSON.stringify(event) + "\n")
  }
  close(): Promise<void> {
    return Promise.resolve()
  }
}
