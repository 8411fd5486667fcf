/**
 * One report section per step, chosen by the step's kernel: its paragraphs and tables (blocks of
 * the report document, which markdown.ts and html.ts render) and the plots that go with them
 * (specs for the `report-plots` kernel). Kernels without a dedicated section get their
 * per-language table when they have one, and their outputs as JSON otherwise.
 */
import { formatDuration, formatValue } from "../ui/format.js"
import { asEstimate, languageRows } from "../ui/languages.js"
import { est, fixed, pct, slug } from "./markdown.js"
import { comparisonTables, matchingSentence, runsTable, stepsTable, unmatchedLines, type CellTable, type Comparison } from "../results/compare.js"
import type { Block, Cell, Inline, PlotSpec, ReportStep } from "./types.js"
import { allocateSection } from "./allocateSection.js"
import { isObj, num, objs, paragraph, table, type Obj } from "./blocks.js"
import { attentionHeadsSection, tokenizerStatsSection } from "./headsTokenizerSections.js"

export interface Section {
  readonly stepId: string
  readonly blocks: ReadonlyArray<Block>
  readonly plots: ReadonlyArray<PlotSpec>
}

export { paragraph, table }
const list = (items: ReadonlyArray<Inline>): Block[] => (items.length ? [{ kind: "list", items }] : [])

const D_LABEL = "degradation d = PPL_q/PPL_b − 1 (%)"
const times100 = (x: number | null | undefined): number | null => (x === null || x === undefined ? null : 100 * x)

/** "rtn int4 g128 asym" from a quant config; "gguf Q4_K_M" for llama.cpp's types. */
export const quantLabel = (q: unknown): string | undefined => {
  if (!isObj(q)) return undefined
  if (q["method"] === "gguf") return `gguf ${typeof q["gguf_type"] === "string" ? q["gguf_type"] : isObj(q["gguf"]) ? String(q["gguf"]["type"] ?? "Q4_K_M") : "Q4_K_M"}`
  const g = num(q["group_size"])
  return [String(q["method"] ?? "?"), `int${String(q["bits"] ?? "?")}`, g === -1 ? "per-channel" : g !== null ? `g${g}` : undefined, q["sym"] === true ? "sym" : q["sym"] === false ? "asym" : undefined]
    .filter((x) => x !== undefined)
    .join(" ")
}

/** "; int8 g32 on layers 0, 3 (14 modules); 4.71 bits per weight": the grids besides the step's own, and the size. */
export const storageText = (storage: Obj | undefined, quant: Obj): string => {
  if (!storage) return ""
  const grids = Array.isArray(storage["grids"]) ? (storage["grids"] as unknown[]).filter(isObj) : []
  const isBase = (g: Obj) => g["bits"] === quant["bits"] && g["group_size"] === quant["group_size"] && g["sym"] === quant["sym"] && g["type"] === undefined
  const others = grids.filter((g) => !isBase(g)).map((g) => {
    const layers = Array.isArray(g["layers"]) ? (g["layers"] as unknown[]).map(String).join(", ") : ""
    const grid = typeof g["type"] === "string" ? g["type"] : `int${String(g["bits"])} ${g["group_size"] === -1 ? "per-channel" : `g${String(g["group_size"])}`}${g["sym"] === true ? " sym" : ""}`
    return `${grid} on layer${layers.includes(",") ? "s" : ""} ${layers} (${String(g["modules"])} modules)`
  })
  const bpw = num(storage["bpw"])
  return `${others.length ? `; ${others.join("; ")}` : ""}${bpw !== null ? `; ${bpw.toFixed(2)} bits per weight` : ""}`
}

