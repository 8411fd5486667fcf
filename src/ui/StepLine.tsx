/** One step: status icon, id, kernel, duration or estimate, cache hit, and why it did not run. */
import { Box, Text } from "ink"
import type { StepStatus } from "../engine/events.js"
import { formatDuration, statusIcon } from "./format.js"
import { headline } from "./headline.js"
import type { StepView } from "./state.js"

export const statusColor: Record<StepStatus, string> = {
  pending: "gray",
  running: "cyan",
  succeeded: "green",
  failed: "red",
  skipped: "gray",
  cached: "blue",
  deferred: "yellow",
  interrupted: "yellow"
}

export interface StepLineProps {
  readonly step: StepView
  readonly now: number
  readonly width: number
}

export const StepLine = ({ step, now, width }: StepLineProps) => {
  const time =
    step.durationMs !== undefined
      ? formatDuration(step.durationMs)
      : step.status === "running" && step.startedAt !== undefined
        ? formatDuration(now - step.startedAt)
        : step.estimateSeconds !== undefined
          ? `~${formatDuration(step.estimateSeconds * 1000)}`
          : ""
  const note =
    step.status === "cached"
      ? "cache hit"
      : step.error
        ? `${step.error.type}: ${step.error.message}`
        : (step.reason ?? ((step.status === "succeeded" ? headline(step.uses, step.outputs) : undefined) ?? (step.attempt > 1 ? `attempt ${step.attempt}` : "")))
  const narrow = width < 60
  return (
    <Box>
      <Box flexShrink={0}>
        <Text>
          <Text color={statusColor[step.status]}>{statusIcon[step.status]}</Text> <Text bold={step.status === "running"}>{step.id}</Text>
          {narrow ? "" : " "}
          {narrow ? null : <Text dimColor>{step.uses}</Text>} <Text color={statusColor[step.status]}>{step.status}</Text>
          {time ? " " : ""}
          {time ? <Text dimColor>{time}</Text> : null}
        </Text>
      </Box>
      {note ? (
        <Box flexShrink={1} marginLeft={1}>
          <Text color={step.error ? "red" : "gray"} wrap="truncate-end">
            {note}
          </Text>
        </Box>
      ) : null}
    </Box>
  )
}
