/**
 * `polyquant resume RUN [--plain|--json] [--takeover] [--store PATH]`: continue a run after a crash, a kill
 * or a closed notebook. The stored plan is run again under the same run id: steps that succeeded
 * (or came from the cache) are not rerun, deferred steps get another budget check, and a step that
 * checkpoints continues from its last stored checkpoint.
 * A run that another process still runs is refused (exit 2): one alive on this host, or one on
 * another host, whose processes this host cannot see, unless `--takeover` says that it is gone.
 * A run that already succeeded is left exactly as it is (exit 0, nothing written).
 */
import { resumeRefusal, runLiveness } from "../../store/liveness.js"
import { DEFAULT_STORE_PATH } from "../../store/RunStore.js"
import { ExitCode } from "../command.js"
import { parseFlagsOrReport } from "../flags.js"
import { findRunForCli, openStoreForCli } from "../store.js"
import { table } from "./index.js"
import { execute, executorFlags, loadPlan } from "./run.js"

export const run = async (args: ReadonlyArray<string>): Promise<number> => {
  const parsed = parseFlagsOrReport(table.resume, args)
  if (parsed === undefined) return ExitCode.invalidInput
  const { values, positionals } = parsed
  const storePath = values.store ?? DEFAULT_STORE_PATH
  const store = openStoreForCli("resume", storePath)
  if (store === undefined) return ExitCode.invalidInput
  const record = findRunForCli("resume", store, positionals[0])
  const takeover = values.takeover
  // checked here to fail before loading anything; the engine checks again as it takes the run over (RunStore.claimRun)
  const refusal = record && resumeRefusal(record.id, runLiveness(record, store.lastActivity(record.id)), { takeover })
  store.close()
  if (record === undefined) return ExitCode.invalidInput
  if (refusal) {
    process.stderr.write(`polyquant resume: ${refusal.message}\n`)
    return ExitCode.invalidInput
  }
  if (record.status === "succeeded") {
    // a finished run is a record: nothing about it changes (the engine refuses to touch it too)
    const finished = record.finishedAt !== null ? ` on ${new Date(record.finishedAt).toISOString().replace("T", " ").slice(0, 19)} UTC` : ""
    if (values.json) process.stdout.write(`${JSON.stringify({ type: "run-unchanged", runId: record.id, status: record.status, reason: "the run had already succeeded" })}\n`)
    else process.stdout.write(`run ${record.id} already succeeded${finished}; resuming it changes nothing (\`polyquant show ${record.id}\` prints it; \`polyquant run ${record.file} --force\` starts a new run)\n`)
    return ExitCode.ok
  }
  // custom TypeScript steps live in the workflow module, not in the stored plan
  let workflow
  if (record.plan.steps.some((s) => s.local === true)) {
    const loaded = await loadPlan("resume", record.file, record.options.sets)
    if (typeof loaded === "number") return loaded
    workflow = loaded.workflow
  }
  return execute({
    command: "resume",
    plan: record.plan,
    ...(workflow ? { workflow } : {}),
    storePath,
    mode: { plain: values.plain, json: values.json },
    // --force for this resume; else as the run was started
    force: values.force || record.options.force,
    sets: record.options.sets,
    resume: record.id,
    takeover,
    report: !values["no-report"],
    executor: executorFlags(values)
  })
}
