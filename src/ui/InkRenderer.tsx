/** The Ink renderer: events go into a RunViewStore, the App renders it; close() unmounts after the last frame. */
import { render, type Instance } from "ink"
import type { RunEvent } from "../engine/events.js"
import { App } from "./App.js"
import { RunViewStore } from "./RunViewStore.js"
import type { StopRequest } from "./hooks/useStopKeys.js"
import type { Renderer, RendererOptions } from "./types.js"

export class InkRenderer implements Renderer {
  private readonly store = new RunViewStore()
  private readonly instance: Instance
  private readonly stopListeners = new Set<() => void>()
  private closed = false
  constructor(options: RendererOptions = {}) {
    const onStop = options.onStop
    this.instance = render(
      <App
        store={this.store}
        clock={options.now ?? Date.now}
        {...(onStop ? { onStop: (r: StopRequest) => onStop(r) } : {})}
        stopSignal={{
          subscribe: (l) => {
            this.stopListeners.add(l)
            return () => this.stopListeners.delete(l)
          }
        }}
        {...(options.logLines !== undefined ? { logLines: options.logLines } : {})}
      />,
      {
        stdout: options.stdout ?? process.stdout,
        stdin: options.stdin ?? process.stdin,
        exitOnCtrlC: false,
        patchConsole: false
      }
    )
  }
  /** a stop requested outside the app (SIGINT): show it */
  markStopping(): void {
    for (const l of this.stopListeners) l()
  }
  handle(event: RunEvent): void {
    if (!this.closed) this.store.push(event)
  }
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    // let React commit the last events before unmounting, so the final frame is the summary
    await new Promise((resolve) => setTimeout(resolve, 50))
    this.instance.unmount()
    await this.instance.waitUntilExit()
    this.instance.cleanup()
  }
}
