/**
 * `q` or Ctrl-C asks to stop. The first press requests a graceful stop; a second one forces it.
 * Active only where stdin is a TTY that supports raw mode (elsewhere SIGINT does the job).
 */
import { useInput, useStdin } from "ink"
import { useRef, useState } from "react"

export type StopRequest = { readonly reason: "key" | "signal"; readonly force: boolean }

export const useStopKeys = (onStop: ((r: StopRequest) => void) | undefined, enabled: boolean): boolean => {
  const { isRawModeSupported } = useStdin()
  const [stopping, setStopping] = useState(false)
  const presses = useRef(0)
  useInput(
    (input, key) => {
      if (input === "q" || (key.ctrl && input === "c")) {
        presses.current += 1
        setStopping(true)
        onStop?.({ reason: "key", force: presses.current > 1 })
      }
    },
    { isActive: enabled && isRawModeSupported === true }
  )
  return stopping
}
