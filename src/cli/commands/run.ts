/**
 * `polyquant run FILE [--set path=value]... [--force] [--plain|--json] [--store PATH]`:
 * load and plan the workflow, run it with the engine against the real Python runtime, show the
 * events (Ink on a terminal, plain lines otherwise, JSON lines with --json), and exit
 * 0 (done), 1 (a step failed), 2 (invalid input) or 130 (stopped).
 * `resume` (resume.ts) shares `execute`.
 */
import { join } from "node:path"
import { Effect, Either, Layer } from "effect"
import { pythonConcurrencyOf, resolveExecutor, type ExecutorFlags } from "../../engine/executor.js"
import { workerFactsFor } from "../../engine/workerFacts.js"
import { rayMissing } from "../../python/extras.js"
import { resolveInterpreter } from "../../python/interpreter.js"
import { runPlan, makeStopSignal, type LocalStep, type RunResult } from "../../engine/Engine.js"
import type { ModelSpec } from "../../kernels/common.js"
import type { Plan } from "../../plan/types.js"
import { plan as makePlan } from "../../plan/plan.js"
import { PythonRuntimeLive, type WorkerEvent } from "../../python/PythonRuntime.js"
import { ensureFixtureEffect } from "../../python/fixtures.js"
import { RunBusyError, RunNotFoundError, StoreOpenError } from "../../store/errors.js"
import { DEFAULT_STORE_PATH, RunStore } from "../../store/RunStore.js"
import { makeStoreService, Store } from "../../store/Store.js"
import { createRenderer, pickMode } from "../../ui/index.js"
import { loadWorkflow } from "../../workflow/loadWorkflow.js"
import type { Workflow } from "../../workflow/types.js"
import { ExitCode } from "../command.js"
import { parseFlagsOrReport } from "../flags.js"
import { storeWriteError } from "../store.js"
import { table } from "./index.js"

export const exitCodeOf = (result: RunResult): number =>
  result.status === "succeeded" ? ExitCode.ok : result.status === "interrupted" ? ExitCode.interrupted : ExitCode.stepFailed

/** The TypeScript steps of a DSL workflow, as the engine runs them (outputs checked by their schema). */
export const localSteps = (workflow: Workflow): Record<string, LocalStep> => {
  const local: Record<string, LocalStep> = {}
  for (const s of workflow.steps) {
    const custom = s.custom
    if (custom === undefined) continue
    local[s.id] = ({ steps }) => {
      const outputs: Record<string, unknown> = {}
      for (const need of s.needs) for (const [id, state] of Object.entries(steps)) if (id === need || id.startsWith(`${need}[`)) outputs[id] = state.outputs
      return custom.run(outputs).pipe(
        Effect.flatMap((value) => {
          const parsed = custom.outputs.safeParse(value)
          return parsed.success
            ? Effect.succeed(parsed.data)
            : Effect.fail(new Error(`custom step ${s.id} returned outputs that do not match its schema: ${parsed.error.issues.map((i) => `outputs.${i.path.map(String).join(".")}: ${i.message}`).join("; ")}`))
        })
      )
    }
  }
  return local
}

/** `fixture:*` models are trained on first use; other models are the kernel's to load. */
const ensureModel = (spec: ModelSpec, onEvent: (event: WorkerEvent) => void) =>
  spec.id.startsWith("fixture:") ? ensureFixtureEffect(spec.id.slice("fixture:".length), { onEvent }) : Effect.void

export interface ExecuteInput {
  readonly command: string
  readonly plan: Plan
  readonly workflow?: Workflow
  readonly storePath: string
  readonly mode: { readonly plain: boolean; readonly json: boolean }
  readonly force: boolean
  readonly sets: ReadonlyArray<string>
  readonly resume?: string
  /** resume a run stored as running on another host (`resume --takeover`) */
  readonly takeover?: boolean
  /** write the Markdown report (with plots) when the run ends */
  readonly report: boolean
  /** --executor and --ray-address (the plan's runtime block otherwise) */
  readonly executor?: ExecutorFlags
}

