/** A ReportInput with one step of each kind the report draws, built from the recorded week-1 stream. */
import { readFileSync } from "node:fs"
import { RunEvent } from "../../src/engine/events.js"
import type { Plan, PlannedStep } from "../../src/plan/types.js"
import type { ReportInput, ReportStep } from "../../src/report/types.js"
import { RunStore } from "../../src/store/RunStore.js"

export const eventsPath = new URL("../fixtures/events/week1.jsonl", import.meta.url).pathname

export const week1Events = (): RunEvent[] =>
  readFileSync(eventsPath, "utf8")
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => RunEvent.parse(JSON.parse(l)))

const sweep = {
  mode: "protect-one",
  quant: { method: "rtn", bits: 4, group_size: 128, sym: false },
  protected: [],
  groups: [[0], [1], [2], [3]],
  languages: ["ar", "en", "he", "zh"],
  baseline: { ar: 30.8, en: 21.4, he: 35.2, zh: 44.0 },
  all_quantized: { degradation: { ar: 0.2, en: 0.15, he: 0.22, zh: 0.25 }, mean: 0.205 },
  rows: [0, 1, 2, 3].map((i) => {
    const d = { ar: 0.2 - 0.03 * (i === 0 ? 2 : 1), en: 0.15 - 0.01 * i, he: 0.22 - 0.02 * i, zh: 0.25 - 0.04 * (i === 3 ? 2 : 0) }
    const mean = (d.ar + d.en + d.he + d.zh) / 4
    const ci = Object.fromEntries(Object.entries(d).map(([l, v]) => [l, [v - 0.01, v + 0.02]]))
    return { layers: [i], label: `layer ${i}`, degradation: d, mean, degradation_ci: ci, mean_ci: [mean - 0.005, mean + 0.005] }
  }),
  critical_layers: [
    { layers: [3], label: "layer 3", score: 0.035, score_ci: [0.01, 0.06], p_top_k: 0.9, separated: true },
    { layers: [0], label: "layer 0", score: 0.0225, score_ci: [-0.002, 0.05], p_top_k: 0.6, separated: false }
  ],
  configurations: 4,
  uncertainty: { bootstrap: { samples: 1000, seed: 0, unit: "segment" }, top_k: 2, mde: { ar: 0.012, en: 0.008, he: 0.015, zh: 0.02 }, separated: ["layer 3"], note: null }
}

const importance = {
  languages: ["en", "he"],
  layers: 4,
  criteria: ["fisher", "hessian_trace", "activation_variance"],
  mean: {
    layers: [0, 1, 2, 3].map((i) => ({ layer: i, fisher: 0.5 / (i + 1), hessian_trace: 12 - i, activation_variance: 0.0001 * (i + 1) })),
    correlations: [
      { a: "fisher", b: "hessian_trace", rho: 0.8, p: 0.2, n: 4 },
      { a: "fisher", b: "activation_variance", rho: -1, p: 0, n: 4 },
      { a: "hessian_trace", b: "activation_variance", rho: null, p: null, n: 4 }
    ]
  }
}

const langsOf = (e: RunEvent | undefined): Record<string, Record<string, unknown>> => {
  if (e?.type !== "step-finished") throw new Error("not a step-finished event")
  return (e.outputs as { languages: Record<string, Record<string, unknown>> }).languages
}

