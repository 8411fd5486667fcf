/**
 * The Ray executor through the CLI, as a user runs it (`polyquant run … --executor ray`, a local Ray
 * with two CPU actors): the same outputs and cache keys as the local executor for KAGGLE-002's model
 * matrix and for a sweep fanned out over both actors, also when a helper actor is killed mid-sweep;
 * no Ray process left after Ctrl-C or kill -9 of the CLI.
 */
import { execFile, spawn } from "node:child_process"
import { randomUUID } from "node:crypto"
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import type { RunEvent } from "../../src/engine/events.js"
import { resolveInterpreter } from "../../src/python/interpreter.js"
import { rayVersion } from "../../src/python/extras.js"
import { RunStore } from "../../src/store/RunStore.js"

const root = join(import.meta.dirname, "..", "..")
const bin = join(root, "bin", "polyquant.js")
// CI installs the extra (`npm test` asks for it): there these tests never skip
const noRay = rayVersion(resolveInterpreter().path) === undefined && process.env["CI"] !== "true"

interface Result {
  code: number | null
  stdout: string
  stderr: string
}

const cli = (args: string[], env: Record<string, string> = {}): Promise<Result> =>
  new Promise((resolve) => {
    execFile("node", [bin, ...args], { cwd: root, timeout: 300_000, env: { ...process.env, ...env } }, (error, stdout, stderr) => {
      const e = error as (Error & { code?: number }) | null
      resolve({ code: e ? (typeof e.code === "number" ? e.code : null) : 0, stdout, stderr })
    })
  })

const events = (stdout: string): RunEvent[] =>
  stdout
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as RunEvent)

/** Each step's outputs and cache key, from the store. */
const stored = (storePath: string, stdout: string): Record<string, { outputs: unknown; key: string | null }> => {
  const runId = events(stdout).find((e) => e.type === "run-started")?.runId ?? ""
  const store = RunStore.open(storePath)
  try {
    return Object.fromEntries(store.getSteps(runId).map((s) => [s.stepId, { outputs: s.outputs, key: s.cacheKey ?? null }]))
  } finally {
    store.close()
  }
}

const logs = (stdout: string): string[] => events(stdout).flatMap((e) => (e.type === "log" ? [`${e.level} ${e.message}`] : []))

/** Processes whose environment carries POLYQUANT_TEST_TAG=tag: the CLI's worker, Ray and its actors. */
const tagged = (tag: string): number[] =>
  readdirSync("/proc")
    .filter((p) => /^\d+$/.test(p))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/environ`).toString().split("\0").includes(`POLYQUANT_TEST_TAG=${tag}`)
      } catch {
        return false
      }
    })
    .map(Number)

const gone = async (tag: string, withinMs: number): Promise<number[]> => {
  const deadline = Date.now() + withinMs
  while (Date.now() < deadline) {
    if (tagged(tag).length === 0) return []
    await new Promise((r) => setTimeout(r, 500))
  }
  return tagged(tag)
}

const SWEEP = `name: ray-sweep
defaults:
  corpus: { source: udhr, languages: [en, he, ar, zh], split: heldout }
  quant: { method: rtn, bits: 3, group_size: 32 }
steps:
  sweep:
    uses: layer-sweep
    with: { model: fixture:tiny-llama, mode: protect-one, checkpoint_every: 2 }
`

describe.skipIf(noRay)("polyquant run --executor ray", () => {
  it("gives KAGGLE-002's outputs and cache keys exactly as the local executor does", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pq-ray-"))
    const local = await cli(["run", "workflows/kaggle-002.yaml", "--json", "--no-report", "--store", join(dir, "local.db")])
    const ray = await cli(["run", "workflows/kaggle-002.yaml", "--json", "--no-report", "--executor", "ray", "--store", join(dir, "ray.db")])
    expect(local.code, local.stderr).toBe(0)
    expect(ray.code, ray.stderr).toBe(0)
    const a = stored(join(dir, "local.db"), local.stdout)
    const b = stored(join(dir, "ray.db"), ray.stdout)
    expect(Object.keys(b).sort()).toEqual(Object.keys(a).sort())
    expect(Object.keys(a)).toHaveLength(4)
    for (const id of Object.keys(a)) {
      expect(b[id]!.key).toBe(a[id]!.key) // the executor is not part of the key
      expect(b[id]!.outputs).toEqual(a[id]!.outputs)
    }
    expect(logs(ray.stdout).some((l) => /running on actor \d on .* \(CPU\)/.test(l))).toBe(true)
  })

  it("fans a sweep out over both actors and survives a helper killed mid-sweep, with identical rows", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pq-ray-"))
    const wf = join(dir, "sweep.yaml")
    writeFileSync(wf, SWEEP)
    const marker = join(dir, "killed")
    const local = await cli(["run", wf, "--json", "--no-report", "--store", join(dir, "local.db")])
    const ray = await cli(["run", wf, "--json", "--no-report", "--executor", "ray", "--store", join(dir, "ray.db")], { POLYQUANT_TEST_KILL_HELPER_MARKER: marker })
    expect(local.code, local.stderr).toBe(0)
    expect(ray.code, ray.stderr).toBe(0)
    expect(existsSync(marker)).toBe(true) // a helper did die
    const said = logs(ray.stdout)
    expect(said.some((l) => l.includes("helped by actor 1"))).toBe(true)
    expect(said.some((l) => l.startsWith("warn a helper actor died while evaluating "))).toBe(true)
    expect(stored(join(dir, "ray.db"), ray.stdout)["sweep"]!.outputs).toEqual(stored(join(dir, "local.db"), local.stdout)["sweep"]!.outputs)
  })

  it.each(["SIGINT", "SIGKILL"] as const)("leaves no Ray process after %s of the CLI", async (signal) => {
    const dir = mkdtempSync(join(tmpdir(), "pq-ray-"))
    const wf = join(dir, "sleep.yaml")
    writeFileSync(wf, "name: ray-sleep\nsteps:\n  nap:\n    uses: test-sleep\n    with: { seconds: 120 }\n")
    const tag = randomUUID()
    const child = spawn("node", [bin, "run", wf, "--json", "--no-report", "--executor", "ray", "--store", join(dir, "s.db")], {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, POLYQUANT_TEST_TAG: tag }
    })
    let stdout = ""
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the step was not placed on an actor within 120 s:\n${stdout}`)), 120_000)
      child.stdout.on("data", (chunk: Buffer) => {
        stdout += chunk.toString()
        if (logs(stdout).some((l) => l.includes("running on actor"))) {
          clearTimeout(timer)
          resolve()
        }
      })
    })
    expect(tagged(tag).length).toBeGreaterThan(3) // the worker, Ray's processes, two actors
    child.kill(signal)
    const code = await exited
    if (signal === "SIGINT") expect(code).toBe(130)
    expect(await gone(tag, 45_000)).toEqual([])
  })
})
