/**
 * `polyquant doctor`: the diagnosis from given facts (every printed number against its source),
 * and the facts gathered through the real worker against the interpreter asked directly.
 */
import { spawnSync } from "node:child_process"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { diagnose, formatGiB, gatherFacts, render, type DoctorFacts, type EnvironmentInfo } from "../../src/cli/commands/doctor.js"
import { resolveInterpreter } from "../../src/python/interpreter.js"
import { PythonRuntimeLive } from "../../src/python/PythonRuntime.js"

const packages = { torch: "2.13.0+cpu", transformers: "5.18.0", tokenizers: "0.23.2", safetensors: "0.8.0", numpy: "2.4.6", scipy: "1.17.1", matplotlib: "3.11.2", jsonschema: "4.25.1", gguf: "0.19.0", datasets: "5.0.1", pyarrow: "25.0.1" }
const cpuEnv: EnvironmentInfo = { python: "3.11.7", executable: "/p/.venv/bin/python", packages, cuda: null, cpu_threads: 2 }
const base: DoctorFacts = {
  node: "20.20.2",
  interpreter: { path: "/p/.venv/bin/python", source: "venv", exists: true, fix: "run `npm install`" },
  environment: cpuEnv,
  fixtures: [
    { name: "tiny-llama", dir: "/c/fixtures/tiny-llama", trained: true },
    { name: "tiny-gpt2", dir: "/c/fixtures/tiny-gpt2", trained: true }
  ],
  storePath: "/nonexistent/.polyquant/polyquant.db"
}

describe("doctor's diagnosis", () => {
  it("is ready when everything is there, and names the CPU", () => {
    const d = diagnose(base)
    expect(d.ok).toBe(true)
    expect(d.problems).toEqual([])
    expect(d.lines).toContain("torch         2.13.0+cpu")
    expect(d.lines).toContain("device        CPU (2 torch threads; no CUDA device)")
    expect(render(d)).toContain("polyquant is ready.")
  })

  it("prints each CUDA device with its memory in GiB", () => {
    const h100 = 85_520_809_984 // bytes torch reports for an 80 GB H100
    const t4 = 15_828_320_256
    const d = diagnose({
      ...base,
      environment: { ...cpuEnv, cuda: { version: "12.4", devices: [{ index: 0, name: "NVIDIA H100 80GB HBM3", memory_bytes: h100 }, { index: 1, name: "Tesla T4", memory_bytes: t4 }] } }
    })
    expect(formatGiB(h100)).toBe("79.6 GiB") // 85520809984 / 1073741824 = 79.647...
    expect(formatGiB(t4)).toBe("14.7 GiB") // 15828320256 / 1073741824 = 14.741...
    expect(d.lines).toContain("device        cuda:0 NVIDIA H100 80GB HBM3 (79.6 GiB), CUDA 12.4")
    expect(d.lines).toContain("              cuda:1 Tesla T4 (14.7 GiB)")
  })

  it("fails (exit 1) on a missing package and gives the pip command", () => {
    const d = diagnose({ ...base, environment: { ...cpuEnv, packages: { ...packages, transformers: null } } })
    expect(d.ok).toBe(false)
    expect(d.lines).toContain("transformers  missing")
    expect(d.problems).toHaveLength(1)
    expect(d.problems[0]!.what).toBe("the Python package transformers is missing")
    expect(d.problems[0]!.fix).toMatch(/^run `npm install`, or run `\/p\/.venv\/bin\/python -m pip install -r .*python\/requirements.txt`$/)
  })

  it("fails on a missing interpreter, naming it and the fix", () => {
    const { environment: _, ...rest } = base
    const d = diagnose({ ...rest, interpreter: { path: "/opt/py/bin/python3", source: "POLYQUANT_PYTHON", exists: false, fix: "point POLYQUANT_PYTHON at an interpreter with torch" } })
    expect(d.ok).toBe(false)
    expect(render(d)).toContain("missing: no Python interpreter at /opt/py/bin/python3 (POLYQUANT_PYTHON)\n  fix: point POLYQUANT_PYTHON at an interpreter with torch")
  })

  it("fails on an old Node and only notes untrained fixtures", () => {
    const d = diagnose({ ...base, node: "20.11.1", fixtures: [{ name: "tiny-llama", dir: "/c/fixtures/tiny-llama", trained: false }] })
    expect(d.problems.map((p) => [p.required, p.fix])).toEqual([
      [true, "install Node 20.19 or newer (`nvm install 20`)"],
      [false, "run `polyquant fixture`"]
    ])
    const onlyFixtures = diagnose({ ...base, fixtures: [{ name: "tiny-gpt2", dir: "/c/fixtures/tiny-gpt2", trained: false }] })
    expect(onlyFixtures.ok).toBe(true)
  })
})

describe("doctor's facts from the real worker", () => {
  it("reports the interpreter's own Python and torch versions", async () => {
    const store = join(mkdtempSync(join(tmpdir(), "polyquant-doctor-")), "db.sqlite")
    const facts = await Effect.runPromise(Effect.scoped(gatherFacts(store)).pipe(Effect.provide(PythonRuntimeLive())))
    const python = resolveInterpreter().path
    // asked directly, from the installed distributions' metadata (no torch import)
    const direct = spawnSync(python, ["-c", "import platform; from importlib.metadata import version as v; print(platform.python_version(), v('torch'), v('transformers'))"], { encoding: "utf8" })
    const [version, torch, transformers] = direct.stdout.trim().split(" ")
    expect(facts.environment?.python).toBe(version)
    expect(facts.environment?.packages.torch).toBe(torch)
    expect(facts.environment?.packages.transformers).toBe(transformers)
    expect(facts.sqliteError).toBeUndefined()
    expect(facts.storePath).toBe(store)
    expect(diagnose(facts).ok).toBe(true)
  }, 120_000)
})
