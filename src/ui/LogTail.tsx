/** The last few log lines (warnings in yellow, errors in red), each cut to one terminal line. */
import { Box, Text } from "ink"
import type { LogLine } from "./state.js"

export interface LogTailProps {
  readonly logs: ReadonlyArray<LogLine>
  readonly lines: number
}

const color = { info: "gray", warn: "yellow", error: "red" } as const

export const LogTail = ({ logs, lines }: LogTailProps) => {
  const tail = logs.slice(-lines)
  if (tail.length === 0) return null
  return (
    <Box flexDirection="column">
      {tail.map((l, i) => (
        <Text key={i} color={color[l.level]} wrap="truncate-end">
          {l.stepId ? `${l.stepId}: ` : ""}
          {l.message.replace(/\s*\n\s*/g, " ⏎ ")}
        </Text>
      ))}
    </Box>
  )
}
