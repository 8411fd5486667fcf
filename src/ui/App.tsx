/** The Ink app: live state from the store, a ticking clock, stop keys, and the terminal's width. */
import { useStdout } from "ink"
import { useEffect, useState } from "react"
import { Dashboard } from "./Dashboard.js"
import { useNow } from "./hooks/useNow.js"
import { useRunView } from "./hooks/useRunView.js"
import { useStopKeys, type StopRequest } from "./hooks/useStopKeys.js"
import type { RunViewStore } from "./RunViewStore.js"

export interface AppProps {
  readonly store: RunViewStore
  readonly clock: () => number
  readonly onStop?: (r: StopRequest) => void
  /** set by a SIGINT outside the app, so the dashboard shows that it is stopping */
  readonly stopSignal?: { subscribe: (l: () => void) => () => void }
  readonly logLines?: number
  /** fixed width (tests); default: the terminal's columns */
  readonly width?: number
}

const useColumns = (fixed: number | undefined): number => {
  const { stdout } = useStdout()
  const [cols, setCols] = useState(stdout.columns || 80)
  useEffect(() => {
    if (fixed !== undefined) return
    const onResize = () => setCols(stdout.columns || 80)
    stdout.on("resize", onResize)
    return () => {
      stdout.off("resize", onResize)
    }
  }, [stdout, fixed])
  return fixed ?? cols
}

export const App = ({ store, clock, onStop, stopSignal, logLines, width }: AppProps) => {
  const run = useRunView(store)
  const now = useNow(clock, 250, run.status === "running")
  const keyStopping = useStopKeys(onStop, run.status === "running")
  const [signalStopping, setSignalStopping] = useState(false)
  useEffect(() => stopSignal?.subscribe(() => setSignalStopping(true)), [stopSignal])
  const columns = useColumns(width)
  return (
    <Dashboard
      run={run}
      now={now}
      width={Math.max(20, columns - 1)}
      stopping={keyStopping || signalStopping}
      {...(logLines !== undefined ? { logLines } : {})}
    />
  )
}
