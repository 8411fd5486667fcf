/**
 * RunEvent: the one stream the engine emits and every view consumes (Ink dashboard, plain
 * lines, JSON lines, the store's event log). `--json` prints exactly these objects, one per line;
 * this zod schema is their documented format.
 */
import { z } from "zod"

export const StepStatus = z.enum(["pending", "running", "succeeded", "failed", "skipped", "cached", "deferred", "interrupted"])
export type StepStatus = z.infer<typeof StepStatus>

export const RunStatus = z.enum(["running", "succeeded", "failed", "interrupted"])
export type RunStatus = z.infer<typeof RunStatus>

const base = { runId: z.string(), t: z.number().describe("epoch milliseconds") }

export const BudgetState = z.object({
  platform: z.string(),
  window: z.enum(["day", "week", "session"]),
  limitHours: z.number(),
  usedHours: z.number()
})
export type BudgetState = z.infer<typeof BudgetState>

export const StepSummary = z.object({
  id: z.string(),
  uses: z.string(),
  needs: z.array(z.string()),
  platform: z.string().optional(),
  estimateSeconds: z.number().optional(),
  condition: z.string().optional()
})

export const KernelError = z.object({
  type: z.string(),
  message: z.string(),
  traceback: z.string().optional(),
  retryable: z.boolean().optional(),
  exitCode: z.number().nullable().optional(),
  signal: z.string().nullable().optional(),
  logTail: z.string().optional()
})
export type KernelError = z.infer<typeof KernelError>

export const RunEvent = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("run-started"),
    ...base,
    workflow: z.string(),
    file: z.string(),
    platform: z.string(),
    resumed: z.boolean(),
    steps: z.array(StepSummary),
    budgets: z.array(BudgetState)
  }),
  z.object({ type: z.literal("step-started"), ...base, stepId: z.string(), attempt: z.number() }),
  z.object({
    type: z.literal("step-progress"),
    ...base,
    stepId: z.string(),
    done: z.number(),
    total: z.number(),
    unit: z.string(),
    message: z.string().optional()
  }),
  z.object({ type: z.literal("step-partial"), ...base, stepId: z.string(), result: z.unknown() }),
  z.object({ type: z.literal("step-checkpoint"), ...base, stepId: z.string() }),
  z.object({ type: z.literal("log"), ...base, stepId: z.string().optional(), level: z.enum(["info", "warn", "error"]), message: z.string() }),
  z.object({
    type: z.literal("branch-decided"),
    ...base,
    stepId: z.string(),
    expression: z.string(),
    result: z.boolean(),
    values: z.record(z.string(), z.unknown()).describe("each steps.* reference in the expression → its value")
  }),
  z.object({ type: z.literal("step-deferred"), ...base, stepId: z.string(), reason: z.string() }),
  z.object({
    type: z.literal("step-finished"),
    ...base,
    stepId: z.string(),
    status: StepStatus,
    durationMs: z.number(),
    cacheKey: z.string().optional(),
    outputs: z.unknown().optional(),
    error: KernelError.optional(),
    reason: z.string().optional().describe("why a step was skipped, deferred or interrupted")
  }),
  z.object({ type: z.literal("budget"), ...base, budgets: z.array(BudgetState) }),
  z.object({
    type: z.literal("run-finished"),
    ...base,
    status: RunStatus,
    durationMs: z.number(),
    reportPath: z.string().optional()
  })
])
export type RunEvent = z.infer<typeof RunEvent>
