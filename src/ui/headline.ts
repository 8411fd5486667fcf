/**
 * The one-line gist of a finished step's outputs, for the step list and the plain lines:
 * disparity → "disparity 1.42 [1.10, 1.81]" (or why it is undefined), layer-sweep → the most
 * critical layer, allocate → the size and whether the bound held, anything per-language → the
 * worst language.
 */
import { formatEstimate, formatPercent } from "./format.js"
import { asEstimate, languageRows } from "./languages.js"

type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v)

export const headline = (uses: string, outputs: unknown): string | undefined => {
  if (!isObj(outputs)) return undefined
  if (uses === "allocate" && isObj(outputs["allocation"])) {
    const a = outputs["allocation"]
    const worst = typeof a["worst_language"] === "string" ? a["worst_language"] : "?"
    const d = isObj(a["measured"]) ? asEstimate(a["measured"][worst]) : undefined
    const bpw = typeof a["bpw"] === "number" ? `${a["bpw"].toFixed(2)} bpw` : "? bpw"
    const verdict = outputs["goal"] === "min-worst" ? "within the budget" : a["met"] === true ? "bound met" : "bound NOT met"
    return `${bpw}, ${verdict}, worst ${worst} d=${formatPercent(d?.value ?? null)}`
  }
  if (uses === "disparity" || isObj(outputs["disparity"])) {
    const d = outputs["disparity"]
    const e = asEstimate(d)
    const worst = typeof outputs["worst_language"] === "string" ? `, worst ${outputs["worst_language"]}` : ""
    if (isObj(d) && d["defined"] === false) return `disparity undefined (reference CI contains 0)${worst}`
    if (e) return `disparity ${formatEstimate(e)}${worst}`
  }
  if (Array.isArray(outputs["critical_layers"])) {
    const top = (outputs["critical_layers"] as unknown[]).find(isObj)
    if (top) {
      const sure = typeof top["p_top_k"] === "number" ? ` (P(top ${String(isObj(outputs["uncertainty"]) ? outputs["uncertainty"]["top_k"] : "k")}) ${top["p_top_k"].toFixed(2)}${top["separated"] === false ? ", not separated" : ""})` : ""
      return `most critical: ${String(top["label"] ?? top["layers"])}${sure}`
    }
  }
  const rows = languageRows(outputs).filter((r) => r.degradation?.value != null)
  if (rows.length) {
    const worst = rows.reduce((a, b) => ((b.degradation!.value ?? -Infinity) > (a.degradation!.value ?? -Infinity) ? b : a))
    return `worst ${worst.language} d=${formatPercent(worst.degradation!.value)}`
  }
  return undefined
}
