/** What every part of a running plan shares: the run, the store, the clock, the stop signal, the outcomes so far. */
import type { Plan } from "../plan/types.js"
import type { PythonRuntimeService } from "../python/PythonRuntime.js"
import type { RunStore, StepRecord } from "../store/RunStore.js"
import type { StoreService } from "../store/Store.js"
import type { Recorder } from "./recorder.js"
import type { StepOutcome, StepsState } from "./state.js"
import type { StopSignal } from "./StopSignal.js"
import type { Effect } from "effect"
import type { KernelCallError } from "../python/errors.js"
import type { WorkerFacts } from "./workerFacts.js"

export interface RunContext extends Recorder {
  readonly plan: Plan
  readonly runId: string
  readonly store: StoreService
  readonly db: RunStore
  readonly runtime: PythonRuntimeService
  readonly now: () => number
  readonly stop: StopSignal
  /** rerun steps even when the cache holds their outputs */
  readonly force: boolean
  /** the workflow file's folder: relative corpus files and model dirs are resolved from it */
  readonly baseDir: string
  readonly runDir: string
  /** the steps of the run being resumed, as stored (empty for a new run) */
  readonly previous: ReadonlyMap<string, StepRecord>
  /** outcomes of finished steps (a step's needs are in it before it runs) */
  readonly outcomes: ReadonlyMap<string, StepOutcome>
  /** `steps.<id>` as conditions and custom steps see it, now */
  readonly stepsState: () => StepsState
  /** the worker's libraries and CUDA for cache keys, asked once per run; absent: keys without them */
  readonly workerFacts?: Effect.Effect<WorkerFacts, KernelCallError>
}
