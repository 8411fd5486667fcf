import { spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { buildReport, reportInputFromStore } from "../../src/report/index.js"
import { reportInput, storeFixture } from "./fixtures.js"
import { parseSvg, pngSize } from "./svg.js"

const root = new URL("../../", import.meta.url).pathname
const tmp = mkdtempSync(join(tmpdir(), "pq-report-store-"))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

describe("reportInputFromStore", () => {
  it("reads the run, its steps with outputs and plan parameters, its branches and last budgets", () => {
    const store = storeFixture(join(tmp, "a.db"))
    const got = reportInputFromStore(store, "r-2026") // a unique prefix is enough
    store.close()
    const want = reportInput()
    expect(got.run).toEqual({ ...want.run })
    expect(got.steps.map((s) => [s.id, s.uses, s.status, s.durationMs])).toEqual(want.steps.map((s) => [s.id, s.uses, s.status, s.durationMs]))
    expect(got.steps.find((s) => s.id === "colab_001")?.with).toEqual({ quant: { method: "rtn", bits: 4 } })
    expect(got.steps.find((s) => s.id === "kaggle_001")?.platform).toBe("kaggle")
    expect(got.steps.find((s) => s.id === "sweep")?.outputs).toEqual(want.steps.find((s) => s.id === "sweep")?.outputs)
    expect(got.steps.find((s) => s.id === "broken")?.error?.type).toBe("CorpusError")
    expect(got.branches).toEqual(want.branches)
    expect(got.budgets).toEqual([
      { platform: "colab-free", window: "day", limitHours: 4, usedHours: 0.5019 },
      { platform: "kaggle", window: "week", limitHours: 30, usedHours: 2.25 }
    ])
    // the stored run makes the same results sections as the plain-data input
    const results = (md: string) => md.slice(md.indexOf("## Results"))
    const wantSteps = want.steps.map((s) => ({ ...s, platform: s.id.startsWith("kaggle") ? "kaggle" : "local" }))
    expect(results(buildReport(got).markdown)).toBe(results(buildReport({ ...want, steps: wantSteps, budgets: got.budgets }).markdown))
  })
})

describe("polyquant report (CLI)", () => {
  const cli = (...args: string[]) => spawnSync(process.execPath, [join(root, "bin", "polyquant.js"), "report", ...args], { cwd: tmp, encoding: "utf8", timeout: 120_000 })

  it("writes report.md and the plots into the run's default folder beside the store", () => {
    expect(existsSync(join(root, "dist", "cli", "main.js")), "dist/ is missing: run `npm run build` first").toBe(true)
    const db = join(tmp, "store", "polyquant.db")
    storeFixture(db).close()
    const r = cli("r-20261126-week1", "--store", db)
    expect(r.stderr).toBe("")
    expect(r.status).toBe(0)
    const dir = join(tmp, "store", "reports", "r-20261126-week1")
    expect(r.stdout.split("\n")[0]).toBe(join(dir, "report.md"))
    const md = readFileSync(join(dir, "report.md"), "utf8")
    expect(md).toContain("# week1-validation: run r-20261126-week1")
    const svg = parseSvg(join(dir, "sweep-sweep.svg"))
    expect(svg.root).toBe("svg")
    expect(svg.texts).toContain("sweep: protect-one layer sweep, degradation by layer and language")
    expect(pngSize(join(dir, "sweep-sweep.png")).width).toBeGreaterThan(300)
  }, 120_000)

  it("writes into --out, and names an unknown run with the runs it knows", () => {
    const db = join(tmp, "store2", "polyquant.db")
    storeFixture(db).close()
    const out = join(tmp, "custom-out")
    const r = cli("r-20261126-week1", "--store", db, "--out", out, "--no-plots")
    expect(r.status).toBe(0)
    expect(readFileSync(join(out, "report.md"), "utf8")).toContain("> Plots could not be drawn: no plot renderer given")
    const bad = cli("nope", "--store", db)
    expect(bad.status).toBe(2)
    expect(bad.stderr).toBe("polyquant report: no run 'nope' in the store; recent runs: r-20261126-week1\n")
    const none = cli("--store", db)
    expect(none.status).toBe(2)
    expect(none.stderr).toContain("give one run id")
  }, 120_000)
})
