/**
 * What goes wrong when a workflow loads: every problem is a WorkflowIssue that names the file,
 * line, column and field path, and (when a `--set` caused it) the `--set`. Loading collects all
 * of them and fails once with WorkflowInvalidError, so `polyquant validate` prints every error.
 */
import { TaggedError } from "./taggedError.js"

export interface WorkflowIssue {
  readonly file: string
  /** 1-based; 0 when the problem has no place in a file (e.g. a TypeScript workflow) */
  readonly line: number
  readonly column: number
  /** the field path, dotted: `steps.colab_001.with.quant.bits` ("" for the whole file) */
  readonly path: string
  readonly message: string
  /** the `--set path=value` that caused it, if one did */
  readonly set?: string
}

/** `workflows/x.yaml:12:7 steps.colab_001.with.quant.bits: bits must be between 2 and 8` */
export const formatIssue = (issue: WorkflowIssue): string => {
  const where = issue.line > 0 ? `${issue.file}:${issue.line}:${issue.column}` : issue.file
  const path = issue.path === "" ? "" : ` ${issue.path}`
  const set = issue.set === undefined ? "" : ` (from --set ${issue.set})`
  return `${where}${path}: ${issue.message}${set}`
}

/** Sort by position so that errors read top to bottom, like a compiler's. */
export const sortIssues = (issues: ReadonlyArray<WorkflowIssue>): WorkflowIssue[] =>
  [...issues].sort((a, b) => a.line - b.line || a.column - b.column || a.path.localeCompare(b.path) || a.message.localeCompare(b.message))

export class WorkflowInvalidError extends TaggedError("WorkflowInvalidError")<{
  readonly file: string
  readonly issues: ReadonlyArray<WorkflowIssue>
}> {
  override get message(): string {
    return this.issues.map(formatIssue).join("\n")
  }
}

/** A workflow file that cannot be read at all (missing, a directory, unreadable). */
export class WorkflowFileError extends TaggedError("WorkflowFileError")<{
  readonly file: string
  readonly reason: string
}> {
  override get message(): string {
    return `${this.file}: ${this.reason}`
  }
}

/** A condition or `${{ }}` expression that cannot be evaluated at run time (a null where a number was typed, ...). */
export class ConditionEvaluationError extends TaggedError("ConditionEvaluationError")<{
  readonly expression: string
  readonly reason: string
}> {
  override get message(): string {
    return `cannot evaluate '${this.expression}': ${this.reason}`
  }
}