const disparitySection = (step: ReportStep, out: Obj): Section => {
  const langs = isObj(out["languages"]) ? (out["languages"] as Record<string, Obj>) : {}
  const names = Object.keys(langs)
  const reference = typeof out["reference"] === "string" ? out["reference"] : "en"
  const q = quantLabel(out["quant"])
  const variant = isObj(out["variant"]) ? String(out["variant"]["id"]) : undefined
  const storage = isObj(out["quant"]) && isObj(out["quant"]["storage"]) ? out["quant"]["storage"] : undefined
  const config = (q ? q + storageText(storage, out["quant"] as Obj) : undefined) ?? (variant ? `variant ${variant}` : "quantized")
  const blocks: Block[] = []
  blocks.push(paragraph(`Quantized variant: ${config}${Array.isArray(out["protected"]) && out["protected"].length ? `; protected: ${(out["protected"] as unknown[]).map(String).join(", ")}` : ""}. Reference language: ${reference}.`))
  blocks.push(
    table(
      ["language", "PPL base", "PPL quant", "d [95% CI]", "ΔBPB [95% CI]", "KL (nats)", "Δp", "top-1 agree"],
      names.map((l) => {
        const r = langs[l]!
        return [
          l === reference ? `${l} (ref)` : l,
          fixed(r["ppl_base"], 3),
          fixed(r["ppl_quant"], 3),
          est(asEstimate(r["degradation"]), (x) => pct(x)),
          est(asEstimate(r["delta_bpb"]), (x) => fixed(x, 4)),
          fixed(r["kl"], 4),
          fixed(r["delta_p"], 4),
          fixed(r["top1_agreement"], 3)
        ]
      }),
      [1, 2, 3, 4, 5, 6, 7]
    )
  )
  const disp = isObj(out["disparity"]) ? out["disparity"] : undefined
  const dispEst = asEstimate(disp)
  const facts: Inline[] = []
  if (disp && disp["defined"] === false) {
    facts.push([{ strong: "Disparity index" }, `: undefined — ${String(disp["reason"] ?? "no reason given")} (point value ${fixed(dispEst?.value, 3)}).`])
  } else if (dispEst) {
    facts.push([{ strong: "Disparity index" }, ` (mean non-reference d / d_${reference}): ${est(dispEst, (x) => fixed(x, 3))}`])
  }
  const gap = asEstimate(out["gap"])
  if (gap) facts.push([{ strong: "Additive gap" }, ` (mean non-reference d − d_${reference}): ${est(gap, (x) => pct(x))}`])
  if (typeof out["worst_language"] === "string") facts.push([{ strong: "Worst language" }, `: ${out["worst_language"]}`])
  blocks.push(...list(facts))
  const plot: PlotSpec = {
    kind: "bars",
    name: `${slug(step.id)}-degradation`,
    title: `${step.id}: degradation per language (${config})`,
    xlabel: "language",
    ylabel: D_LABEL,
    categories: names,
    series: [
      {
        label: config,
        values: names.map((l) => times100(asEstimate(langs[l]!["degradation"])?.value)),
        lo: names.map((l) => times100(asEstimate(langs[l]!["degradation"])?.ci?.[0])),
        hi: names.map((l) => times100(asEstimate(langs[l]!["degradation"])?.ci?.[1]))
      }
    ]
  }
  return { stepId: step.id, blocks, plots: names.length ? [plot] : [] }
}

const sweepAxis: Record<string, string> = {
  "protect-one": "protected layer (all others quantized)",
  "quantize-one": "quantized layer (all others full precision)",
  "protect-cumulative": "protected set (greedy order)"
}

