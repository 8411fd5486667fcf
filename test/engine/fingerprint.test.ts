import { createHash } from "node:crypto"
import { mkdirSync, utimesSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { ModelSpec } from "../../src/kernels/common.js"
import { canonicalJson } from "../../src/engine/canonical.js"
import { directoryDigest, fixtureDir, modelFingerprint } from "../../src/engine/fingerprint.js"
import { RunStore } from "../../src/store/RunStore.js"
import { tmp } from "./helpers.js"

describe("model fingerprints", () => {
  it("hub ids are id@revision", () => {
    expect(modelFingerprint(ModelSpec.parse({ id: "NousResearch/Llama-2-7b-hf" }), tmp())).toBe("NousResearch/Llama-2-7b-hf@main")
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

  it("canonical JSON sorts keys at every depth and drops undefined", () => {
    expect(canonicalJson({ b: 1, a: { d: [2, { z: 1, y: undefined, x: 0 }], c: null } })).toBe('{"a":{"c":null,"d":[2,{"x":0,"z":1}]},"b":1}')
  })
})
