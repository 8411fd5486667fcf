/** `polyquant replay EVENTS.jsonl`: watch a recorded run again in the dashboard, as plain lines or JSON. */
import { ExitCode } from "../command.js"
import { parseFlagsOrReport } from "../flags.js"
import { table } from "./index.js"
import { createRenderer, pickMode } from "../../ui/index.js"
import { EventsFileInvalidError, readEvents, replay } from "../../ui/replay.js"

export const run = async (args: ReadonlyArray<string>): Promise<number> => {
  const parsed = parseFlagsOrReport(table.replay, args)
  if (parsed === undefined) return ExitCode.invalidInput
  const { values, positionals } = parsed
  const file = positionals[0]
  if (file === undefined) {
    process.stderr.write("polyquant replay: give one events file (JSON lines of RunEvents)\n")
    return ExitCode.invalidInput
  }
  const speed = values.speed
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
