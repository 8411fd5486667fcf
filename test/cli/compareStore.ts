/**
 * A store of runs to compare, written through RunStore as the engine writes them (no Python), and
 * an independent reading of their stored outputs for the tests to check `compare` against:
 *
 *   r-20261126-base  quickstart  baseline (perplexity), colab_001 and colab_002 (disparity)
 *   r-20261127-fix1  quickstart  the same steps: colab_001 changed (zh added), colab_002 failed
 *   r-20261128-rnmd  renamed     the same kernels in the same order under other ids (ppl, int4_protected, int4_gptq)
 *   r-20261129-void  quickstart  every step failed: no rows
 *   r-20261130-task  task        one task-eval step: nothing in common with the others
 */
import type { Plan } from "../../src/plan/types.js"
import { RunStore } from "../../src/store/RunStore.js"

const DAY = 24 * 3600 * 1000
export const T0 = Date.UTC(2026, 10, 26, 9, 30, 12)
export const MODEL = "fixture:tiny-llama"

const planOf = (name: string, steps: ReadonlyArray<readonly [string, string]>): Plan => ({
  workflow: { name, file: `workflows/${name}.yaml`, digest: "d" },
  steps: steps.map(([id, uses]) => ({
    id, baseId: id, uses, kernelVersion: "1", with: {}, needs: [], platform: "local",
    retry: { max: 0, on: [] }, continueOnError: false, gpu: false, checkpoints: false, source: { file: `${name}.yaml`, line: 1, column: 1 }
  })),
  stages: [steps.map(([id]) => id)],
  budgets: []
})

const est = (value: number, lo: number | null, hi: number | null) => ({ value, ci: [lo, hi] })

const perplexity = (en: { ppl: number; bpb: number }, he: { ppl: number; bpb: number; bytes: number }) => ({
  protocol: { name: "rolling", context_length: 128 },
  languages: {
    en: { tokens: 1300, bytes: 4300, ppl: en.ppl, bits_per_byte: en.bpb },
    he: { tokens: 900, bytes: he.bytes, ppl: he.ppl, bits_per_byte: he.bpb }
  }
})

/** What each run's steps stored: outputs, or none (failed). */
export const OUTPUTS: Record<string, Record<string, unknown>> = {
  "r-20261126-base": {
    baseline: perplexity({ ppl: 21.4, bpb: 1.4257 }, { ppl: 35.2, bpb: 1.7, bytes: 3100 }),
    colab_001: {
      reference: "en",
      languages: {
        en: { ppl_base: 21.4, ppl_quant: 24.1, degradation: est(0.126, 0.08, 0.17), kl: 0.000412, delta_p: 0 },
        he: { ppl_base: 35.2, ppl_quant: 41.9, degradation: est(0.19, 0.13, 0.25), kl: 0.0211, delta_p: -0.004 } // negative: Δ% is over |A|
      },
      disparity: { ...est(1.42, 1.1, 1.81), defined: true },
      gap: est(0.061, 0.02, 0.1)
    },
    colab_002: {
      languages: {
        en: { ppl_base: 21.4, ppl_quant: 24.61, degradation: est(0.15, 0.1, 0.2) },
        he: { ppl_base: 35.2, ppl_quant: 42.24, degradation: est(0.2, 0.15, 0.26) }
      },
      disparity: { ...est(1.33, 1.0, 1.7), defined: true }
    }
  },
  "r-20261127-fix1": {
    baseline: perplexity({ ppl: 21.4, bpb: 1.4257 }, { ppl: 35.2, bpb: 1.7, bytes: 3100 }),
    colab_001: {
      reference: "en",
      languages: {
        // en overlaps A's interval, he does not; zh is new
        en: { ppl_base: 21.4, ppl_quant: 23.0, degradation: est(0.0748, 0.05, 0.1), kl: 0.000398, delta_p: 0.01 },
        he: { ppl_base: 35.2, ppl_quant: 36.0, degradation: est(0.0227, 0.01, 0.04), kl: 0.0102, delta_p: 0.002 },
        zh: { ppl_base: 44.0, ppl_quant: 50.2, degradation: est(0.141, 0.09, 0.2), kl: 0.03, delta_p: 0.01 }
      },
      disparity: { ...est(0.3, 0.1, 0.9), defined: true },
      gap: est(-0.05, null, null) // no interval: overlap n/a
    }
    // colab_002 failed
  },
  "r-20261128-rnmd": {
    ppl: perplexity({ ppl: 22.0, bpb: 1.44 }, { ppl: 36.1, bpb: 1.72, bytes: 123457 }),
    int4_protected: {
      languages: {
        en: { ppl_base: 22.0, ppl_quant: 24.5, degradation: est(0.1136, 0.07, 0.16), kl: 0.0005, delta_p: 0.001 },
        he: { ppl_base: 36.1, ppl_quant: 43.0, degradation: est(0.1911, 0.12, 0.26), kl: 0.02, delta_p: 0.003 }
      },
      disparity: { ...est(1.68, 1.2, 2.3), defined: true },
      gap: est(0.0775, 0.03, 0.12)
    },
    int4_gptq: {
      languages: {
        // touches A's interval at 0.2: closed intervals that share a point overlap
        en: { ppl_base: 22.0, ppl_quant: 27.5, degradation: est(0.25, 0.2, 0.3) },
        he: { ppl_base: 36.1, ppl_quant: 45.0, degradation: est(0.2465, 0.27, 0.33) }
      },
      disparity: { ...est(0.986, 0.8, 1.2), defined: true }
    }
  },
  "r-20261129-void": {},
  "r-20261130-task": {
    task: { per_language: { en: { n: 100, drop: 0.05, drop_ci: [0.01, 0.09] } }, mean_drop: 0.05 }
  }
}

