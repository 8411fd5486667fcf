/**
 * Report sections that used to be raw JSON: `attention-heads` (COLAB-003: the share of
 * language-specific heads overall and per layer, critical layers against the rest with the Fisher
 * test, the agreement of the activation statistic with ablation) and `tokenizer-stats` (the
 * premium per language). Each gets readable tables and a plot; nothing is truncated.
 */
import { fixed, slug } from "./markdown.js"
import type { Block, PlotSpec, ReportStep } from "./types.js"
import type { Section } from "./sections.js"
import { isObj, num, objs, paragraph, table, type Obj } from "./blocks.js"


/** A share as a percent, unsigned: 0.25 → "25.0%". */
const share = (x: unknown): string => (num(x) === null ? "–" : `${(100 * (num(x) as number)).toFixed(1)}%`)

/** A p-value as printed: 3 significant digits, "< 1e-4" below that. */
const pValue = (p: unknown): string => {
  const v = num(p)
  if (v === null) return "–"
  return v < 1e-4 ? "< 1e-4" : v.toPrecision(3)
}

const pair = (ci: unknown): [number, number] | undefined => {
  if (!Array.isArray(ci) || ci.length !== 2) return undefined
  const [lo, hi] = [num(ci[0]), num(ci[1])]
  return lo === null || hi === null ? undefined : [lo, hi]
}
/** A share interval as percents: [0.1, 0.25] → "[10.0%, 25.0%]". */
const shareCi = (ci: unknown): string => {
  const p = pair(ci)
  return p ? `[${share(p[0])}, ${share(p[1])}]` : "–"
}
/** A signed share difference interval in percentage points. */
const signedCi = (ci: unknown): string => {
  const p = pair(ci)
  return p ? `[${(100 * p[0]).toFixed(1)}, ${(100 * p[1]).toFixed(1)}]` : "–"
}
const ciText = (ci: unknown, digits: number): string => {
  const p = pair(ci)
  return p ? `[${fixed(p[0], digits)}, ${fixed(p[1], digits)}]` : ""
}

