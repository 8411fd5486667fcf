/**
 * `polyquant notebook`: the notebook it writes is valid nbformat, and a real kernel (nbclient +
 * ipykernel) executes it end to end on the fixture with the local profile standing in for Drive.
 * The session is then killed mid-run (the kernel and every process under it, SIGKILL, as a VM
 * that goes away), the notebook is executed again, and the run resumes — the same run, not a new
 * one — and finishes with the outputs of a run that was never interrupted.
 */
import { spawn, spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, readdirSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { describe, expect, it } from "vitest"
import { buildNotebook } from "../../src/notebook/build.js"
import { resolveInterpreter } from "../../src/python/interpreter.js"

const CLI = resolve("bin/polyquant.js")
const python = resolveInterpreter().path
const hasKernel = resolveInterpreter().exists && spawnSync(python, ["-c", "import nbclient, ipykernel, nbformat"]).status === 0
// outside CI a Python without nbclient skips; in CI it fails (requirements.txt installs both)
const skip = !hasKernel && process.env["CI"] !== "true"

const polyquant = (args: string[], cwd = process.cwd()) => spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: "utf8" })

const writeNotebook = (root: string, out: string, extra: string[] = []) => {
  const res = polyquant(["notebook", "workflows/quickstart.yaml", "--platform", "local", "--root", root, "--out", out, ...extra])
  expect(res.status, res.stderr).toBe(0)
}

interface RunRow {
  id: string
  workflow: string
  status: string
  succeeded: number
  owner: { state: string } | null
}
const runsIn = (root: string): RunRow[] => {
  const store = join(root, "polyquant.db")
  if (!existsSync(store)) return []
  const res = polyquant(["runs", "--json", "--store", store])
  return res.status === 0 ? (JSON.parse(res.stdout) as RunRow[]) : []
}
const outputsOf = (root: string, runId: string): Record<string, { status: string; outputs: unknown }> => {
  const res = polyquant(["show", runId, "--json", "--store", join(root, "polyquant.db")])
  expect(res.status, res.stderr).toBe(0)
  const shown = JSON.parse(res.stdout) as { steps: Array<{ stepId: string; status: string; outputs: unknown }> }
  return Object.fromEntries(shown.steps.map((s) => [s.stepId, { status: s.status, outputs: s.outputs }]))
}

/** The process and everything it started, read from /proc (a kernel runs in its own session). */
const processTree = (pid: number): number[] => {
  const children = new Map<number, number[]>()
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8")
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1])
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)])
    } catch {
      // the process ended while we read
    }
  }
  const out: number[] = []
  const walk = (p: number) => {
    out.push(p)
    for (const c of children.get(p) ?? []) walk(c)
  }
  walk(pid)
  return out
}

const execute = (notebook: string, workdir: string) =>
  spawn(python, [resolve("test/notebook/execute.py"), notebook, `${notebook}.out.ipynb`, workdir], { stdio: ["ignore", "pipe", "pipe"] })

const finished = (child: ReturnType<typeof execute>): Promise<{ code: number | null; signal: string | null; stderr: string }> =>
  new Promise((done) => {
    let stderr = ""
    child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()))
    child.on("exit", (code, signal) => done({ code, signal, stderr }))
  })

