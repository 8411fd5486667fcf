/** The dashboard's first line(s): workflow, run id, platform, elapsed time and budgets. */
import { Box, Text } from "ink"
import type { BudgetState, RunStatus } from "../engine/events.js"
import { formatDuration, formatHours } from "./format.js"

export interface HeaderProps {
  readonly workflow: string
  readonly runId: string
  readonly platform: string
  readonly elapsedMs: number
  readonly status: RunStatus
  readonly resumed: boolean
  readonly budgets: ReadonlyArray<BudgetState>
  readonly stopping?: boolean
  readonly width: number
}

const statusColor: Record<RunStatus, string> = { running: "cyan", succeeded: "green", failed: "red", interrupted: "yellow" }

export const Header = (p: HeaderProps) => (
  <Box flexDirection="column">
    <Box flexWrap="wrap" columnGap={1}>
      <Text bold>polyquant</Text>
      <Text>{p.workflow}</Text>
      <Text dimColor>run {p.runId}</Text>
      <Text>on {p.platform}</Text>
      <Text color={statusColor[p.status]}>{p.stopping && p.status === "running" ? "stopping…" : p.status}</Text>
      {p.resumed ? <Text color="yellow">(resumed)</Text> : null}
      <Text dimColor>{formatDuration(p.elapsedMs)}</Text>
    </Box>
    {p.budgets.length > 0 ? (
      <Box flexWrap="wrap" columnGap={2}>
        {p.budgets.map((b) => {
          const left = Math.max(0, b.limitHours - b.usedHours)
          const low = left < 0.1 * b.limitHours
          return (
            <Text key={`${b.platform}/${b.window}`} {...(low ? { color: "yellow" } : { dimColor: true })}>
              {p.width < 60
                ? `${b.platform} ${formatHours(left)} left`
                : `budget ${b.platform}: ${formatHours(b.usedHours)} used, ${formatHours(left)} left of ${formatHours(b.limitHours)}/${b.window}`}
            </Text>
          )
        })}
      </Box>
    ) : null}
  </Box>
)