const layerSweepSection = (step: ReportStep, out: Obj): Section => {
  const languages = Array.isArray(out["languages"]) ? (out["languages"] as unknown[]).map(String) : []
  const rows = Array.isArray(out["rows"]) ? (out["rows"] as Obj[]).filter(isObj) : []
  const mode = String(out["mode"] ?? "?")
  const blocks: Block[] = [paragraph(`Mode: ${mode}; quantization: ${quantLabel(out["quant"]) ?? "?"}; ${rows.length} configurations.`)]
  const all = isObj(out["all_quantized"]) ? out["all_quantized"] : undefined
  const allD = all && isObj(all["degradation"]) ? (all["degradation"] as Obj) : undefined
  const ci = (r: Obj, l?: string): [number | null, number | null] | null => {
    const raw = l === undefined ? r["mean_ci"] : isObj(r["degradation_ci"]) ? r["degradation_ci"][l] : undefined
    return Array.isArray(raw) && raw.length === 2 ? [num(raw[0]), num(raw[1])] : null
  }
  const cell = (r: Obj, value: unknown, l?: string): string => est({ value: num(value), ci: ci(r, l) }, (x) => pct(x))
  const disp = (r: Obj): string => {
    const d = isObj(r["disparity"]) ? r["disparity"] : undefined
    if (!d) return "–"
    return d["defined"] === false ? `undefined (${fixed(d["value"], 2)})` : est(asEstimate(d), (x) => fixed(x, 2))
  }
  const body = rows.map((r) => {
    const d = isObj(r["degradation"]) ? (r["degradation"] as Obj) : {}
    return [String(r["label"] ?? r["layers"]), ...languages.map((l) => cell(r, d[l], l)), cell(r, r["mean"]), disp(r)]
  })
  if (all && allD) body.unshift(["all layers quantized", ...languages.map((l) => cell(all, allD[l], l)), cell(all, all["mean"]), disp(all)])
  blocks.push(table(["configuration", ...languages.map((l) => `d ${l} [95% CI]`), "mean d [95% CI]", "disparity [95% CI]"], body, languages.map((_, i) => i + 1).concat(languages.length + 1, languages.length + 2)))
  const critical = Array.isArray(out["critical_layers"]) ? (out["critical_layers"] as Obj[]).filter(isObj) : []
  const unc = isObj(out["uncertainty"]) ? out["uncertainty"] : undefined
  if (critical.length) {
    const k = num(unc?.["top_k"])
    blocks.push(paragraph(`Critical layers, most critical first (score: ${mode === "quantize-one" ? "mean d when only this layer is quantized" : "drop in mean d from protecting it"}; 95% CI, and P(top ${k ?? "k"}) over the bootstrap replicates):`))
    const ranked = critical.some((c) => Array.isArray(c["score_ci"]))
    blocks.push(
      table(
        ranked ? ["rank", "layers", "score [95% CI]", `P(top ${k ?? "k"})`, "separated"] : ["rank", "layers", "score"],
        critical.map((c, i) => {
          const sc = Array.isArray(c["score_ci"]) ? ([num(c["score_ci"][0]), num(c["score_ci"][1])] as const) : null
          const base = [String(i + 1), String(c["label"] ?? c["layers"])]
          return ranked ? [...base, est({ value: num(c["score"]), ci: sc }, (x) => pct(x)), fixed(c["p_top_k"], 2), c["separated"] === true ? "yes" : "no"] : [...base, pct(c["score"])]
        }),
        ranked ? [0, 2, 3] : [0, 2]
      )
    )
  }
  const mde = unc && isObj(unc["mde"]) ? Object.entries(unc["mde"]).filter(([, v]) => num(v) !== null) : []
  if (mde.length) blocks.push(paragraph(`Smallest difference in d between two configurations this corpus resolves (1.96 × bootstrap SD): ${mde.map(([l, v]) => `${l} ${pct(v)}`).join(", ")}.`))
  if (unc && typeof unc["note"] === "string") blocks.push(paragraph([{ strong: "Not resolved" }, `: ${unc["note"]}.`]))
  const plots: PlotSpec[] = []
  if (rows.length && languages.length) {
    plots.push({
      kind: "heatmap",
      name: `${slug(step.id)}-sweep`,
      title: `${step.id}: ${mode} layer sweep, degradation by layer and language`,
      xlabel: "language",
      ylabel: sweepAxis[mode] ?? "configuration",
      colorbar_label: "degradation d = PPL_q/PPL_b − 1 (%)",
      // the all-quantized model first: the reference every row is read against
      rows: [...(allD ? ["all layers quantized"] : []), ...rows.map((r) => String(r["label"] ?? r["layers"]))],
      cols: languages,
      values: [...(allD ? [languages.map((l) => times100(num(allD[l])))] : []), ...rows.map((r) => languages.map((l) => times100(num(isObj(r["degradation"]) ? r["degradation"][l] : null))))],
      annotate: (rows.length + 1) * languages.length <= 120
    })
  }
  return { stepId: step.id, blocks, plots }
}

/** Criteria × criteria matrix of Spearman ρ from pair records {a, b, rho}; 1 on the diagonal. */
export const correlationMatrix = (criteria: ReadonlyArray<string>, pairs: ReadonlyArray<Obj>): (number | null)[][] =>
  criteria.map((a, i) =>
    criteria.map((b, j) => {
      if (i === j) return 1
      const p = pairs.find((x) => (x["a"] === a && x["b"] === b) || (x["a"] === b && x["b"] === a))
      return p ? num(p["rho"]) : null
    })
  )