describe("polyquant notebook", () => {
  it("writes nbformat 4 cells for each platform: Drive on Colab, /kaggle/working on Kaggle, POLYQUANT_PYTHON from the notebook's Python", () => {
    const base = { workflowName: "w", workflowFileName: "w.yaml", sets: ["defaults.model.id=fixture:tiny-gpt2"], source: "https://example.org/polyquant.git" }
    const colab = buildNotebook({ ...base, platform: "colab", workflowInCheckout: "workflows/w.yaml" })
    const text = (nb: typeof colab) => nb.cells.map((c) => c.source.join("")).join("\n")
    expect(colab.nbformat).toBe(4)
    expect(text(colab)).toContain('drive.mount("/content/drive")')
    expect(text(colab)).toContain('"/content/drive/MyDrive/polyquant"')
    expect(text(colab)).toContain('os.environ["POLYQUANT_PYTHON"] = sys.executable')
    expect(text(colab)).toContain("deb.nodesource.com/setup_20.x")
    expect(text(colab)).toContain('SETS = ["defaults.model.id=fixture:tiny-gpt2"]')
    const kaggle = buildNotebook({ ...base, platform: "kaggle", workflowText: 'name: w\nsteps: {}\n# "quoted" \\ text\n' })
    expect(text(kaggle)).toContain('"/kaggle/working/polyquant"')
    expect(text(kaggle)).not.toContain("drive.mount")
    // an embedded workflow is a Python string literal that gives back the text exactly
    const literal = /WORKFLOW_YAML = (.*)\n/.exec(text(kaggle))![1]!
    const back = spawnSync("python3", ["-c", `import sys; sys.stdout.write(${literal})`], { encoding: "utf8" })
    expect(back.stdout).toBe('name: w\nsteps: {}\n# "quoted" \\ text\n')
  })

  it("refuses a workflow that does not load, an unknown platform and a missing one, writing nothing", () => {
    const dir = mkdtempSync(join(tmpdir(), "pq-nb-"))
    const out = join(dir, "x.ipynb")
    const bad = polyquant(["notebook", "workflows/quickstart.yaml", "--platform", "local", "--set", "steps.colab_001.with.quant.bits=11", "--out", out])
    expect(bad.status).toBe(2)
    expect(bad.stderr).toMatch(/no notebook written/)
    expect(polyquant(["notebook", "workflows/quickstart.yaml", "--platform", "sagemaker", "--out", out]).stderr).toMatch(/--platform sagemaker is not one of colab, kaggle, local/)
    expect(polyquant(["notebook", "workflows/quickstart.yaml", "--out", out]).status).toBe(2)
    expect(existsSync(out)).toBe(false)
  })

  it.skipIf(skip)(
    "executes in a real kernel, survives a killed session, and resumes to the outputs of an uninterrupted run",
    async () => {
      const dir = mkdtempSync(join(tmpdir(), "pq-nb-"))
      // uninterrupted
      const rootA = join(dir, "drive-a")
      writeNotebook(rootA, join(dir, "a.ipynb"))
      const a = await finished(execute(join(dir, "a.ipynb"), dir))
      expect(a.code, a.stderr.slice(-3000)).toBe(0)
      const [runA] = runsIn(rootA)
      expect(runA).toMatchObject({ workflow: "quickstart", status: "succeeded" })
      const executed = JSON.parse(readFileSync(join(dir, "a.ipynb.out.ipynb"), "utf8")) as { cells: Array<{ id: string; outputs?: Array<{ text?: string | string[]; data?: Record<string, unknown> }> }> }
      const outputText = (id: string) => (executed.cells.find((c) => c.id === id)?.outputs ?? []).map((o) => (Array.isArray(o.text) ? o.text.join("") : (o.text ?? ""))).join("")
      expect(outputText("run")).toMatch(/run \S+ succeeded in/)
      // the report is shown in the notebook, inline
      const report = executed.cells.find((c) => c.id === "report")?.outputs ?? []
      expect(report.some((o) => o.data !== undefined && ("text/html" in o.data || "text/markdown" in o.data))).toBe(true)

      // killed mid-run: once a step has finished and the run still goes
      const rootB = join(dir, "drive-b")
      writeNotebook(rootB, join(dir, "b.ipynb"))
      const child = execute(join(dir, "b.ipynb"), dir)
      const ended = finished(child)
      let killedAt: RunRow | undefined
      for (let i = 0; i < 600 && killedAt === undefined; i++) {
        await new Promise((r) => setTimeout(r, 250))
        const run = runsIn(rootB)[0]
        if (run !== undefined && run.status === "running" && run.succeeded >= 1) {
          for (const pid of processTree(child.pid!)) {
            try {
              process.kill(pid, "SIGKILL")
            } catch {
              // already gone
            }
          }
          killedAt = run
        }
      }
      expect(killedAt, "the run never reached a finished step while running").toBeDefined()
      await ended
      await new Promise((r) => setTimeout(r, 1500)) // the worker's watchdog notices its parent is gone
      const afterKill = runsIn(rootB)
      expect(afterKill).toHaveLength(1)
      expect(afterKill[0]).toMatchObject({ id: killedAt!.id, status: "interrupted" })

      // the same notebook, executed again, resumes that run
      const again = await finished(execute(join(dir, "b.ipynb"), dir))
      expect(again.code, again.stderr.slice(-3000)).toBe(0)
      const runs = runsIn(rootB)
      expect(runs.map((r) => [r.id, r.status])).toEqual([[killedAt!.id, "succeeded"]])
      const resumedOut = JSON.parse(readFileSync(join(dir, "b.ipynb.out.ipynb"), "utf8")) as typeof executed
      const runCell = (resumedOut.cells.find((c) => c.id === "run")?.outputs ?? []).map((o) => (Array.isArray(o.text) ? o.text.join("") : (o.text ?? ""))).join("")
      expect(runCell).toContain(`resuming run ${killedAt!.id}`)
      // the outputs equal the uninterrupted run's, step for step
      expect(outputsOf(rootB, killedAt!.id)).toEqual(outputsOf(rootA, runA!.id))
    },
    900_000
  )
})
