import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { prepareStep } from "../../src/engine/prepare.js"
import { taskEval } from "../../src/kernels/task-eval.js"
import { perplexity } from "../../src/kernels/perplexity.js"
import { step, tmp } from "./helpers.js"
import { resolvedDevice, resolvedDtype, workerFactsFromFiles, type WorkerFacts } from "../../src/engine/workerFacts.js"
import { resolveInterpreter } from "../../src/python/interpreter.js"
import { spawnSync } from "node:child_process"

describe("prepareStep: paths named relative to the workflow", () => {
  it("makes data files absolute and keys them by content, so editing a file invalidates the cache", () => {
    const dir = tmp()
    writeFileSync(join(dir, "en.jsonl"), '{"question": "q", "choices": ["a", "b", "c", "d"], "answer": "A"}\n')
    const withValue = taskEval.with.parse({ model: { id: "fixture:tiny-llama" }, data: { files: { en: "en.jsonl" } } }) as Record<string, unknown>
    const prepare = () => prepareStep({ step: step("t", "task-eval"), kernel: taskEval, withValue, upstream: new Map(), baseDir: dir })
    const first = prepare()
    expect((first.params["data"] as { files: Record<string, string> }).files).toEqual({ en: join(dir, "en.jsonl") })
    expect(Object.keys(first.parts.files ?? {})).toEqual([join(dir, "en.jsonl")])
    expect(prepare().key).toBe(first.key)
    writeFileSync(join(dir, "en.jsonl"), '{"question": "q2", "choices": ["a", "b", "c", "d"], "answer": "B"}\n')
    expect(prepare().key).not.toBe(first.key)
  })

  it("hands the worker an absolute local model dir, and leaves hub ids and fixtures alone", () => {
    const dir = tmp()
    mkdirSync(join(dir, "my-model"))
    writeFileSync(join(dir, "my-model", "config.json"), "{}")
    const corpus = { source: "udhr", languages: ["en"], split: "heldout" }
    const modelId = (id: string) => {
      const withValue = perplexity.with.parse({ model: { id }, corpus }) as Record<string, unknown>
      const prepared = prepareStep({ step: step("p", "perplexity"), kernel: perplexity, withValue, upstream: new Map(), baseDir: dir })
      expect(prepared.parts.files).toBeUndefined() // no data files: the key's parts are as before
      return (prepared.params["model"] as { id: string }).id
    }
    expect(modelId("./my-model")).toBe(join(dir, "my-model"))
    expect(modelId("NousResearch/Llama-2-7b-hf")).toBe("NousResearch/Llama-2-7b-hf")
  })
})

describe("prepareStep: the worker's facts in the key", () => {
  const corpus = { source: "udhr", languages: ["en"], split: "heldout" }
  const keyFor = (model: Record<string, unknown>, worker?: WorkerFacts) => {
    const withValue = perplexity.with.parse({ model, corpus }) as Record<string, unknown>
    return prepareStep({ step: step("p", "perplexity"), kernel: perplexity, withValue, upstream: new Map(), baseDir: tmp(), ...(worker ? { worker } : {}) })
  }
  const cpu: WorkerFacts = { libraries: { torch: "2.9.0", transformers: "5.18.0" }, cuda: false }
  const gpu: WorkerFacts = { ...cpu, cuda: true }

  it("holds the device and dtype auto resolved to, so CPU float32 results never answer a CUDA float16 run", () => {
    const onCpu = keyFor({ id: "NousResearch/Llama-2-7b-hf" }, cpu)
    const onGpu = keyFor({ id: "NousResearch/Llama-2-7b-hf" }, gpu)
    expect((onCpu.parts.params as { model: { device: string; dtype: string } }).model).toMatchObject({ device: "cpu", dtype: "float32" })
    expect((onGpu.parts.params as { model: { device: string; dtype: string } }).model).toMatchObject({ device: "cuda", dtype: "float16" })
    expect(onGpu.key).not.toBe(onCpu.key)
    // written out, the same resolution gives the same key: `auto` is not a value of its own
    expect(keyFor({ id: "NousResearch/Llama-2-7b-hf", device: "cpu", dtype: "float32" }, cpu).key).toBe(onCpu.key)
    expect(keyFor({ id: "NousResearch/Llama-2-7b-hf", device: "cuda", dtype: "auto" }, cpu).key).toBe(onGpu.key)
    // the worker gets the spec as written: Python resolves it the same way (models/spec.py)
    expect((onGpu.params["model"] as { device: string }).device).toBe("auto")
  })

  it("holds torch's and transformers' versions", () => {
    const before = keyFor({ id: "NousResearch/Llama-2-7b-hf" }, cpu)
    expect(before.parts.libraries).toEqual({ torch: "2.9.0", transformers: "5.18.0" })
    const upgraded = keyFor({ id: "NousResearch/Llama-2-7b-hf" }, { ...cpu, libraries: { torch: "2.10.0", transformers: "5.18.0" } })
    expect(upgraded.key).not.toBe(before.key)
  })

  it("resolves as Python's resolve_device and resolve_dtype do", () => {
    expect(resolvedDevice("auto", gpu)).toBe("cuda")
    expect(resolvedDevice("cuda:1", cpu)).toBe("cuda:1")
    expect(resolvedDtype("auto", "cuda:1")).toBe("float16")
    expect(resolvedDtype("bfloat16", "cpu")).toBe("bfloat16")
  })
})

describe("the worker's facts read from its site-packages, without starting Python", () => {
  const venv = (packages: string[]) => {
    const dir = tmp()
    const site = join(dir, "lib", "python3.11", "site-packages")
    mkdirSync(join(dir, "bin"), { recursive: true })
    for (const p of packages) mkdirSync(join(site, p), { recursive: true })
    return join(dir, "bin", "python")
  }

  it("reads the versions importlib.metadata reports, and a +cpu torch sees no CUDA", () => {
    const facts = workerFactsFromFiles(venv(["torch-2.13.0+cpu.dist-info", "transformers-5.18.0.dist-info", "tokenizers-0.22.dist-info"]), {})
    expect(facts).toEqual({ libraries: { torch: "2.13.0+cpu", transformers: "5.18.0" }, cuda: false })
  })

  it("gives up (the worker is asked) when a package is missing or found twice, or PYTHONPATH is set", () => {
    expect(workerFactsFromFiles(venv(["torch-2.13.0+cpu.dist-info"]), {})).toBeUndefined()
    expect(workerFactsFromFiles(venv(["torch-2.13.0.dist-info", "torch-2.12.0.dist-info", "transformers-5.18.0.dist-info"]), {})).toBeUndefined()
    expect(workerFactsFromFiles(venv(["torch-2.13.0+cpu.dist-info", "transformers-5.18.0.dist-info"]), { PYTHONPATH: "/x" })).toBeUndefined()
  })

  it("agrees with the environment kernel on this machine's interpreter", async () => {
    const python = resolveInterpreter()
    if (!python.exists) return
    const fromFiles = workerFactsFromFiles(python.path)
    if (fromFiles === undefined) return // a layout the reader does not know: the worker is asked instead
    const probe = spawnSync(python.path, ["-c", "import importlib.metadata as m, torch, json; print(json.dumps({'torch': m.version('torch'), 'transformers': m.version('transformers'), 'cuda': torch.cuda.is_available()}))"], { encoding: "utf8" })
    const real = JSON.parse(probe.stdout) as { torch: string; transformers: string; cuda: boolean }
    expect(fromFiles).toEqual({ libraries: { torch: real.torch, transformers: real.transformers }, cuda: real.cuda })
  })
})
