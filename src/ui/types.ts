/**
 * The renderer contract the engine codes against: `createRenderer(mode, options)` returns a sink
 * for RunEvents. Every view (Ink dashboard, plain lines, JSON lines) implements this one shape.
 */
import type { RunEvent } from "../engine/events.js"

export type RenderMode = "ink" | "plain" | "json"

export interface RendererOptions {
  /** where output goes (default process.stdout) */
  readonly stdout?: NodeJS.WriteStream
  /** where keys come from, Ink only (default process.stdin) */
  readonly stdin?: NodeJS.ReadStream
  /**
   * The user asked to stop: `q` or Ctrl-C in the dashboard, or SIGINT in any mode. Called once per
   * request; the engine should ask the running kernel to checkpoint and stop, then exit 130.
   * A second request while stopping is passed with `force: true`.
   */
  readonly onStop?: (request: { readonly reason: "key" | "signal"; readonly force: boolean }) => void
  /** install a SIGINT handler that calls onStop (default true when onStop is given) */
  readonly handleSignals?: boolean
  /** clock for elapsed time and ETA (default Date.now); tests pass a fixed one */
  readonly now?: () => number
  /** lines of log kept in the dashboard's tail (default 5) */
  readonly logLines?: number
  /** plain mode: prefix each line with the time of day (default true) */
  readonly timestamps?: boolean
}

export interface Renderer {
  /** show one event; never throws on a well-formed RunEvent */
  handle(event: RunEvent): void
  /** flush, restore the terminal and release stdin; resolves once everything is written */
  close(): Promise<void>
}
