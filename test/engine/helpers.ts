/** Hand-written plans and a scripted PythonRuntime for engine tests (no Python). */
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Layer } from "effect"
import type { RunEvent } from "../../src/engine/events.js"
import { runPlan, type EngineOptions, type RunResult } from "../../src/engine/Engine.js"
import type { Plan, PlannedStep } from "../../src/plan/types.js"
import { PythonRuntime, type CallOptions } from "../../src/python/PythonRuntime.js"
import type { KernelCallError } from "../../src/python/errors.js"
import { makeStoreService, Store } from "../../src/store/Store.js"
import { RunStore } from "../../src/store/RunStore.js"

export const tmp = (): string => mkdtempSync(join(tmpdir(), "pq-engine-"))

export const step = (id: string, uses: string, extra: Partial<PlannedStep> = {}): PlannedStep => ({
  id,
  baseId: id,
  uses,
  kernelVersion: "1",
  with: {},
  needs: [],
  platform: "local",
  retry: { max: 0, on: [] },
  continueOnError: false,
  gpu: false,
  checkpoints: false,
  source: { file: "wf.yaml", line: 1, column: 1 },
  ...extra
})

export const makePlan = (dir: string, steps: PlannedStep[], budgets: Plan["budgets"] = []): Plan => ({
  workflow: { name: "test", file: join(dir, "wf.yaml"), digest: "d" },
  steps,
  stages: [steps.map((s) => s.id)],
  budgets
})

export type Script = (params: Record<string, unknown>, options: CallOptions, callIndex: number) => Effect.Effect<unknown, KernelCallError>

/** A PythonRuntime whose kernels are functions; records every call. */
export const scriptedRuntime = (scripts: Record<string, Script>) => {
  const calls: Array<{ kernel: string; params: Record<string, unknown>; options: CallOptions }> = []
  const layer = Layer.succeed(PythonRuntime, {
    call: (kernel: string, params: unknown, options: CallOptions = {}) =>
      Effect.suspend(() => {
        calls.push({ kernel, params: params as Record<string, unknown>, options })
        const script = scripts[kernel]
        if (!script) return Effect.die(new Error(`no script for ${kernel}`))
        return script(params as Record<string, unknown>, options, calls.filter((c) => c.kernel === kernel).length)
      }),
    worker: Effect.succeed({ pid: 1, python: "3", interpreter: "python", logPath: "", bridgeTimeoutMs: 0 }),
    stop: Effect.void
  })
  return { layer, calls }
}

export const run = (db: RunStore, plan: Plan, runtime: Layer.Layer<PythonRuntime>, options: EngineOptions = {}): Promise<{ result: RunResult; events: RunEvent[] }> => {
  const events: RunEvent[] = []
  return Effect.runPromise(
    runPlan(plan, { ...options, onEvent: (e) => { events.push(e); options.onEvent?.(e) } }).pipe(
      Effect.provide(runtime),
      Effect.provideService(Store, makeStoreService(db))
    )
  ).then((result) => ({ result, events }))
}
