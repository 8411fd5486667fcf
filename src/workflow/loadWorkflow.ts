/**
 * `loadWorkflow`: loading as an Effect, for `polyquant run` and the engine. Kept out of load.ts so
 * that `polyquant validate` and `plan`, which call loadWorkflowFile, never load effect.
 */
import * as Effect from "effect/Effect"
import { WorkflowFileError, WorkflowInvalidError } from "./errors.js"
import { loadWorkflowFile, type LoadOptions } from "./load.js"
import type { Workflow } from "./types.js"

/** A valid Workflow, or every issue at once. */
export const loadWorkflow = (file: string, options: LoadOptions = {}): Effect.Effect<Workflow, WorkflowInvalidError | WorkflowFileError> =>
  Effect.tryPromise({
    try: () => loadWorkflowFile(file, options),
    catch: (error) => (error instanceof WorkflowFileError ? error : new WorkflowFileError({ file, reason: error instanceof Error ? error.message : String(error) }))
  }).pipe(Effect.flatMap((r) => (r.ok ? Effect.succeed(r.workflow) : Effect.fail(new WorkflowInvalidError({ file, issues: r.issues })))))
