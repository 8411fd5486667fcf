/** A running step's progress: bar, done/total with unit, percent, ETA and the kernel's message. */
import { Box, Text } from "ink"
import { etaMs, formatDuration, formatNumber, progressBar } from "./format.js"
import type { StepProgress } from "./state.js"

export interface ProgressLineProps {
  readonly stepId: string
  readonly progress: StepProgress
  readonly now: number
  readonly width: number
}

export const ProgressLine = ({ stepId, progress, now, width }: ProgressLineProps) => {
  const { done, total, unit } = progress
  const eta = etaMs(done, total, progress.since, Math.max(now, progress.t))
  const pct = total > 0 ? Math.round((100 * done) / total) : 0
  const counts = `${formatNumber(done, 0)}/${formatNumber(total, 0)} ${unit}`
  const tail = `${pct}%${eta !== undefined ? ` eta ${formatDuration(eta)}` : ""}`
  // what is left for the bar after the id, counts and ETA, with the gaps between them
  const barWidth = Math.min(30, width - stepId.length - counts.length - tail.length - 8)
  return (
    <Box flexDirection="column">
      <Box columnGap={1}>
        <Text color="cyan">{stepId}</Text>
        {barWidth >= 5 ? <Text color="cyan">{progressBar(done, total, barWidth)}</Text> : null}
        <Text>{counts}</Text>
        <Text dimColor>{tail}</Text>
      </Box>
      {progress.message ? (
        <Box paddingLeft={2}>
          <Text dimColor wrap="truncate-end">
            {progress.message}
          </Text>
        </Box>
      ) : null}
    </Box>
  )
}
