/**
 * The report section of an `allocate` step: the bound and the model the solver assumed, the
 * allocation per unit, predicted vs measured degradation per language (with CIs), whether the
 * bound was met, the baselines at equal bits per weight, the Pareto curves (bits per weight vs
 * worst-language degradation, one curve per strategy), and the compiled plans with the command
 * that writes each one.
 */
import { asEstimate } from "../ui/languages.js"
import { est, fixed, pct, slug } from "./markdown.js"
import type { Block, Inline, PlotSpec, ReportStep } from "./types.js"
import type { Section } from "./sections.js"
import { isObj, num, objs, paragraph, table, type Obj } from "./blocks.js"

const text = (v: unknown): string => (typeof v === "string" ? v : "–")


/** "layers 0-3: int4 g32; layer 5: fp16": runs of units with one choice, in model order. */
const allocationLines = (units: Obj[]): string[] => {
  const out: string[] = []
  let run: { choice: string; first: string; last: string; n: number } | undefined
  const flush = () => {
    if (run) out.push(`${run.n === 1 ? run.first : `${run.first} … ${run.last} (${run.n})`}: ${run.choice}`)
  }
  for (const u of units) {
    const choice = text(u["choice"])
    if (run && run.choice === choice) {
      run.last = text(u["unit"])
      run.n += 1
    } else {
      flush()
      run = { choice, first: text(u["unit"]), last: text(u["unit"]), n: 1 }
    }
  }
  flush()
  return out
}

const pointCells = (p: Obj | undefined): string[] =>
  p === undefined ? ["–", "–", "–"] : [fixed(p["bpw"], 3), text(p["worst_language"]), est(asEstimate(p["worst"]), (x) => pct(x))]

