import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { prepareStep } from "../../src/engine/prepare.js"
import { taskEval } from "../../src/kernels/task-eval.js"
import { perplexity } from "../../src/kernels/perplexity.js"
import { step, tmp } from "./helpers.js"
import { resolvedDevice, resolvedDtype, type WorkerFacts } from "../../src/engine/workerFacts.js"

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