/** The week-1 run (from the events) plus a sweep, an importance step and a calibration pair. */
export const reportInput = (): ReportInput => {
  const events = week1Events()
  const finished = (id: string) => events.find((e) => e.type === "step-finished" && e.stepId === id)
  const step = (id: string, uses: string): ReportStep => {
    const e = finished(id)
    if (e?.type !== "step-finished") throw new Error(id)
    return { id, uses, status: e.status, durationMs: e.durationMs, ...(e.outputs !== undefined ? { outputs: e.outputs } : {}), ...(e.reason ? { reason: e.reason } : {}) }
  }
  // colab_001's disparity outputs with the kernel's own field names (python/polyquant/kernels/disparity.py)
  const kernelShape = (id: string) => {
    const e = finished(id)
    const langs = langsOf(e)
    const out = (e as { outputs: Record<string, unknown> }).outputs
    return {
      ...out,
      quant: { method: "rtn", bits: 4, group_size: 128, sym: false, modules: 14, mean_rel_error: 0.08 },
      protected: ["model.layers.0", "model.layers.3"],
      languages: Object.fromEntries(
        Object.entries(langs).map(([l, r]) => {
          const b = r["baseline"] as { ppl: number; bits_per_byte: number }
          const q = r["quantized"] as { ppl: number; bits_per_byte: number }
          return [l, { ppl_base: b.ppl, ppl_quant: q.ppl, bpb_base: b.bits_per_byte, bpb_quant: q.bits_per_byte, tokens: 1000, kl: r["kl"], delta_p: r["delta_p"], top1_agreement: r["top1_agreement"], degradation: r["degradation"], delta_bpb: r["delta_bpb"] }]
        })
      )
    }
  }
  return {
    workflow: { name: "week1-validation", file: "workflows/quickstart.yaml" },
    run: { id: "r-20261126-week1", status: "succeeded", platform: "local", startedAt: events[0]!.t, finishedAt: events[events.length - 1]!.t },
    steps: [
      step("baseline", "perplexity"),
      { ...step("colab_001", "disparity"), outputs: kernelShape("colab_001") },
      { ...step("colab_002", "disparity"), outputs: kernelShape("colab_002") },
      step("kaggle_001", "layer-sweep"),
      { id: "sweep", uses: "layer-sweep", status: "cached", durationMs: 12000, outputs: sweep },
      { id: "importance", uses: "layer-importance", status: "succeeded", durationMs: 9000, outputs: importance },
      { id: "broken", uses: "perplexity", status: "failed", durationMs: 300, error: { type: "CorpusError", message: "corpus language 'xx' yields no scored tokens" } }
    ],
    branches: events.flatMap((e) => (e.type === "branch-decided" ? [{ stepId: e.stepId, expression: e.expression, result: e.result, values: e.values }] : [])),
    budgets: [{ platform: "colab-free", window: "day", limitHours: 4, usedHours: 0.5019 }]
  }
}

export const calibrationInput = (): ReportInput => {
  const base = reportInput()
  const pick = base.steps.find((s) => s.id === "colab_002")!
  const mk = (id: string, languages: string[], scale: number): ReportStep => {
    const out = pick.outputs as { languages: Record<string, { degradation: { value: number; ci: [number, number] } }> }
    const langs = Object.fromEntries(Object.entries(out.languages).map(([l, r]) => [l, { ...r, degradation: { value: r.degradation.value * scale, ci: [r.degradation.ci[0] * scale, r.degradation.ci[1] * scale] } }]))
    return { id, uses: "disparity", status: "succeeded", durationMs: 4000, outputs: { ...out, quant: { method: "gptq", bits: 4, group_size: 128, sym: false }, languages: langs }, with: { quant: { method: "gptq", calibration: { languages } } } }
  }
  return { ...base, steps: [mk("calib[set=en]", ["en"], 1.5), mk("calib[set=multi]", ["en", "he", "ar", "zh"], 1.0)], branches: [] }
}

/** Store the fixture run the way the engine would: plan, step results, branches, events. */
export const storeFixture = (dbPath: string): RunStore => {
  const input = reportInput()
  const planned = (id: string, uses: string): PlannedStep => ({
    id, baseId: id, uses, kernelVersion: "1", with: id === "colab_001" ? { quant: { method: "rtn", bits: 4 } } : {}, needs: [], platform: id.startsWith("kaggle") ? "kaggle" : "local",
    retry: { max: 0, on: [] }, continueOnError: false, gpu: true, checkpoints: false, source: { file: "wf.yaml", line: 1, column: 1 }
  })
  const plan: Plan = {
    workflow: { name: input.workflow.name, file: input.workflow.file, digest: "d" },
    steps: input.steps.map((s) => planned(s.id, s.uses)),
    stages: [input.steps.map((s) => s.id)],
    budgets: [{ platform: "colab-free", gpuHours: 4, per: "day" }]
  }
  const store = RunStore.open(dbPath)
  store.createRun({ id: input.run.id, plan, options: { sets: [], force: false }, platform: "local", now: input.run.startedAt })
  for (const e of week1Events()) store.appendEvent(e)
  for (const s of input.steps) {
    store.stepFinished(input.run.id, s.id, {
      status: s.status,
      now: input.run.startedAt + 1000,
      durationMs: s.durationMs ?? 0,
      ...(s.outputs !== undefined ? { outputs: s.outputs } : {}),
      ...(s.error ? { error: s.error } : {}),
      ...(s.reason ? { reason: s.reason } : {})
    })
  }
  for (const b of input.branches) store.recordBranch(input.run.id, { ...b, values: { ...b.values }, t: input.run.startedAt })
  store.setRunStatus(input.run.id, "succeeded", input.run.finishedAt!)
  return store
}