export const allocateSection = (step: ReportStep, out: Obj, runId: string): Section => {
  const languages = Array.isArray(out["languages"]) ? (out["languages"] as unknown[]).map(String) : []
  const alloc = isObj(out["allocation"]) ? out["allocation"] : {}
  const bound = isObj(out["bound"]) ? out["bound"] : {}
  const blocks: Block[] = []
  const bounds = Object.entries(bound)
    .filter((e): e is [string, Obj] => isObj(e[1]))
    .map(([k, b]) => `${k} ≤ ${k === "degradation" ? pct(b["value"]) : fixed(b["value"], 4)} (${text(b["from"])})`)
  const goal = out["goal"] === "min-worst" ? "the least worst-language degradation within the size budget" : "the fewest bits per weight with every language within the bound"
  blocks.push(paragraph(`Goal: ${goal}. Bounds: ${bounds.join("; ") || "none"}. Units: ${text(out["units"])}; candidates: ${objs(out["candidates"]).map((c) => text(c["label"])).join(", ")}.`, `Prediction model: ${text(out["model"])}.`))
  const met = alloc["met"] === true
  const bytes = isObj(alloc["bytes"]) ? alloc["bytes"] : {}
  blocks.push(
    paragraph(
      [{ strong: met ? "Bound met" : "Bound not met" }, `: ${fixed(alloc["bpw"], 3)} bits per weight in the block linears (${fixed((num(bytes["model"]) ?? 0) / 2 ** 20, 2)} MiB for the whole model). Worst language: ${text(alloc["worst_language"])}.`],
      ...(met ? [] : [`${text(alloc["reason"])}. Shortfall: ${Object.entries(isObj(alloc["shortfall"]) ? alloc["shortfall"] : {}).map(([k, v]) => `${k} ${k === "disparity" ? fixed(v, 3) : pct(v)}`).join(", ")}.`])
    )
  )
  const unconfirmed = Array.isArray(alloc["unconfirmed"]) ? (alloc["unconfirmed"] as unknown[]).map(String) : []
  if (met && unconfirmed.length)
    blocks.push(paragraph(`The bound holds on the point estimates, but the 95% CI of ${unconfirmed.join(", ")} reaches above it: this corpus cannot confirm the bound there (a larger corpus narrows the intervals).`))
  blocks.push({ kind: "list", items: allocationLines(objs(alloc["units"])) })
  const predicted = isObj(alloc["predicted"]) ? alloc["predicted"] : {}
  const measured = isObj(alloc["measured"]) ? alloc["measured"] : {}
  const dbpb = isObj(alloc["delta_bpb"]) ? alloc["delta_bpb"] : {}
  blocks.push(
    table(
      ["language", "predicted d", "measured d [95% CI]", "ΔBPB [95% CI]"],
      languages.map((l) => [l === out["reference"] ? `${l} (ref)` : l, pct(predicted[l]), est(asEstimate(measured[l]), (x) => pct(x)), est(asEstimate(dbpb[l]), (x) => fixed(x, 4))]),
      [1, 2, 3]
    )
  )
  const iterations = objs(out["iterations"])
  if (iterations.length > 1)
    blocks.push(
      paragraph(`Verification took ${iterations.length} rounds (a broken bound is tightened by what the additive model missed):`),
      table(
        ["round", "bpw", ...languages.map((l) => `measured d ${l}`), "broken"],
        iterations.map((it, i) => [String(i + 1), fixed(it["bpw"], 3), ...languages.map((l) => pct(isObj(it["measured"]) ? it["measured"][l] : null)), (Array.isArray(it["violated"]) ? it["violated"] : []).join("; ") || "none"]),
        [0, 1, ...languages.map((_, i) => i + 2)]
      )
    )
  const plots: PlotSpec[] = []
  const comparison = isObj(out["baselines"]) ? out["baselines"] : undefined
  if (comparison) {
    const rows = objs(comparison["equal_bpw"]).map((r) => {
      const b = isObj(r["baseline"]) ? r["baseline"] : undefined
      const o = isObj(r["optimal"]) ? r["optimal"] : undefined
      return [text(b?.["label"]), ...pointCells(b), ...pointCells(o)]
    })
    blocks.push(
      paragraph("Against the baselines at equal bits per weight: each baseline, and the worst-language optimum within the same size (measured, with the worst language's 95% CI):"),
      table(["baseline", "bpw", "worst", "worst d", "optimal bpw", "worst", "worst d"], rows, [1, 3, 4, 6])
    )
    const curves = objs(comparison["curves"])
    plots.push({
      kind: "lines",
      name: `${slug(step.id)}-pareto`,
      title: `${step.id}: size against the worst language, per strategy`,
      xlabel: "bits per weight (block linears, scales included)",
      ylabel: "worst-language degradation d (%)",
      series: curves.map((c) => ({
        label: text(c["strategy"]),
        points: objs(c["points"]).map((p) => {
          const w = asEstimate(p["worst"])
          return { x: num(p["bpw"]) ?? 0, y: 100 * (w?.value ?? 0), y_lo: w?.ci?.[0] === null || w?.ci?.[0] === undefined ? null : 100 * w.ci[0], y_hi: w?.ci?.[1] === null || w?.ci?.[1] === undefined ? null : 100 * w.ci[1] }
        })
      })),
      ...(isObj(bound["degradation"]) && num(bound["degradation"]["value"]) !== null ? { reference_line: 100 * (num(bound["degradation"]["value"]) as number) } : {})
    })
  }
  const sens = objs(out["sensitivities"])
  const base = isObj(out["quant"]) ? `int${String(out["quant"]["bits"])}` : undefined
  const baseLabel = base ? objs(out["candidates"]).map((c) => text(c["label"])).find((l) => l.startsWith(`${base} `)) : undefined
  if (sens.length && baseLabel && languages.length)
    plots.push({
      kind: "heatmap",
      name: `${slug(step.id)}-sensitivity`,
      title: `${step.id}: degradation with only this unit at ${baseLabel}`,
      xlabel: "language",
      ylabel: "unit",
      colorbar_label: "degradation d = PPL_q/PPL_b − 1 (%)",
      rows: sens.map((s) => text(s["unit"])),
      cols: languages,
      values: sens.map((s) => {
        const c = isObj(s["choices"]) && isObj(s["choices"][baseLabel]) ? (s["choices"][baseLabel] as Obj) : {}
        return languages.map((l) => (num(c[l]) === null ? null : 100 * (num(c[l]) as number)))
      }),
      annotate: sens.length * languages.length <= 120
    })
  const compiled = isObj(out["compiled"]) ? out["compiled"] : {}
  const tools = Object.entries(compiled).filter((e): e is [string, Obj] => isObj(e[1]))
  if (tools.length) {
    blocks.push(paragraph("The plan in each quantizer's syntax (write one with the command in the first column):"))
    blocks.push(
      table(
        ["command", "file", "notes"],
        tools.map(([tool, c]) => [`polyquant compile ${runId} ${step.id} --to ${tool} --out ${text(c["file"])}`, text(c["file"]), (Array.isArray(c["notes"]) ? c["notes"] : []).map(String).join(" · ")]),
        []
      )
    )
  }
  return { stepId: step.id, blocks, plots }
}
