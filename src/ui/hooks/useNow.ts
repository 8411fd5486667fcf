/**
 * The current time: read from `clock` on every render, and a re-render every `intervalMs` while
 * `active`, so elapsed times and ETAs tick even when no event arrives.
 */
import { useEffect, useState } from "react"

export const useNow = (clock: () => number, intervalMs: number, active: boolean): number => {
  const [, setTick] = useState(0)
  useEffect(() => {
    if (!active) return
    const timer = setInterval(() => setTick((n) => n + 1), intervalMs)
    return () => clearInterval(timer)
  }, [intervalMs, active])
  return clock()
}
