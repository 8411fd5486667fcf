/**
 * Stopping a run. The first request lets the running kernel checkpoint and end itself (the engine
 * writes the step's stop file, which the kernel polls); a forced request ends the kernel call at
 * once, which stops its worker. Steps not yet started do not start.
 */
import { writeFileSync } from "node:fs"
import { Deferred, Effect } from "effect"
import { Interrupted } from "./errors.js"

export interface StopSignal {
  readonly requested: boolean
  readonly forced: boolean
  request(options?: { force?: boolean }): void
  onRequest(listener: (force: boolean) => void): () => void
}

export const makeStopSignal = (): StopSignal => {
  const listeners = new Set<(force: boolean) => void>()
  const signal = {
    requested: false,
    forced: false,
    request(options?: { force?: boolean }) {
      const force = options?.force === true
      // a second plain request changes nothing; a forced one after a plain one still forces
      if (signal.requested && (!force || signal.forced)) return
      signal.requested = true
      signal.forced = signal.forced || force
      for (const l of [...listeners]) l(force)
    },
    onRequest(listener: (force: boolean) => void) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    }
  }
  return signal
}

/**
 * Run a kernel call under the signal: a request (now or during the call) writes `stopPath`; a
 * forced request fails the call with Interrupted, interrupting its fiber.
 */
export const underStop = <A, E>(stop: StopSignal, stepId: string, stopPath: string, call: Effect.Effect<A, E>): Effect.Effect<A, E | Interrupted> =>
  Effect.gen(function* () {
    const unsubscribe = stop.onRequest(() => {
      try {
        writeFileSync(stopPath, "")
      } catch {
        // the run folder is gone: the forced stop still ends the worker
      }
    })
    if (stop.requested) writeFileSync(stopPath, "")
    const forced = yield* Deferred.make<void>()
    const unsubscribeForce = stop.onRequest((force) => {
      if (force) Effect.runSync(Deferred.succeed(forced, undefined))
    })
    const forcedStop = Deferred.await(forced).pipe(Effect.zipRight(Effect.fail(new Interrupted({ stepId }))))
    return yield* Effect.raceFirst(call, forcedStop).pipe(
      Effect.ensuring(
        Effect.sync(() => {
          unsubscribe()
          unsubscribeForce()
        })
      )
    )
  })
