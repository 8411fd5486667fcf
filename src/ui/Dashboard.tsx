/**
 * The live dashboard, a pure function of the run's state: finished steps and branch decisions
 * print once through <Static> (they scroll up like a log); below them, the live area shows the
 * header, the steps still to come, progress bars, the latest per-language table and the log tail.
 * When the run ends, the live area becomes the summary.
 */
import { Box, Static, Text } from "ink"
import { BranchLine } from "./BranchLine.js"
import { Header } from "./Header.js"
import { LanguageTable } from "./LanguageTable.js"
import { LogTail } from "./LogTail.js"
import { ProgressLine } from "./ProgressLine.js"
import { StepLine } from "./StepLine.js"
import { Summary } from "./Summary.js"
import type { RecordEntry, RunView } from "./state.js"

export interface DashboardProps {
  readonly run: RunView
  readonly now: number
  readonly width: number
  readonly stopping?: boolean
  readonly logLines?: number
}

export const Dashboard = ({ run, now, width, stopping = false, logLines = 5 }: DashboardProps) => {
  const outputsOf = (id: string) => run.steps.find((s) => s.id === id)?.outputs
  const live = run.steps.filter((s) => !run.finished.includes(s.id))
  const running = live.filter((s) => s.status === "running")
  const done = run.status !== "running"
  // the clock stops where the run finished (after its report), so it never runs backwards to the
  // engine's own duration, which leaves the report out
  const elapsed = done ? Math.max(run.durationMs ?? 0, (run.finishedAt ?? now) - run.startedAt) : run.startedAt > 0 ? Math.max(0, now - run.startedAt) : 0
  return (
    <Box flexDirection="column" width={width}>
      <Static items={[...run.record]}>
        {(entry: RecordEntry) => {
          // each printed line gets the terminal's width: <Static> sits outside the layout's width
          if (entry.kind === "branch") {
            const b = run.branches[entry.index]
            return (
              <Box key={`b${entry.index}`} width={width}>
                {b ? <BranchLine branch={b} outputsOf={outputsOf} /> : null}
              </Box>
            )
          }
          const s = run.steps.find((x) => x.id === entry.id)
          return (
            <Box key={`s${entry.id}`} width={width}>
              {s ? <StepLine step={s} now={now} width={width} /> : null}
            </Box>
          )
        }}
      </Static>
      <Box flexDirection="column" borderStyle={width >= 40 ? "round" : undefined} borderColor="gray" paddingX={width >= 40 ? 1 : 0}>
        {run.runId === "" ? <Text dimColor>waiting for the run to start…</Text> : null}
        <Header
          workflow={run.workflow}
          runId={run.runId}
          platform={run.platform}
          elapsedMs={elapsed}
          status={run.status}
          resumed={run.resumed}
          budgets={run.budgets}
          stopping={stopping}
          width={width - 4}
        />
        {live.length > 0 ? (
          <Box flexDirection="column" marginTop={1}>
            {live.map((s) => (
              <StepLine key={s.id} step={s} now={now} width={width - 4} />
            ))}
          </Box>
        ) : null}
        {running.some((s) => s.progress) ? (
          <Box flexDirection="column" marginTop={1}>
            {running.map((s) => (s.progress ? <ProgressLine key={s.id} stepId={s.id} progress={s.progress} now={now} width={width - 4} /> : null))}
          </Box>
        ) : null}
        {run.table && run.table.rows.length > 0 ? (
          <Box marginTop={1}>
            <LanguageTable stepId={run.table.stepId} rows={run.table.rows} final={run.table.final} width={width - 4} />
          </Box>
        ) : null}
        {!done && run.logs.length > 0 ? (
          <Box marginTop={1}>
            <LogTail logs={run.logs} lines={logLines} />
          </Box>
        ) : null}
        {stopping && !done ? <Text color="yellow">stopping: the running step checkpoints and stops (Ctrl-C again to force)</Text> : null}
      </Box>
      {done ? <Summary run={run} /> : <Text dimColor wrap="truncate-end">q or Ctrl-C: stop (checkpoint, resume later)</Text>}
    </Box>
  )
}