const importanceSection = (step: ReportStep, out: Obj): Section => {
  const criteria = Array.isArray(out["criteria"]) ? (out["criteria"] as unknown[]).map(String) : []
  const mean = isObj(out["mean"]) ? out["mean"] : {}
  const layers = Array.isArray(mean["layers"]) ? (mean["layers"] as Obj[]).filter(isObj) : []
  const pairs = Array.isArray(mean["correlations"]) ? (mean["correlations"] as Obj[]).filter(isObj) : []
  const langs = Array.isArray(out["languages"]) ? (out["languages"] as unknown[]).map(String) : []
  const unc = isObj(out["uncertainty"]) ? out["uncertainty"] : undefined
  const uncMean = unc && isObj(unc["mean"]) ? unc["mean"] : {}
  const ranked = (c: string): Obj | undefined => (isObj(uncMean[c]) ? uncMean[c] : undefined)
  const layerCi = (c: string, layer: number): string => {
    const row = objs(ranked(c)?.["layers"]).find((r) => Number(r["layer"]) === layer)
    const ci = Array.isArray(row?.["ci"]) ? (row!["ci"] as unknown[]) : []
    return ci.length === 2 && num(ci[0]) !== null ? ` [${fmtSci(ci[0])}, ${fmtSci(ci[1])}]` : ""
  }
  const blocks: Block[] = [
    paragraph(
      `Criteria per layer, mean over the calibration languages (${langs.join(", ")})` +
        (unc ? `, with 95% bootstrap CIs over the windows (${String(isObj(unc["bootstrap"]) ? unc["bootstrap"]["samples"] : "?")} replicates):` : ":")
    )
  ]
  blocks.push(
    table(["layer", ...criteria], layers.map((l) => [String(l["layer"]), ...criteria.map((c) => fmtSci(l[c]) + layerCi(c, Number(l["layer"])))]), criteria.map((_, i) => i + 1))
  )
  if (unc) {
    const k = String(unc["top_k"] ?? "k")
    blocks.push(paragraph(`How sure each ranking is: P(top ${k}) is the share of bootstrap replicates in which the layer ranks among the ${k} most important; a ranking is stable when every layer of its top ${k} has P ≥ 0.95.`))
    blocks.push(
      table(
        ["criterion", `top ${k} layers (P(top ${k}))`, "stable"],
        criteria.map((c) => {
          const r = ranked(c)
          const p = new Map(objs(r?.["layers"]).map((row) => [Number(row["layer"]), num(row["p_top_k"])]))
          const top = Array.isArray(r?.["top_k"]) ? (r!["top_k"] as unknown[]).map(Number) : []
          return [c, top.map((l) => `${l} (${fixed(p.get(l), 2)})`).join(", "), r?.["stable"] === true ? "yes" : "no"]
        })
      )
    )
    if (typeof unc["note"] === "string") blocks.push(paragraph(`Note: ${unc["note"]}`))
  }
  if (pairs.length) {
    const rhoCi = new Map(objs(unc?.["correlations"]).map((c) => [`${String(c["a"])}|${String(c["b"])}`, Array.isArray(c["rho_ci"]) ? (c["rho_ci"] as unknown[]) : []]))
    const ciText = (p: Obj): string => {
      const ci = rhoCi.get(`${String(p["a"])}|${String(p["b"])}`) ?? []
      return ci.length === 2 && num(ci[0]) !== null ? `[${fixed(ci[0], 2)}, ${fixed(ci[1], 2)}]` : "–"
    }
    blocks.push(paragraph("Spearman rank correlation between criteria across layers (mean over languages):"))
    blocks.push(
      table(
        ["criterion A", "criterion B", "ρ", "ρ 95% CI", "p", "n"],
        pairs.map((p) => [String(p["a"]), String(p["b"]), fixed(p["rho"], 3), ciText(p), fmtSci(p["p"]), String(p["n"] ?? "–")]),
        [2, 4, 5]
      )
    )
  }
  const plots: PlotSpec[] =
    criteria.length >= 2
      ? [
          {
            kind: "correlation",
            name: `${slug(step.id)}-criteria`,
            title: `${step.id}: Spearman correlation between layer-importance criteria`,
            xlabel: "criterion",
            ylabel: "criterion",
            colorbar_label: "Spearman ρ (unitless)",
            rows: criteria,
            cols: criteria,
            values: correlationMatrix(criteria, pairs)
          }
        ]
      : []
  return { stepId: step.id, blocks, plots }
}

const fmtSci = (x: unknown): string => {
  if (typeof x !== "number" || !Number.isFinite(x)) return "–"
  const a = Math.abs(x)
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? x.toExponential(3) : x.toPrecision(4)
}

