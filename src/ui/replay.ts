/**
 * Read a recorded RunEvent stream (JSON lines, as `--json` prints or the store's event log) and
 * play it through a renderer, keeping the recorded gaps between events (scaled by `speed`).
 */
import { readFileSync } from "node:fs"
import { Data } from "effect"
import { RunEvent } from "../engine/events.js"

/** An events file that cannot be read, or a line that is not a RunEvent: names the file and line. */
export class EventsFileInvalidError extends Data.TaggedError("EventsFileInvalidError")<{ readonly path: string; readonly line?: number; readonly reason: string }> {
  override get message(): string {
    return `${this.path}${this.line !== undefined ? `:${this.line}` : ""}: ${this.reason}`
  }
}

/** Parse a JSON-lines file of RunEvents; an invalid line is an error naming its line number. */
export const readEvents = (path: string): RunEvent[] => {
  let text: string
  try {
    text = readFileSync(path, "utf8")
  } catch (e) {
    throw new EventsFileInvalidError({ path, reason: `cannot read events file: ${(e as Error).message}` })
  }
  const events: RunEvent[] = []
  text.split("\n").forEach((line, i) => {
    if (line.trim() === "") return
    let raw: unknown
    try {
      raw = JSON.parse(line)
    } catch (e) {
      throw new EventsFileInvalidError({ path, line: i + 1, reason: `not JSON: ${(e as Error).message}` })
    }
    const parsed = RunEvent.safeParse(raw)
    if (!parsed.success) {
      const issue = parsed.error.issues[0]
      throw new EventsFileInvalidError({ path, line: i + 1, reason: `not a RunEvent: ${issue ? `${issue.path.join(".") || "(event)"}: ${issue.message}` : "invalid"}` })
    }
    events.push(parsed.data)
  })
  if (events.length === 0) throw new EventsFileInvalidError({ path, reason: "no events" })
  return events
}

export interface ReplayOptions {
  /** 1 = recorded pace, 10 = ten times faster, 0 = no waiting */
  readonly speed: number
  /** the longest wait between two events, in ms of wall time */
  readonly maxGapMs?: number
  readonly signal?: AbortSignal
}

/** Play events; resolves with the number handed to `handle` (fewer when aborted). */
export const replay = async (events: ReadonlyArray<RunEvent>, handle: (e: RunEvent) => void, options: ReplayOptions): Promise<number> => {
  let n = 0
  for (let i = 0; i < events.length; i++) {
    if (options.signal?.aborted) break
    const e = events[i]!
    const prev = events[i - 1]
    if (prev !== undefined && options.speed > 0) {
      const wait = Math.min(options.maxGapMs ?? 2000, Math.max(0, (e.t - prev.t) / options.speed))
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
      if (options.signal?.aborted) break
    }
    handle(e)
    n++
  }
  return n
}