export const attentionHeadsSection = (step: ReportStep, out: Obj): Section => {
  const perLayer = objs(out["per_layer"])
  const critical = isObj(out["critical_layers"]) ? out["critical_layers"] : undefined
  const criticalSet = new Set(Array.isArray(critical?.["layers"]) ? (critical!["layers"] as unknown[]).map(Number) : [])
  const unc = isObj(out["uncertainty"]) ? out["uncertainty"] : undefined
  const layerCi = new Map(objs(unc?.["per_layer"]).map((l) => [Number(l["layer"]), l["share_ci"]]))
  const blocks: Block[] = [
    paragraph(
      `${String(out["n_specific"] ?? "?")} of ${String(out["n_heads"] ?? "?")} heads are language-specific (${share(out["share_specific"])}` +
        (unc ? `, 95% CI ${shareCi(unc["share_specific_ci"])}` : "") +
        `; the seed quotes 16.7% for GPT-2). ` +
        `Rule: ablating the head raises one language's NLL by ≥ ${String(isObj(out["rule"]) ? out["rule"]["k"] : "k")} × the median of the others and ≥ ${String(isObj(out["rule"]) ? out["rule"]["floor"] : "?")} nats/token.`
    ),
    table(
      ["layer", "specific heads", "heads", "share", "share 95% CI", "critical"],
      perLayer.map((l) => [
        String(l["layer"]),
        String(l["specific"]),
        String(l["heads"]),
        share(l["share"]),
        shareCi(layerCi.get(Number(l["layer"]))),
        criticalSet.has(Number(l["layer"])) ? "yes" : ""
      ]),
      [0, 1, 2, 3]
    )
  ]
  if (critical) {
    const cu = unc && isObj(unc["critical_layers"]) ? unc["critical_layers"] : undefined
    blocks.push(
      paragraph(
        `Critical layers (${[...criticalSet].join(", ")}) hold ${share(critical["share_in_critical"])} specific heads, the others ${share(critical["share_elsewhere"])}: ` +
          `${critical["holds_more"] === true ? "more" : "not more"} (one-sided Fisher exact test p = ${pValue(critical["fisher_p"])}` +
          (cu ? `; difference 95% CI ${signedCi(cu["difference_ci"])} percentage points, more in ${share(cu["p_holds_more"])} of bootstrap replicates` : "") +
          ")."
      )
    )
  }
  if (unc) {
    const mde = isObj(unc["mde"]) ? Object.entries(unc["mde"]).map(([l, v]) => `${l} ${fixed(v, 4)}`).join(", ") : "–"
    blocks.push(
      paragraph(
        `Bootstrap over the windows (${String(isObj(unc["bootstrap"]) ? unc["bootstrap"]["samples"] : "?")} replicates): ${share(unc["stable"])} of heads keep their classification in ≥ 95% of replicates; ` +
          `the smallest ablation effect this corpus tells from 0 (nats/token): ${mde}.`
      )
    )
    const uncertain = objs(out["heads"])
      .filter((h) => (num(h["p_specific"]) ?? 0) > 0)
      .sort((a, b) => (num(b["p_specific"]) ?? 0) - (num(a["p_specific"]) ?? 0))
    if (uncertain.length)
      blocks.push(
        table(
          ["layer", "head", "specific to", "P(specific)", "most affected language", "ΔNLL (95% CI)"],
          uncertain.map((h) => {
            const lang = String(h["top_language"] ?? "")
            const d = isObj(h["delta_nll"]) ? h["delta_nll"][lang] : undefined
            const ci = isObj(h["delta_ci"]) ? h["delta_ci"][lang] : undefined
            return [String(h["layer"]), String(h["head"]), Array.isArray(h["specific_to"]) ? (h["specific_to"] as unknown[]).join(", ") || "–" : "–", fixed(h["p_specific"], 2), lang, `${fixed(d, 4)} ${ciText(ci, 4)}`]
          }),
          [0, 1, 3]
        )
      )
    if (typeof unc["note"] === "string") blocks.push(paragraph(`Note: ${unc["note"]}`))
  }
  const perLanguage = isObj(out["per_language"]) ? Object.entries(out["per_language"]) : []
  if (perLanguage.length) blocks.push(table(["language", "heads specific to it"], perLanguage.map(([l, n]) => [l, String(n)]), [1]))
  const agreement = isObj(out["agreement"]) ? out["agreement"] : undefined
  const spearman = agreement && isObj(agreement["spearman"]) ? agreement["spearman"] : undefined
  if (agreement)
    blocks.push(
      paragraph(
        `Activation statistic against ablation: Spearman ρ = ${fixed(spearman?.["rho"], 3)} (permutation p = ${pValue(spearman?.["p"])}) over heads; ` +
          `the most affected language agrees for ${share(agreement["top_language_match"])} of heads.`
      )
    )
  const plots: PlotSpec[] = perLayer.length
    ? [
        {
          kind: "bars",
          name: `${slug(step.id)}-heads`,
          title: `${step.id}: share of language-specific heads per layer`,
          xlabel: "layer (* critical)",
          ylabel: "language-specific heads (%)",
          categories: perLayer.map((l) => `${String(l["layer"])}${criticalSet.has(Number(l["layer"])) ? "*" : ""}`),
          series: [{ label: "share", values: perLayer.map((l) => (num(l["share"]) === null ? null : 100 * (num(l["share"]) as number))) }],
          ...(num(out["share_specific"]) !== null ? { reference_line: 100 * (num(out["share_specific"]) as number) } : {})
        }
      ]
    : []
  return { stepId: step.id, blocks, plots }
}

export const tokenizerStatsSection = (step: ReportStep, out: Obj): Section => {
  const langs = isObj(out["languages"]) ? Object.entries(out["languages"]).filter((e): e is [string, Obj] => isObj(e[1])) : []
  const tok = isObj(out["tokenizer"]) ? out["tokenizer"] : {}
  const reference = typeof out["reference"] === "string" ? out["reference"] : "en"
  const blocks: Block[] = [
    paragraph(`Tokenizer ${String(tok["id"] ?? "?")} (${String(tok["class"] ?? "?")}, vocabulary ${String(tok["vocab_size"] ?? "?")}); premium = tokens / the ${reference} tokens on the same text.`),
    table(
      ["language", "tokens per byte", "tokens per character", "bytes per token", "premium"],
      langs.map(([l, r]) => [l === reference ? `${l} (ref)` : l, fixed(r["tokens_per_byte"], 4), fixed(r["tokens_per_char"], 4), fixed(r["bytes_per_token"], 3), `${fixed(r["premium"], 3)}×`]),
      [1, 2, 3, 4]
    )
  ]
  const plots: PlotSpec[] = [
    {
      kind: "bars",
      name: `${slug(step.id)}-premium`,
      title: `${step.id}: tokenizer premium per language`,
      xlabel: "language",
      ylabel: `tokens relative to ${reference} (×)`,
      categories: langs.map(([l]) => l),
      series: [{ label: String(tok["id"] ?? step.id), values: langs.map(([, r]) => num(r["premium"])) }],
      reference_line: 1
    }
  ]
  return { stepId: step.id, blocks, plots }
}