const perplexitySection = (step: ReportStep, out: Obj): Section => {
  const langs = isObj(out["languages"]) ? (out["languages"] as Record<string, Obj>) : {}
  const protocol = isObj(out["protocol"]) ? Object.entries(out["protocol"]).map(([k, v]) => `${k}=${Number.isInteger(v) ? String(v) : formatValue(v)}`).join(", ") : undefined
  const blocks: Block[] = protocol ? [paragraph(`Protocol: ${protocol}.`)] : []
  blocks.push(
    table(
      ["language", "tokens", "bytes", "PPL (token)", "bits/byte", "bits/char"],
      Object.entries(langs).map(([l, r]) => [l, String(r["tokens"] ?? "–"), String(r["bytes"] ?? "–"), fixed(r["ppl"], 3), fixed(r["bits_per_byte"], 4), fixed(r["bits_per_char"], 4)]),
      [1, 2, 3, 4, 5]
    )
  )
  const names = Object.keys(langs)
  const plots: PlotSpec[] = names.length
    ? [
        {
          kind: "bars",
          name: `${slug(step.id)}-bits-per-byte`,
          title: `${step.id}: bits per byte per language`,
          xlabel: "language",
          ylabel: "bits per byte (bits/byte, lower is better)",
          categories: names,
          series: [{ label: "bits/byte", values: names.map((l) => num(langs[l]!["bits_per_byte"])) }]
        }
      ]
    : []
  return { stepId: step.id, blocks, plots }
}

const quantizeSection = (step: ReportStep, out: Obj): Section => {
  const meta = Object.entries(out).filter(([, v]) => typeof v !== "object" || v === null)
  return { stepId: step.id, blocks: [table(["field", "value"], meta.map(([k, v]) => [k, formatValue(v)]))], plots: [] }
}

/** Scalar fields of `languages: {lang: {...}}` as a table with one column per field. */
const languageFieldsTable = (out: unknown): Block | undefined => {
  if (!isObj(out) || !isObj(out["languages"])) return undefined
  const langs = Object.entries(out["languages"]).filter((e): e is [string, Obj] => isObj(e[1]))
  if (langs.length === 0) return undefined
  const fields: string[] = []
  for (const [, r] of langs) for (const [k, v] of Object.entries(r)) if ((typeof v === "number" || typeof v === "string") && !fields.includes(k)) fields.push(k)
  if (fields.length === 0) return undefined
  const cols = fields.slice(0, 9)
  const cell = (v: unknown): string => (typeof v === "number" ? (Number.isInteger(v) ? String(v) : fmtSci(v)) : typeof v === "string" ? v : "–")
  return table(["language", ...cols], langs.map(([l, r]) => [l, ...cols.map((c) => cell(r[c]))]), cols.map((_, i) => i + 1))
}

/** A correlation across languages (the correlation kernel's, or task-eval's): the numbers and a scatter of the pairs. */
const correlationScatter = (step: ReportStep, c: Obj, yCi: Record<string, unknown> = {}): Section | undefined => {
  const pairs = Array.isArray(c["pairs"]) ? (c["pairs"] as unknown[]).filter(isObj) : []
  const pearson = isObj(c["pearson"]) ? c["pearson"] : {}
  const spearman = isObj(c["spearman"]) ? c["spearman"] : {}
  const ci = Array.isArray(pearson["ci"]) ? (pearson["ci"] as unknown[]).map(num) : [null, null]
  const r = num(pearson["r"])
  if (pairs.length === 0 || r === null) return undefined
  const note = `Pearson r = ${fixed(r, 3)} [${fixed(ci[0], 3)}, ${fixed(ci[1], 3)}], p = ${fixed(num(pearson["p"]), 3)}; Spearman ρ = ${fixed(num(spearman["rho"]), 3)} (n = ${pairs.length})`
  const fit = isObj(c["fit"]) && num(c["fit"]["intercept"]) !== null && num(c["fit"]["slope"]) !== null ? { intercept: num(c["fit"]["intercept"])!, slope: num(c["fit"]["slope"])! } : undefined
  const xName = String(c["x_name"] ?? "x")
  const yName = String(c["y_name"] ?? "y")
  const spec: PlotSpec = {
    kind: "scatter",
    name: `${step.id.replace(/[^A-Za-z0-9_.-]/g, "_")}-scatter`,
    title: `${step.id}: ${yName} against ${xName} across languages`,
    xlabel: xName,
    ylabel: yName,
    points: pairs.map((p) => {
      const label = String(p["label"] ?? "")
      const yci = Array.isArray(yCi[label]) ? (yCi[label] as unknown[]).map(num) : undefined
      return { label, x: num(p["x"]) ?? Number.NaN, y: num(p["y"]) ?? Number.NaN, ...(yci ? { y_lo: yci[0] ?? null, y_hi: yci[1] ?? null } : {}) }
    }),
    ...(fit ? { fit } : {}),
    note
  }
  return { stepId: step.id, blocks: [paragraph(note + ".")], plots: [spec] }
}

