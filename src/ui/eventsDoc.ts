/**
 * docs/events.md, generated from the RunEvent zod schema: one section per event type with a table
 * of its fields (nested fields as dotted paths), then the whole JSON Schema. A test keeps the
 * committed file equal to this output.
 */
import { z } from "zod"
import { RunEvent } from "../engine/events.js"

/** What each event means, for the reader of `--json` output. Every event type must have one. */
export const eventMeaning: Record<RunEvent["type"], string> = {
  "run-started": "The run began (or resumed): the planned steps in order and the budgets as they stand.",
  "step-started": "A step's kernel started; `attempt` counts retries from 1.",
  "step-progress": "A running step's progress, `done` of `total` in `unit` (at most a few per second).",
  "step-partial": "A partial result before the step ends, e.g. one language's numbers; same shape as (part of) the kernel's outputs.",
  "step-checkpoint": "The running step saved an in-step checkpoint; a resumed run continues from it.",
  log: "A log line from the engine or a kernel.",
  "branch-decided": "A step's `if:` was evaluated: the expression, its result and the value of each `steps.*` reference in it.",
  "step-deferred": "A step was not started because the platform's remaining budget does not cover its estimate.",
  "step-finished": "A step reached a final status, with its duration, cache key, outputs (the kernel's output schema) or error.",
  budget: "The budgets after GPU time was charged.",
  "run-finished": "The run ended; `reportPath` is the Markdown report when one was written."
}

/** Field meanings where the zod schema carries no `.describe()` (by field path). */
const fieldMeaning: Record<string, string> = {
  type: "the event type",
  runId: "the run's id (`polyquant runs` lists them)",
  workflow: "the workflow's `name`",
  file: "the workflow file",
  platform: "where the run executes (local, colab-free, kaggle, ...)",
  resumed: "true when `polyquant resume` continued an earlier run",
  steps: "planned steps in a topological order",
  "steps[].id": "step id (matrix expansions: `base[key=value]`)",
  "steps[].uses": "the kernel",
  "steps[].needs": "ids of the steps it waits for",
  "steps[].platform": "the platform whose budget it uses",
  "steps[].estimateSeconds": "its time estimate, given or derived from measured throughput",
  "steps[].condition": "its `if:` expression (CEL)",
  budgets: "one per platform and window",
  "budgets[].platform": "the platform",
  "budgets[].window": "the budget's window",
  "budgets[].limitHours": "GPU hours allowed per window",
  "budgets[].usedHours": "GPU hours used in the current window",
  stepId: "the step",
  attempt: "1 for the first try, 2 for the first retry, ...",
  done: "units done so far",
  total: "units in all",
  unit: "what is counted (windows, layers, configurations, ...)",
  message: "free text",
  result: "branch-decided: the condition's value; step-partial: the partial result",
  level: "severity",
  expression: "the `if:` expression as written",
  reason: "why (human-readable)",
  status: "the final status",
  durationMs: "wall time in milliseconds",
  cacheKey: "the content hash the result is cached under",
  outputs: "the kernel's outputs (see its output schema)",
  error: "the failure, for a failed step",
  "error.type": "the error class (Python exception name or a polyquant error tag)",
  "error.message": "its message",
  "error.traceback": "the Python traceback",
  "error.retryable": "whether the engine may retry it",
  "error.exitCode": "the worker's exit code when it died",
  "error.signal": "the signal that killed the worker",
  "error.logTail": "the last lines of the worker's log",
  reportPath: "the Markdown report, when one was written"
}

type Schema = {
  type?: string | string[]
  const?: unknown
  enum?: unknown[]
  description?: string
  properties?: Record<string, Schema>
  required?: string[]
  items?: Schema
  anyOf?: Schema[]
  oneOf?: Schema[]
  additionalProperties?: unknown
  prefixItems?: Schema[]
}

const typeOf = (s: Schema): string => {
  if (s.const !== undefined) return `\`${JSON.stringify(s.const)}\``
  if (s.enum) return s.enum.map((e) => `\`${JSON.stringify(e)}\``).join(" \\| ")
  if (s.anyOf) return s.anyOf.map(typeOf).join(" \\| ")
  if (s.type === "array") return `${s.items ? typeOf(s.items) : "any"}[]`
  if (s.type === "object" && !s.properties) return s.additionalProperties && typeof s.additionalProperties === "object" ? `{string: ${typeOf(s.additionalProperties as Schema)}}` : "object"
  if (Array.isArray(s.type)) return s.type.join(" \\| ")
  return s.type ?? "any (JSON)"
}

const rows = (s: Schema, prefix: string, out: string[][]): void => {
  for (const [name, p] of Object.entries(s.properties ?? {})) {
    const path = `${prefix}${name}`
    const required = (s.required ?? []).includes(name) ? "yes" : "no"
    out.push([`\`${path}\``, typeOf(p), required, p.description ?? fieldMeaning[path] ?? ""])
    if (p.type === "object" && p.properties) rows(p, `${path}.`, out)
    if (p.type === "array" && p.items?.type === "object" && p.items.properties) rows(p.items, `${path}[].`, out)
  }
}

export const eventsJsonSchema = (): Schema => z.toJSONSchema(RunEvent, { io: "output", unrepresentable: "any" }) as Schema

export const eventsMarkdown = (): string => {
  const schema = eventsJsonSchema()
  const variants = schema.oneOf ?? schema.anyOf ?? []
  const md: string[] = [
    "# RunEvent: the `--json` event stream",
    "",
    "<!-- generated from src/engine/events.ts by src/ui/eventsDoc.ts; regenerate: UPDATE_DOCS=1 npx vitest run test/ui/events-doc.test.ts -->",
    "",
    "`polyquant run --json` (and `polyquant replay FILE --json`) prints one JSON object per line, each a",
    "RunEvent. The same events feed the dashboard and the plain lines, and are kept in the run store,",
    "so `polyquant replay` can play a recorded stream again. Every event has `type`, `runId` and `t`",
    "(epoch milliseconds). Consumers should ignore fields they do not know: new fields may be added;",
    "existing ones keep their meaning.",
    "",
    "```sh",
    "polyquant run workflows/quickstart.yaml --json | jq -c 'select(.type == \"step-finished\") | {stepId, status, durationMs}'",
    "```",
    "",
    `Event types: ${variants.map((v) => `\`${String(v.properties?.["type"]?.const)}\``).join(", ")}.`,
    ""
  ]
  for (const v of variants) {
    const type = String(v.properties?.["type"]?.const) as RunEvent["type"]
    md.push(`## \`${type}\``, "", eventMeaning[type] ?? "", "")
    const out: string[][] = []
    rows(v, "", out)
    md.push("| field | type | required | description |", "|---|---|---|---|", ...out.map((r) => `| ${r.join(" | ")} |`), "")
  }
  md.push("## JSON Schema", "", "```json", JSON.stringify(schema, null, 2), "```", "")
  return md.join("\n")
}
