import { createHash } from "node:crypto"
import { mkdirSync, utimesSync, writeFileSync } from "node:fs"
import { homedir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { ModelSpec } from "../../src/kernels/common.js"
import { canonicalJson } from "../../src/engine/canonical.js"
import { cacheDir, directoryDigest, expandHome, fixtureDir, localModelDir, modelFingerprint } from "../../src/model/facts.js"
import { RunStore } from "../../src/store/RunStore.js"
import { projectRoot } from "../../src/python/interpreter.js"
import { skipWithoutPython } from "../pythonPresent.js"
import { RESULT_MARKER, runPythonScript } from "../kernels/pythonScript.js"
import { tmp } from "../engine/helpers.js"

/** The model facts (src/model/facts.ts): one rule for the cache, fixtures, local folders and fingerprints, in TypeScript and Python. */
describe("model fingerprints", () => {
  it("hub ids are id@revision", () => {
    expect(modelFingerprint(ModelSpec.parse({ id: "NousResearch/Llama-2-7b-hf" }), tmp())).toBe("NousResearch/Llama-2-7b-hf@main")
    expect(localModelDir("NousResearch/Llama-2-7b-hf", tmp())).toBeUndefined()
    expect(modelFingerprint(ModelSpec.parse({ id: "org/m", revision: "abc123" }), tmp())).toBe("org/m@abc123")
  })

  it("a local folder is a digest of its model files (not its notes), memoised by size and mtime", () => {
    const dir = tmp()
    const model = join(dir, "model")
    const store = RunStore.open(join(dir, "pq.db"))
    mkdirSync(model)
    writeFileSync(join(model, "config.json"), '{"hidden_size": 64}')
    writeFileSync(join(model, "model.safetensors"), "WEIGHTS")
    writeFileSync(join(model, "polyquant-fixture.json"), '{"seconds": 61}')
    const expected = createHash("sha256").update("config.json\0").update('{"hidden_size": 64}').update("\0").update("model.safetensors\0").update("WEIGHTS").update("\0").digest("hex")
    expect(directoryDigest(model, "./model", store)).toBe(expected)
    expect(modelFingerprint(ModelSpec.parse({ id: "./model" }), dir, store)).toBe(`./model@sha256:${expected}`)
    // training notes change: same fingerprint
    writeFileSync(join(model, "polyquant-fixture.json"), '{"seconds": 99}')
    expect(directoryDigest(model, "./model", store)).toBe(expected)
    // same size and mtime: the memo answers without reading (a different byte goes unseen by design)
    const t = new Date(2026, 0, 1)
    utimesSync(join(model, "model.safetensors"), t, t)
    const memoised = directoryDigest(model, "./model", store)
    writeFileSync(join(model, "model.safetensors"), "WEIGHTZ")
    utimesSync(join(model, "model.safetensors"), t, t)
    expect(directoryDigest(model, "./model", store)).toBe(memoised)
    // new weights (new mtime): a new fingerprint
    writeFileSync(join(model, "model.safetensors"), "OTHER WEIGHTS")
    expect(directoryDigest(model, "./model", store)).not.toBe(expected)
    store.close()
  })

  it("an empty or missing folder is an error naming it; fixtures live under POLYQUANT_CACHE", () => {
    const dir = tmp()
    expect(() => directoryDigest(join(dir, "nope"), "./nope")).toThrow(`model './nope': no model files in ${join(dir, "nope")}`)
    const saved = process.env["POLYQUANT_CACHE"]
    process.env["POLYQUANT_CACHE"] = dir
    try {
      expect(fixtureDir("tiny-llama")).toBe(join(dir, "fixtures", "tiny-llama"))
    } finally {
      if (saved === undefined) delete process.env["POLYQUANT_CACHE"]
      else process.env["POLYQUANT_CACHE"] = saved
    }
  })

  it("~ is the home folder in model ids and in POLYQUANT_CACHE, as in a shell; the cache is read trimmed and absolute", () => {
    expect(expandHome("~")).toBe(homedir())
    expect(expandHome("~/models/x")).toBe(join(homedir(), "models", "x"))
    expect(expandHome("./~x")).toBe("./~x")
    expect(localModelDir("~/models/x", "/elsewhere")).toBe(join(homedir(), "models", "x"))
    expect(localModelDir("./models/x", "/work")).toBe("/work/models/x")
    expect(cacheDir({ POLYQUANT_CACHE: " ~/pq-cache " })).toBe(join(homedir(), "pq-cache"))
    expect(cacheDir({ POLYQUANT_CACHE: "rel/cache" })).toBe(join(process.cwd(), "rel", "cache"))
    expect(cacheDir({})).toBe(join(homedir(), ".cache", "polyquant"))
    expect(fixtureDir("tiny-gpt2", { POLYQUANT_CACHE: "/c" })).toBe("/c/fixtures/tiny-gpt2")
  })

  it.skipIf(skipWithoutPython)("Python computes the same fingerprint and reads the cache folder the same way (for scripts that call kernels directly)", () => {
    const dir = tmp()
    const model = join(dir, "model")
    mkdirSync(model)
    writeFileSync(join(model, "config.json"), '{"hidden_size": 64}')
    writeFileSync(join(model, "model.safetensors"), "WEIGHTS")
    writeFileSync(join(model, "tokenizer.json"), "{}")
    writeFileSync(join(model, "README.md"), "notes")
    writeFileSync(join(model, "polyquant-fixture.json"), "{}")
    const script = [
      "import json, os, sys",
      "sys.path.insert(0, sys.argv[1])",
      "from polyquant.models.spec import cache_root, fingerprint_dir",
      "args = json.load(sys.stdin)",
      "os.environ['POLYQUANT_CACHE'] = ' ~/pq-cache '",
      `sys.stdout.write("${RESULT_MARKER}" + json.dumps({"fingerprint": fingerprint_dir(args["dir"], "./model"), "cache": cache_root()}))`
    ].join("\n")
    const python = runPythonScript<{ fingerprint: string; cache: string }>(script, join(projectRoot(), "python"), { dir: model })
    expect(python.fingerprint).toBe(modelFingerprint(ModelSpec.parse({ id: "./model" }), dir))
    expect(python.cache).toBe(cacheDir({ POLYQUANT_CACHE: " ~/pq-cache " }))
  })

  it("canonical JSON sorts keys at every depth and drops undefined", () => {
    expect(canonicalJson({ b: 1, a: { d: [2, { z: 1, y: undefined, x: 0 }], c: null } })).toBe('{"a":{"c":null,"d":[2,{"x":0,"z":1}]},"b":1}')
  })
})