const taskEvalSection = (step: ReportStep, out: Obj): Section => {
  const per = isObj(out["per_language"]) ? (out["per_language"] as Record<string, Obj>) : {}
  const data = isObj(out["data"]) ? out["data"] : {}
  const prompt = isObj(out["prompt"]) ? out["prompt"] : {}
  const what = data["bundled"] === true ? "the bundled UDHR questions (a pipeline check, not MMLU)" : String(data["dataset"] ?? data["source"] ?? "local files")
  const share = (x: number | null | undefined): string => (x === null || x === undefined ? "–" : `${(100 * x).toFixed(1)}%`)
  const acc = (s: unknown): string => {
    if (!isObj(s)) return "–"
    const ci = Array.isArray(s["ci"]) ? (s["ci"] as unknown[]).map(num) : [null, null]
    return `${share(num(s["accuracy"]))} [${share(ci[0])}, ${share(ci[1])}]`
  }
  const blocks = [
    paragraph(`Questions: ${what}; prompt ${String(prompt["format"] ?? "?")}.`),
    table(
      ["language", "n", "accuracy base [95% CI]", "accuracy quant [95% CI]", "drop [95% CI]", "PPL degradation"],
      Object.entries(per).map(([l, r]) => {
        const dci = Array.isArray(r["drop_ci"]) ? (r["drop_ci"] as unknown[]).map(num) : null
        return [l, String(r["n"] ?? ""), acc(r["base"]), acc(r["quantized"]), r["drop"] === null || r["drop"] === undefined ? "–" : `${pct(num(r["drop"]))}${dci ? ` [${pct(dci[0])}, ${pct(dci[1])}]` : ""}`, pct(num(r["ppl_degradation"]))]
      }),
      [1, 2, 3, 4, 5]
    )
  ]
  const scatter = isObj(out["correlation"]) ? correlationScatter(step, out["correlation"], Object.fromEntries(Object.entries(per).map(([l, r]) => [l, r["drop_ci"]]))) : undefined
  return { stepId: step.id, blocks: scatter ? [...blocks, ...scatter.blocks] : blocks, plots: scatter?.plots ?? [] }
}

const genericSection = (step: ReportStep, out: unknown): Section => {
  const fieldsTable = languageFieldsTable(out)
  if (fieldsTable) return { stepId: step.id, blocks: [fieldsTable], plots: [] }
  const rows = languageRows(out)
  if (rows.length) {
    return {
      stepId: step.id,
      blocks: [
        table(
          ["language", "PPL", "PPL quant", "d [95% CI]", "bits/byte"],
          rows.map((r) => [r.language, fixed(r.baseline, 3), fixed(r.quantized, 3), est(r.degradation, (x) => pct(x)), fixed(r.bitsPerByte, 4)]),
          [1, 2, 3, 4]
        )
      ],
      plots: []
    }
  }
  const json = JSON.stringify(out, null, 2) ?? "null"
  const cut = json.length > 4000 ? json.slice(0, 4000) + "\n… (truncated)" : json
  return { stepId: step.id, blocks: [{ kind: "code", language: "json", text: cut }], plots: [] }
}

/** The section of one step: a status line, then its kernel's tables and plots. */
export const stepSection = (step: ReportStep, runId = "RUN"): Section => {
  const head: Inline = ["Kernel ", { code: step.uses }, `, ${step.status}${step.durationMs !== undefined ? ` in ${formatDuration(step.durationMs)}` : ""}${step.status === "cached" ? " (cache hit)" : ""}${step.platform ? ` on ${step.platform}` : ""}.`]
  const why: Inline[] = []
  if (step.reason) why.push(`Reason: ${step.reason}.`)
  if (step.error) why.push(["Error: ", { code: step.error.type }, `: ${step.error.message.split("\n")[0]}`])
  if (step.matrix && Object.keys(step.matrix).length) why.push(`Matrix: ${Object.entries(step.matrix).map(([k, v]) => `${k}=${formatValue(v)}`).join(", ")}.`)
  const out = step.outputs
  let body: Section = { stepId: step.id, blocks: [], plots: [] }
  if ((step.status === "succeeded" || step.status === "cached") && out !== undefined && out !== null) {
    if (step.uses === "disparity" && isObj(out)) body = disparitySection(step, out)
    else if (step.uses === "layer-sweep" && isObj(out)) body = layerSweepSection(step, out)
    else if (step.uses === "layer-importance" && isObj(out)) body = importanceSection(step, out)
    else if (step.uses === "perplexity" && isObj(out)) body = perplexitySection(step, out)
    else if (step.uses === "quantize" && isObj(out)) body = quantizeSection(step, out)
    else if (step.uses === "task-eval" && isObj(out)) body = taskEvalSection(step, out)
    else if (step.uses === "correlation" && isObj(out)) body = correlationScatter(step, out) ?? genericSection(step, out)
    else if (step.uses === "allocate" && isObj(out)) body = allocateSection(step, out, runId)
    else if (step.uses === "attention-heads" && isObj(out)) body = attentionHeadsSection(step, out)
    else if (step.uses === "tokenizer-stats" && isObj(out)) body = tokenizerStatsSection(step, out)
    else body = genericSection(step, out)
  }
  return { stepId: step.id, blocks: [paragraph(head, ...why), ...body.blocks], plots: body.plots }
}

