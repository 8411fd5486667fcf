/**
 * `polyquant export RUN`: the quickstart's stored results as tidy rows. Every disparity degradation
 * row carries the stored estimate and its CI; pandas reads the CSV and pivots it to languages × metrics
 * with no reshaping; jsonl holds the same rows; a bad format is refused naming the choices.
 */
import { spawnSync } from "node:child_process"
import { mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { beforeAll, describe, expect, it } from "vitest"
import { projectRoot, resolveInterpreter } from "../../src/python/interpreter.js"
import { RunStore } from "../../src/store/RunStore.js"

const root = projectRoot()
const cli = (args: string[]) => spawnSync("node", ["bin/polyquant.js", ...args], { cwd: root, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } })

describe("polyquant export", () => {
  let store: string
  let runId: string
  beforeAll(() => {
    store = join(mkdtempSync(join(tmpdir(), "polyquant-export-")), "pq.db")
    const r = cli(["run", "workflows/quickstart.yaml", "--plain", "--store", store, "--set", "defaults.bootstrap.samples=100"])
    expect(r.status, r.stdout.slice(-2000) + r.stderr.slice(-2000)).toBe(0)
    runId = /run (\S+) started/.exec(r.stdout)![1]!
  }, 300_000)

  it("writes the stored estimates and their CIs as tidy rows, and pandas pivots them", () => {
    const out = join(tmpdir(), `export-${process.pid}.csv`)
    const r = cli(["export", runId, "--store", store, "--out", out])
    expect(r.status, r.stderr).toBe(0)
    const lines = readFileSync(out, "utf8").trim().split("\n")
    expect(lines[0]).toBe("run,step,kernel,model,language,metric,value,ci_lo,ci_hi")
    const db = RunStore.open(store)
    try {
      const step = db.getStep(runId, "colab_001")!
      const langs = (step.outputs as { languages: Record<string, { degradation: { value: number; ci: [number, number] } }> }).languages
      for (const [lang, row] of Object.entries(langs)) {
        const line = lines.find((l) => l.startsWith(`${runId},colab_001,disparity,fixture:tiny-llama,${lang},degradation,`))
        expect(line, lang).toBeDefined()
        const [, , , , , , value, lo, hi] = line!.split(",")
        expect(Number(value)).toBe(row.degradation.value)
        expect([Number(lo), Number(hi)]).toEqual(row.degradation.ci)
      }
    } finally {
      db.close()
    }
    const pandas = [
      "import sys, pandas as pd",
      "t = pd.read_csv(sys.argv[1])",
      "d = t[(t.step == 'colab_001') & (t.metric == 'degradation')].pivot(index='language', columns='metric', values='value')",
      "print(sorted(d.index), len(t.columns))"
    ].join("\n")
    const p = spawnSync(resolveInterpreter().path, ["-c", pandas, out], { encoding: "utf8" })
    expect(p.status, p.stderr).toBe(0)
    expect(p.stdout.trim()).toBe("['ar', 'en', 'he', 'zh'] 9")
    const jsonl = cli(["export", runId, "--store", store, "--format", "jsonl"])
    expect(jsonl.stdout.trim().split("\n")).toHaveLength(lines.length - 1)
    const bad = cli(["export", runId, "--store", store, "--format", "xml"])
    expect(bad.status).toBe(2)
    expect(bad.stderr).toContain("--format xml is not one of csv, jsonl, parquet")
    expect(cli(["export", runId, "--store", store, "--format", "parquet"]).stderr).toContain("--format parquet writes a file: name it with --out FILE")
    // parquet, and the notebook reader polyquant.results, hold the same rows as the csv
    const parquet = join(tmpdir(), `export-${process.pid}.parquet`)
    expect(cli(["export", runId, "--store", store, "--format", "parquet", "--out", parquet]).status).toBe(0)
    const read = [
      "import sys",
      "sys.path.insert(0, 'python')",
      "import pandas as pd",
      "from polyquant import results",
      "csv, parquet = pd.read_csv(sys.argv[1], keep_default_na=False), pd.read_parquet(sys.argv[2])",
      "frame = results.load(sys.argv[3], run=sys.argv[4])",
      "every = results.load(sys.argv[3])",
      "one = results.load(sys.argv[3], step='colab_001')",
      "print(len(csv), len(parquet), len(frame), len(every), sorted(set(one.step)), list(frame.columns) == list(csv.columns), abs(parquet.value.sum() - csv.value.sum()) < 1e-6)"
    ].join("\n")
    const r2 = spawnSync(resolveInterpreter().path, ["-c", read, out, parquet, store, runId], { cwd: root, encoding: "utf8" })
    expect(r2.status, r2.stderr).toBe(0)
    const n = lines.length - 1
    expect(r2.stdout.trim()).toBe(`${n} ${n} ${n} ${n} ['colab_001'] True True`)
  })

  it("--windows writes each disparity window's NLLs, from which pandas recomputes the stored perplexities", () => {
    const out = join(tmpdir(), `export-windows-${process.pid}.csv`)
    const r = cli(["export", runId, "--windows", "--store", store, "--out", out])
    expect(r.status, r.stderr).toBe(0)
    expect(readFileSync(out, "utf8").split("\n")[0]).toBe("run,step,language,window,doc,nll_base,nll_quant,tokens,bytes")
    const script = [
      "import json, math, sys",
      "import pandas as pd",
      "w = pd.read_csv(sys.argv[1])",
      "g = w[w.step == 'colab_001'].groupby('language')[['nll_base', 'nll_quant', 'tokens']].sum()",
      "print(json.dumps({l: [math.exp(r.nll_base / r.tokens), math.exp(r.nll_quant / r.tokens)] for l, r in g.iterrows()}))"
    ].join("\n")
    const py = spawnSync(resolveInterpreter().path, ["-c", script, out], { encoding: "utf8" })
    expect(py.status, py.stderr).toBe(0)
    const recomputed = JSON.parse(py.stdout) as Record<string, [number, number]>
    const db = RunStore.open(store)
    try {
      const langs = (db.getStep(runId, "colab_001")!.outputs as { languages: Record<string, { ppl_base: number; ppl_quant: number }> }).languages
      expect(Object.keys(recomputed).sort()).toEqual(Object.keys(langs).sort())
      for (const [lang, row] of Object.entries(langs)) {
        expect(recomputed[lang]![0]).toBeCloseTo(row.ppl_base, 9)
        expect(recomputed[lang]![1]).toBeCloseTo(row.ppl_quant, 9)
      }
    } finally {
      db.close()
    }
    const bad = cli(["export", runId, "--windows", "--format", "parquet", "--out", out, "--store", store])
    expect(bad.status).toBe(2)
    expect(bad.stderr).toContain("--windows writes csv or jsonl")
  })
})