export const RUNS: ReadonlyArray<{ id: string; workflow: string; steps: ReadonlyArray<readonly [string, string]> }> = [
  { id: "r-20261126-base", workflow: "quickstart", steps: [["baseline", "perplexity"], ["colab_001", "disparity"], ["colab_002", "disparity"]] },
  { id: "r-20261127-fix1", workflow: "quickstart", steps: [["baseline", "perplexity"], ["colab_001", "disparity"], ["colab_002", "disparity"]] },
  { id: "r-20261128-rnmd", workflow: "renamed", steps: [["ppl", "perplexity"], ["int4_protected", "disparity"], ["int4_gptq", "disparity"]] },
  { id: "r-20261129-void", workflow: "quickstart", steps: [["baseline", "perplexity"], ["colab_001", "disparity"]] },
  { id: "r-20261130-task", workflow: "task", steps: [["task", "task-eval"]] }
]

/** Write the runs into a new store at `path`, one day apart from T0. */
export const makeCompareStore = (path: string): void => {
  const store = RunStore.open(path)
  try {
    RUNS.forEach((run, day) => {
      const now = T0 + day * DAY
      store.createRun({ id: run.id, plan: planOf(run.workflow, run.steps), options: { sets: [], force: false }, platform: "local", now })
      for (const [id, uses] of run.steps) {
        store.stepStarted(run.id, id, 1, {}, now + 1000)
        const outputs = OUTPUTS[run.id]![id]
        const keyParts = { kernel: uses, version: "1", params: {}, models: { model: `${MODEL}@sha256:${"ab".repeat(32)}` }, corpora: {}, upstream: {} }
        if (outputs === undefined) {
          store.stepFinished(run.id, id, { status: "failed", now: now + 2000, durationMs: 1000, error: { type: "OutOfMemoryError", message: "CUDA out of memory", retryable: true }, keyParts })
        } else store.stepFinished(run.id, id, { status: "succeeded", now: now + 2000, durationMs: 1000, outputs, keyParts })
      }
      store.setRunStatus(run.id, run.id.endsWith("void") ? "failed" : "succeeded", now + 3000)
    })
  } finally {
    store.close()
  }
}

export interface Expected {
  readonly value: number
  readonly lo: number | null
  readonly hi: number | null
}

/**
 * The numbers of one step's stored outputs, read here without src/results: `language|metric` →
 * value and bounds, for the flat shapes above (numbers and `{value, ci}` per language, the step's
 * `disparity` and `gap`, task-eval's `drop` with `drop_ci`).
 */
export const expectedRows = (outputs: unknown): Map<string, Expected> => {
  const out = new Map<string, Expected>()
  if (typeof outputs !== "object" || outputs === null) return out
  const o = outputs as Record<string, unknown>
  const langs = (o["languages"] ?? o["per_language"] ?? {}) as Record<string, Record<string, unknown>>
  for (const [lang, fields] of Object.entries(langs)) {
    for (const [metric, v] of Object.entries(fields)) {
      if (typeof v === "number") out.set(`${lang}|${metric}`, { value: v, lo: null, hi: null })
      else if (typeof v === "object" && v !== null && "value" in v) {
        const e = v as { value: number; ci: [number | null, number | null] }
        out.set(`${lang}|${metric}`, { value: e.value, lo: e.ci[0], hi: e.ci[1] })
      }
    }
    if (Array.isArray(fields["drop_ci"])) out.set(`${lang}|drop`, { value: fields["drop"] as number, lo: fields["drop_ci"][0], hi: fields["drop_ci"][1] })
  }
  for (const metric of ["disparity", "gap", "mean_drop"]) {
    const v = o[metric]
    if (typeof v === "number") out.set(`|${metric}`, { value: v, lo: null, hi: null })
    else if (typeof v === "object" && v !== null) {
      const e = v as { value: number; ci: [number | null, number | null] }
      out.set(`|${metric}`, { value: e.value, lo: e.ci[0], hi: e.ci[1] })
    }
  }
  return out
}

/** Whether two intervals intersect, from the bounds; null when one lacks a bound. */
export const overlapOf = (a: Expected, b: Expected): boolean | null =>
  a.lo === null || a.hi === null || b.lo === null || b.hi === null ? null : !(a.hi < b.lo || b.hi < a.lo)

/**
 * A printed number matches `expected`: within half a unit of its last printed digit, and printed
 * to at least 3 significant digits (so a number rounded away cannot pass). "+12.3%" is a percent
 * of a fraction, with one decimal.
 */
export const printedClose = (printed: string, expected: number): string | undefined => {
  const percent = printed.endsWith("%")
  const text = percent ? printed.slice(0, -1) : printed
  const m = /^([+-]?)(\d+)(?:\.(\d+))?(?:e([+-]\d+))?$/.exec(text)
  if (m === null) return `'${printed}' is not a number`
  const value = Number(text)
  const want = percent ? 100 * expected : expected
  if (want === 0) return value === 0 ? undefined : `'${printed}' is not 0`
  if (!percent && Number.isInteger(want) && m[3] === undefined && m[4] === undefined) return value === want ? undefined : `'${printed}' is not ${want}`
  const tol = 0.5 * 10 ** (Number(m[4] ?? 0) - (m[3]?.length ?? 0))
  if (Math.abs(value - want) > tol * (1 + 1e-9)) return `'${printed}' is not ${want} (±${tol})`
  if (percent ? (m[3]?.length ?? 0) !== 1 : tol > Math.abs(want) * 5e-3) return `'${printed}' is too coarse for ${want}`
  return undefined
}