/** How a disparity step's calibration set reads in a legend: "calib en+he" or its matrix value. */
const calibrationLabel = (step: ReportStep): string | undefined => {
  const q = step.with && isObj(step.with["quant"]) ? step.with["quant"] : undefined
  const cal = q && isObj(q["calibration"]) ? q["calibration"] : undefined
  if (!cal) return undefined
  const langs = Array.isArray(cal["languages"]) ? (cal["languages"] as unknown[]).map(String) : undefined
  const corpus = isObj(cal["corpus"]) && Array.isArray(cal["corpus"]["languages"]) ? (cal["corpus"]["languages"] as unknown[]).map(String) : undefined
  const l = langs ?? corpus
  return l ? `${l.join("+")}` : "workflow corpus"
}

/**
 * Compare disparity steps side by side: calibration sets when the steps differ in their
 * calibration (PRO-002), otherwise every configuration. Only languages common to all steps.
 */
/** PRO-002: each calibration set's balance (samples and UTF-8 bytes per language) beside its disparity index. */
const calibrationSets = (steps: ReadonlyArray<ReportStep>, labels: ReadonlyArray<string>): Block[] => {
  const sets = steps.map((s) => {
    const q = (s.outputs as Obj)["quant"]
    return isObj(q) && isObj(q["calibration"]) ? q["calibration"] : undefined
  })
  if (sets.every((c) => c === undefined)) return []
  const langs = [...new Set(sets.flatMap((c) => (c && isObj(c["per_language"]) ? Object.keys(c["per_language"]) : [])))]
  const rows = steps.map((s, i) => {
    const per = sets[i] && isObj(sets[i]!["per_language"]) ? (sets[i]!["per_language"] as Record<string, Obj>) : {}
    const d = (s.outputs as Obj)["disparity"]
    const index = isObj(d) && d["defined"] === false ? `undefined (${fixed(d["value"], 2)})` : est(asEstimate(d), (x) => fixed(x, 2))
    const worst = typeof (s.outputs as Obj)["worst_language"] === "string" ? String((s.outputs as Obj)["worst_language"]) : "–"
    return [labels[i]!, ...langs.map((l) => (per[l] ? `${String(per[l]!["samples"])} / ${String(per[l]!["bytes"])}` : "–")), index, worst]
  })
  return [
    paragraph("What each calibration set held (samples / UTF-8 bytes per language), and the disparity index [95% CI] it led to:"),
    table(["calibration set", ...langs, "disparity index", "worst"], rows, langs.map((_, i) => i + 1).concat(langs.length + 1))
  ]
}