/** Run (or resume) a plan with the real runtime, rendering its events; resolves to the exit code. */
export const execute = async (input: ExecuteInput): Promise<number> => {
  // a read-only store would open, and fail at the first write after the run has started
  const readOnly = storeWriteError(input.command, input.storePath)
  if (readOnly !== undefined) {
    process.stderr.write(`${readOnly}\n`)
    return ExitCode.invalidInput
  }
  let store: RunStore
  try {
    store = RunStore.open(input.storePath)
  } catch (error) {
    process.stderr.write(`polyquant ${input.command}: ${error instanceof StoreOpenError ? error.message : String(error)}\n`)
    return ExitCode.invalidInput
  }
  const executor = resolveExecutor(input.executor ?? {}, input.plan.runtime)
  if ("error" in executor) {
    process.stderr.write(`polyquant ${input.command}: ${executor.error}\n`)
    store.close()
    return ExitCode.invalidInput
  }
  if (executor.kind === "ray") {
    const missing = rayMissing(resolveInterpreter().path)
    if (missing !== undefined) {
      process.stderr.write(`polyquant ${input.command}: ${missing}\n`)
      store.close()
      return ExitCode.invalidInput
    }
  }
  const stop = makeStopSignal()
  const renderer = createRenderer(pickMode(input.mode), { onStop: ({ force }) => stop.request({ force }) })
  let runDir: string | undefined
  try {
    const program = runPlan(input.plan, {
      force: input.force,
      sets: input.sets,
      stop,
      onEvent: (e) => {
        if (runDir === undefined) runDir = store.runDir(e.runId)
        renderer.handle(e)
      },
      ensureModel,
      pythonConcurrency: pythonConcurrencyOf(executor),
      workerFacts: workerFactsFor(resolveInterpreter().path),
      ...(input.report
        ? {
            report: async (runId: string) => {
              const { writeRunReport } = await import("../../report/index.js")
              const written = await writeRunReport(store, runId)
              return written.path
            }
          }
        : {}),
      ...(input.resume !== undefined ? { resume: input.resume, takeover: input.takeover === true } : {}),
      ...(input.workflow ? { local: localSteps(input.workflow) } : {})
    })
    const runtime = PythonRuntimeLive({ logPath: join(store.root, "worker.log"), executor })
    const outcome = await Effect.runPromise(program.pipe(Effect.provide(Layer.merge(runtime, Layer.succeed(Store, makeStoreService(store)))), Effect.either))
    await renderer.close()
    if (Either.isLeft(outcome)) {
      // the run row could not be opened: a run that cannot be resumed (unknown id, still running) is bad input; a failing store is not
      const error = outcome.left
      process.stderr.write(`polyquant ${input.command}: ${error.message}\n`)
      return error instanceof RunBusyError || error instanceof RunNotFoundError ? ExitCode.invalidInput : ExitCode.stepFailed
    }
    const result = outcome.right
    const deferred = Object.values(result.steps).some((s) => s.status === "deferred")
    if (input.mode.json !== true && (result.status === "interrupted" || deferred)) {
      process.stderr.write(`continue with \`polyquant resume ${result.runId}${input.storePath !== DEFAULT_STORE_PATH ? ` --store ${input.storePath}` : ""}\`\n`)
    }
    return exitCodeOf(result)
  } catch (error) {
    await renderer.close()
    process.stderr.write(`polyquant ${input.command}: ${error instanceof Error ? error.message : String(error)}\n`)
    return ExitCode.stepFailed
  } finally {
    store.close()
  }
}

export const loadPlan = async (command: string, file: string, sets: ReadonlyArray<string>): Promise<{ plan: Plan; workflow: Workflow } | number> => {
  const loaded = await Effect.runPromise(Effect.either(loadWorkflow(file, { sets })))
  if (loaded._tag === "Left") {
    process.stderr.write(`polyquant ${command}: ${loaded.left.message}\n`)
    return ExitCode.invalidInput
  }
  try {
    return { plan: makePlan(loaded.right), workflow: loaded.right }
  } catch (error) {
    process.stderr.write(`polyquant ${command}: ${error instanceof Error ? error.message : String(error)}\n`)
    return ExitCode.invalidInput
  }
}

export const run = async (args: ReadonlyArray<string>): Promise<number> => {
  const parsed = parseFlagsOrReport(table.run, args)
  if (parsed === undefined) return ExitCode.invalidInput
  const { values, positionals } = parsed
  const file = positionals[0]
  if (file === undefined) {
    process.stderr.write(`polyquant run: name a workflow file (usage: ${table.run.usage})\n`)
    return ExitCode.invalidInput
  }
  const sets = values.set
  const loaded = await loadPlan("run", file, sets)
  if (typeof loaded === "number") return loaded
  return execute({
    command: "run",
    plan: loaded.plan,
    workflow: loaded.workflow,
    storePath: values.store ?? DEFAULT_STORE_PATH,
    mode: { plain: values.plain, json: values.json },
    force: values.force,
    sets,
    report: !values["no-report"],
    executor: executorFlags(values)
  })
}

/** The executor flags as given (the workflow's runtime block fills what is not). */
export const executorFlags = (values: { readonly executor: string | undefined; readonly "ray-address": string | undefined }): ExecutorFlags => ({
  ...(values.executor !== undefined ? { executor: values.executor } : {}),
  ...(values["ray-address"] !== undefined ? { rayAddress: values["ray-address"] } : {})
})
