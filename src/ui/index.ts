/**
 * The views of a run. The engine calls `createRenderer(mode, options)` and feeds it every
 * RunEvent; `onStop` learns that the user pressed q or Ctrl-C (or sent SIGINT).
 *
 *   const ui = createRenderer(pickMode({ plain, json }), { onStop: () => engine.stop() })
 *   for await (const e of events) ui.handle(e)
 *   await ui.close()
 */
import type { RunEvent } from "../engine/events.js"
import { InkRenderer } from "./InkRenderer.js"
import { JsonRenderer, PlainRenderer } from "./plain.js"
import type { RenderMode, Renderer, RendererOptions } from "./types.js"

export type { RenderMode, Renderer, RendererOptions } from "./types.js"
export { plainLine } from "./plain.js"

/**
 * The mode for a command line: `--json` wins, then `--plain`; otherwise Ink on a TTY and plain
 * lines elsewhere (CI, a notebook cell, a pipe).
 */
export const pickMode = (flags: { readonly plain?: boolean; readonly json?: boolean }, stdout: { isTTY?: boolean } = process.stdout): RenderMode =>
  flags.json ? "json" : flags.plain || stdout.isTTY !== true || process.env["CI"] === "true" ? "plain" : "ink"

/** Wraps a renderer so SIGINT calls onStop (first press graceful, later ones forced) until close(). */
const withSignals = (inner: Renderer & { markStopping?: () => void }, options: RendererOptions): Renderer => {
  const onStop = options.onStop
  if (onStop === undefined || options.handleSignals === false) return inner
  let count = 0
  const onSigint = () => {
    count += 1
    inner.markStopping?.()
    onStop({ reason: "signal", force: count > 1 })
  }
  process.on("SIGINT", onSigint)
  return {
    handle: (e: RunEvent) => inner.handle(e),
    close: async () => {
      process.off("SIGINT", onSigint)
      await inner.close()
    }
  }
}

export const createRenderer = (mode: RenderMode, options: RendererOptions = {}): Renderer => {
  if (mode === "json") return withSignals(new JsonRenderer(options), options)
  if (mode === "plain") return withSignals(new PlainRenderer(options), options)
  return withSignals(new InkRenderer(options), options)
}