export const comparisonPlot = (steps: ReadonlyArray<ReportStep>): { spec: PlotSpec; blocks: Block[] } | undefined => {
  const done = steps.filter((s) => s.uses === "disparity" && (s.status === "succeeded" || s.status === "cached") && isObj(s.outputs) && isObj((s.outputs as Obj)["languages"]))
  if (done.length < 2) return undefined
  const labels = done.map(calibrationLabel)
  const byCalibration = labels.every((l) => l !== undefined) && new Set(labels).size > 1
  const langSets = done.map((s) => Object.keys((s.outputs as Obj)["languages"] as Obj))
  const common = langSets[0]!.filter((l) => langSets.every((set) => set.includes(l)))
  if (common.length === 0) return undefined
  // a matrix instance's id already carries its value (calibration[calibration=["en"]]): the set alone reads better
  const legend = (s: ReportStep, i: number) => (byCalibration ? `calibration ${labels[i]}` : `${s.id} (${quantLabel((s.outputs as Obj)["quant"]) ?? "variant"})`)
  const series = done.map((s, i) => {
    const langs = (s.outputs as Obj)["languages"] as Record<string, Obj>
    const e = common.map((l) => asEstimate(langs[l]!["degradation"]))
    return { label: legend(s, i), values: e.map((x) => times100(x?.value)), lo: e.map((x) => times100(x?.ci?.[0])), hi: e.map((x) => times100(x?.ci?.[1])) }
  })
  const title = byCalibration ? "Calibration comparison: degradation per language by calibration set" : "Configuration comparison: degradation per language by step"
  const spec: PlotSpec = {
    kind: "bars",
    name: byCalibration ? "calibration-comparison" : "configuration-comparison",
    title,
    xlabel: "language",
    ylabel: D_LABEL,
    categories: common,
    series,
    legend_title: byCalibration ? "calibration set" : "step"
  }
  const cmp = table(
    ["language", ...series.map((s) => s.label)],
    common.map((l) => [l, ...done.map((s) => est(asEstimate(((s.outputs as Obj)["languages"] as Record<string, Obj>)[l]!["degradation"]), (x) => pct(x)))]),
    series.map((_, i) => i + 1)
  )
  const blocks: Block[] = [paragraph(byCalibration ? "Degradation d [95% CI] per language, by calibration set:" : "Degradation d [95% CI] per language, by step:"), cmp]
  if (byCalibration) blocks.push(...calibrationSets(done, series.map((s) => s.label)))
  return { spec, blocks }
}

/**
 * A bit sweep: disparity steps that differ only in bits (same method and group size) as a line
 * plot, degradation against bits with one line per language and 95% CI whiskers.
 */
export const bitsPlot = (steps: ReadonlyArray<ReportStep>): PlotSpec | undefined => {
  const done = steps.filter((s) => s.uses === "disparity" && (s.status === "succeeded" || s.status === "cached") && isObj(s.outputs) && isObj((s.outputs as Obj)["quant"]) && isObj((s.outputs as Obj)["languages"]))
  const quant = (s: ReportStep) => (s.outputs as Obj)["quant"] as Obj
  if (done.length < 2) return undefined
  const same = (k: string) => new Set(done.map((s) => String(quant(s)[k]))).size === 1
  const bits = new Set(done.map((s) => num(quant(s)["bits"])))
  if (!same("method") || !same("group_size") || bits.size !== done.length || bits.has(null)) return undefined
  const languages = Object.keys((done[0]!.outputs as Obj)["languages"] as Obj)
  return {
    kind: "lines",
    name: "degradation-by-bits",
    title: `Degradation by bits per language (${String(quant(done[0]!)["method"])}, group ${String(quant(done[0]!)["group_size"])})`,
    xlabel: "bits",
    ylabel: D_LABEL,
    series: languages.map((l) => ({
      label: l,
      points: done.flatMap((s) => {
        const e = asEstimate((((s.outputs as Obj)["languages"] as Record<string, Obj>)[l] ?? {})["degradation"])
        if (!e || e.value === null) return []
        return [{ x: num(quant(s)["bits"]) as number, y: 100 * e.value, y_lo: times100(e.ci?.[0]), y_hi: times100(e.ci?.[1]) }]
      })
    }))
  }
}

const cellTable = (t: CellTable): Block => table(t.header, t.rows, t.right)

/**
 * "Compared with" (`report RUN --compare OTHER...`): this run as A against the others, the table
 * `polyquant compare` prints (src/results/compare.ts) — the runs, what was matched with what, per
 * step each run's value, each later run's delta against A and whether their CIs overlap, then the
 * rows not in every run and the rules the table follows.
 */
export const comparedSection = (c: Comparison): Block[] => {
  const others = c.runs.slice(1).map((r) => `${r.label} (${r.id})`).join(", ")
  const unmatched = unmatchedLines(c, 20)
  return [
    { kind: "heading", level: 2, text: "Compared with" },
    paragraph(`This run (A, ${c.runs[0]!.id}) against ${others}. ${matchingSentence(c)} Deltas are each later run against A.`),
    cellTable(runsTable(c)),
    paragraph(c.by === "kernel" ? "Steps matched by kernel, in order:" : "Steps matched by id:"),
    cellTable(stepsTable(c)),
    ...comparisonTables(c).flatMap((t) => [paragraph([{ strong: t.caption }]), cellTable(t.table)]),
    paragraph(unmatched.length === 0 ? "Every row is in every run." : `Rows not in every run (${c.unmatched.length}):`),
    ...list(unmatched),
    paragraph(`${c.rules.delta}; ${c.rules.relative}.`, c.rules.ciOverlap)
  ]
}
