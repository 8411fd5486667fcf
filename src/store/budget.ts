/**
 * Budget windows, computed from timestamps (UTC): `day` is the calendar day, `week` starts on
 * Monday 00:00, `session` is the current run (a notebook session that resumes keeps its run id).
 */
export type BudgetWindow = "day" | "week" | "session"

const DAY_MS = 24 * 3600 * 1000

/** The first instant (epoch ms) of the window that contains `now`; session windows have no start. */
export const windowStart = (window: BudgetWindow, now: number): number | undefined => {
  if (window === "session") return undefined
  const d = new Date(now)
  const midnight = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate())
  if (window === "day") return midnight
  const sinceMonday = (d.getUTCDay() + 6) % 7 // Monday 0 … Sunday 6
  return midnight - sinceMonday * DAY_MS
}

/** Seconds → hours, for budgets written in GPU hours. */
export const hours = (seconds: number): number => seconds / 3600
