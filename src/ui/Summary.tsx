/** The end of a run: its status, time, steps by status, branch decisions and the report's path. */
import { Box, Text } from "ink"
import { BranchLine } from "./BranchLine.js"
import { formatDuration } from "./format.js"
import { statusCounts, type RunView } from "./state.js"

export interface SummaryProps {
  readonly run: RunView
}

const color = { running: "cyan", succeeded: "green", failed: "red", interrupted: "yellow" } as const

export const Summary = ({ run }: SummaryProps) => {
  const counts = Object.entries(statusCounts(run))
    .map(([k, n]) => `${n} ${k}`)
    .join(", ")
  const outputsOf = (id: string) => run.steps.find((s) => s.id === id)?.outputs
  return (
    <Box flexDirection="column" marginTop={1}>
      {/* three parts that wrap whole on a narrow terminal, each cut rather than broken */}
      <Box flexWrap="wrap" columnGap={1}>
        <Text color={color[run.status]} bold wrap="truncate-end">
          run {run.runId}
        </Text>
        <Text color={color[run.status]} bold wrap="truncate-end">
          {run.status} in {formatDuration(run.durationMs ?? 0)}:
        </Text>
        <Text color={color[run.status]} bold wrap="truncate-end">
          {counts}
        </Text>
      </Box>
      {run.branches.map((b, i) => (
        <BranchLine key={i} branch={b} outputsOf={outputsOf} />
      ))}
      {run.steps
        .filter((s) => s.status === "failed")
        .map((s) => (
          <Text key={s.id} color="red" wrap="truncate-end">
            {s.id} failed: {s.error ? `${s.error.type}: ${s.error.message}` : (s.reason ?? "")}
          </Text>
        ))}
      {/* a path is there to be copied: it wraps, never cut */}
      {run.reportPath ? <Text>report: {run.reportPath}</Text> : null}
      {/* how to continue an interrupted run is printed by the CLI, which knows the --store it needs (src/cli/commands/run.ts) */}
    </Box>
  )
}
