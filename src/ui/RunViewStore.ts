/**
 * A tiny external store that folds RunEvents into a RunView and notifies subscribers; the Ink
 * app reads it with `useSyncExternalStore`, so events may arrive from outside React at any rate.
 */
import type { RunEvent } from "../engine/events.js"
import { emptyRun, reduce, type RunView } from "./state.js"

export class RunViewStore {
  private view: RunView = emptyRun
  private readonly listeners = new Set<() => void>()
  push(event: RunEvent): void {
    this.view = reduce(this.view, event)
    for (const l of this.listeners) l()
  }
  readonly subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }
  readonly getSnapshot = (): RunView => this.view
}
