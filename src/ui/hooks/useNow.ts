/** The current time, re-read every `intervalMs` while `active` (elapsed time and ETAs tick). */
import { useEffect, useState } from "react"

export const useNow = (clock: () => number, intervalMs: number, active: boolean): number => {
  const [now, setNow] = useState(clock)
  useEffect(() => {
    if (!active) return
    const timer = setInterval(() => setNow(clock()), intervalMs)
    return () => clearInterval(timer)
  }, [clock, intervalMs, active])
  return active ? now : clock()
}
