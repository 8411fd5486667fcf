/** COLAB-003 and the tokenizer premium in the report: tables and a plot where raw JSON was, every number from the outputs. */
import { describe, expect, it } from "vitest"
import { buildReport } from "../../src/report/write.js"
import type { ReportInput } from "../../src/report/types.js"

const input = (steps: ReportInput["steps"]): ReportInput => ({ workflow: { name: "w", file: "w.yaml" }, run: { id: "20261202-155616-d3c7", status: "succeeded", startedAt: 0 }, steps, branches: [] })

describe("attention-heads and tokenizer-stats sections", () => {
  it("tabulates specific heads per layer, the critical-layer test and the agreement, and plots the shares", () => {
    const out = {
      n_heads: 8, n_specific: 3, share_specific: 0.375, rule: { k: 3, floor: 0.01 },
      per_layer: [{ layer: 0, specific: 2, heads: 4, share: 0.5 }, { layer: 1, specific: 1, heads: 4, share: 0.25 }],
      per_language: { en: 0, he: 3 },
      agreement: { spearman: { rho: 0.5, p: 0.045 }, top_language_match: 0.625 },
      critical_layers: { layers: [0], share_in_critical: 0.5, share_elsewhere: 0.25, holds_more: true, fisher_p: 0.5 }
    }
    const r = buildReport(input([{ id: "heads", uses: "attention-heads", status: "succeeded", outputs: out }]))
    expect(r.markdown).toContain("3 of 8 heads are language-specific (37.5%; the seed quotes 16.7% for GPT-2)")
    expect(r.markdown).toContain("| 0 | 2 | 4 | 50.0% | – | yes |")
    expect(r.markdown).toContain("| 1 | 1 | 4 | 25.0% | – |  |")
    expect(r.markdown).toContain("Critical layers (0) hold 50.0% specific heads, the others 25.0%: more (one-sided Fisher exact test p = 0.500).")
    expect(r.markdown).toContain("Spearman ρ = 0.500 (permutation p = 0.0450)")
    expect(r.markdown).not.toContain("truncated")
    const bars = r.plots.find((p) => p.name === "heads-heads")
    expect(bars?.kind === "bars" && bars.categories).toEqual(["0*", "1"])
    expect(bars?.kind === "bars" && bars.series[0]!.values).toEqual([50, 25])
  })

  it("tabulates the tokenizer premium and plots it against the reference line at 1", () => {
    const out = {
      tokenizer: { id: "llama2", class: "LlamaTokenizerFast", vocab_size: 32000 }, reference: "en", corpus: {},
      languages: { en: { tokens_per_byte: 0.25, tokens_per_char: 0.25, bytes_per_token: 4, premium: 1 }, he: { tokens_per_byte: 0.5, tokens_per_char: 0.9, bytes_per_token: 2, premium: 3.42 } }
    }
    const r = buildReport(input([{ id: "premium", uses: "tokenizer-stats", status: "succeeded", outputs: out }]))
    expect(r.markdown).toContain("| he | 0.5000 | 0.9000 | 2.000 | 3.420× |")
    const bars = r.plots.find((p) => p.name === "premium-premium")
    expect(bars?.kind === "bars" && bars.series[0]!.values).toEqual([1, 3.42])
    expect(bars?.kind === "bars" && bars.reference_line).toBe(1)
  })
})
