/** `polyquant replay EVENTS.jsonl`: watch a recorded run again in the dashboard, as plain lines or JSON. */
import { parseArgs } from "node:util"
import { ExitCode, parseOrReport } from "../command.js"
import { createRenderer, pickMode } from "../../ui/index.js"
import { EventsFileInvalidError, readEvents, replay } from "../../ui/replay.js"

export const run = async (args: ReadonlyArray<string>): Promise<number> => {
  const parsed = parseOrReport("replay", () =>
    parseArgs({
      args: [...args],
      allowPositionals: true,
      options: {
        plain: { type: "boolean", default: false },
        json: { type: "boolean", default: false },
        speed: { type: "string", default: "1" }
      }
    })
  )
  if (parsed === undefined) return ExitCode.invalidInput
  const { values, positionals } = parsed
  const file = positionals[0]
  if (file === undefined || positionals.length > 1) {
    process.stderr.write("polyquant replay: give one events file (JSON lines of RunEvents)\n")
    return ExitCode.invalidInput
  }
  const speed = Number(values.speed)
  if (!Number.isFinite(speed) || speed < 0) {
    process.stderr.write(`polyquant replay: --speed must be a number ≥ 0, got '${values.speed}'\n`)
    return ExitCode.invalidInput
  }
  let events
  try {
    events = readEvents(file)
  } catch (e) {
    if (e instanceof EventsFileInvalidError) {
      process.stderr.write(`polyquant replay: ${e.message}\n`)
      return ExitCode.invalidInput
    }
    throw e
  }
  const abort = new AbortController()
  // the dashboard's clock follows the recording, so elapsed times and ETAs read as they did live
  let lastT = events[0]!.t
  let lastWall = Date.now()
  const now = () => lastT + (Date.now() - lastWall) * (speed > 0 ? speed : 1)
  const ui = createRenderer(pickMode(values), { now, onStop: () => abort.abort() })
  await replay(
    events,
    (e) => {
      lastT = e.t
      lastWall = Date.now()
      ui.handle(e)
    },
    { speed, signal: abort.signal }
  )
  if (abort.signal.aborted) {
    const last = events[events.length - 1]!
    ui.handle({ type: "run-finished", runId: last.runId, t: now(), status: "interrupted", durationMs: now() - events[0]!.t })
  }
  await ui.close()
  return abort.signal.aborted ? ExitCode.interrupted : ExitCode.ok
}
