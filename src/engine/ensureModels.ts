/**
 * Models first: each model a Python step loads is made available before the step is prepared,
 * since a `fixture:*` must exist before it can be fingerprinted for the cache key.
 */
import { existsSync } from "node:fs"
import { join } from "node:path"
import { Effect } from "effect"
import type { ModelSpec } from "../kernels/common.js"
import type { PlannedStep } from "../plan/types.js"
import { PythonRuntime, type WorkerEvent } from "../python/PythonRuntime.js"
import type { RunContext } from "./context.js"
import { ModelUnavailableError } from "./errors.js"
import { localModelDir } from "../model/facts.js"

/** Make a model available (e.g. train a `fixture:*`), reporting progress as worker events. */
export type EnsureModel = (spec: ModelSpec, onEvent: (event: WorkerEvent) => void) => Effect.Effect<unknown, unknown, PythonRuntime>

export const ensureModels = (ctx: RunContext, step: PlannedStep, models: ReadonlyArray<ModelSpec>, ensureModel: EnsureModel): Effect.Effect<void, ModelUnavailableError> =>
  Effect.gen(function* () {
    const { runId, now, emit } = ctx
    for (const spec of models) {
      const dir = localModelDir(spec.id, ctx.baseDir)
      if (spec.id.startsWith("fixture:") && dir !== undefined && !existsSync(join(dir, "config.json"))) {
        emit({ type: "log", runId, t: now(), stepId: step.id, level: "info", message: `training ${spec.id} on first use (about a minute on two CPU cores)` })
      }
      const progress = (e: WorkerEvent): void => {
        if (e.type === "progress") emit({ type: "step-progress", runId, t: now(), stepId: step.id, done: e.done, total: e.total, unit: e.unit, message: `preparing ${spec.id}${e.message ? `: ${e.message}` : ""}` })
      }
      yield* ensureModel(spec, progress).pipe(
        Effect.provideService(PythonRuntime, ctx.runtime),
        Effect.mapError((e) => new ModelUnavailableError({ model: spec.id, reason: e instanceof Error ? e.message : String(e) }))
      )
    }
  })
