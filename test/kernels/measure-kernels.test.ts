/**
 * The perplexity, tokenizer-stats and fixture kernels: their `with` schemas apply defaults and
 * reject bad values; the real Python kernels run on a tiny random model (and a 2-step fixture in a
 * temp cache) and each result must parse with the kernel's `outputs` schema.
 */
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { findKernel } from "../../src/kernels/catalog.js"
import { fixture } from "../../src/kernels/fixture.js"
import { perplexity } from "../../src/kernels/perplexity.js"
import { tokenizerStats } from "../../src/kernels/tokenizer-stats.js"
import { runPythonScript } from "./pythonScript.js"

const dir = mkdtempSync(join(tmpdir(), "polyquant-measure-kernels-"))

const CORPUS = {
  source: "test",
  split: "heldout",
  digest: "d0",
  languages: {
    en: ["All human beings are born free and equal in dignity and rights.", "Everyone has the right to life."],
    he: ["כל בני האדם נולדו בני חורין ושווים בערכם ובזכויותיהם.", "לכל אדם הזכות לחיים."],
    zh: ["人人生而自由，在尊严和权利上一律平等。", "人人有权享有生命。"]
  }
}

type Envelope = { ok: boolean; result?: unknown; error?: { message: string } }

/** Build a tiny random model dir, then run each call through api.call with `model.id` pointing at it. */
const runPython = (calls: ReadonlyArray<{ kernel: string; params: Record<string, unknown> }>): Envelope[] => {
  const script = `
import json, os, sys
sys.path.insert(0, "python")
import torch; torch.set_num_threads(1)
from polyquant import api
from polyquant.models.fixture import FixtureConfig, build_model, save_tokenizer, train_tokenizer
base = sys.argv[1]
os.environ["POLYQUANT_CACHE"] = base + "/cache"
calls = json.loads(sys.stdin.read())
texts = [d for docs in calls[0]["params"]["corpus"]["languages"].values() for d in docs]
tok = train_tokenizer(texts * 3, 300)
model = build_model("tiny-llama", FixtureConfig(layers=2), tok, seed=0)
model.save_pretrained(base + "/model"); save_tokenizer(tok, base + "/model", 128)
out = []
for call in calls:
    params = dict(call["params"])
    if "model" in params:
        params["model"] = {**params["model"], "id": base + "/model"}
    out.append(json.loads(api.call(call["kernel"], json.dumps(params), "{}")))
sys.stdout.write("\\n@@RESULT@@" + json.dumps(out))
`
  return runPythonScript(script, dir, calls)
}

describe("measurement kernels", () => {
  it("are in the catalog", () => {
    expect(findKernel("perplexity")).toBe(perplexity)
    expect(findKernel("tokenizer-stats")).toBe(tokenizerStats)
    expect(findKernel("fixture")).toBe(fixture)
    expect(perplexity.models).toEqual(["model"])
    expect(perplexity.corpora).toEqual(["corpus"])
  })

  it("apply defaults and reject bad values with the field named", () => {
    const w = perplexity.with.parse({ model: { id: "fixture:tiny-llama" } })
    expect(w.protocol).toEqual({ name: "rolling", batch_size: 8, add_bos: true, compat: "none" })
    expect(w.corpus.split).toBe("heldout")
    expect(w.segments).toBe(false)
    const bad = perplexity.with.safeParse({ model: { id: "m" }, protocol: { name: "beam" } })
    expect(bad.success).toBe(false)
    expect(JSON.stringify(bad.error?.issues[0]?.path)).toBe('["protocol","name"]')
    expect(tokenizerStats.with.parse({ model: { id: "m" } }).reference).toBe("en")
    expect(tokenizerStats.with.safeParse({ model: { id: "m" }, reference: "English" }).success).toBe(false)
    expect(fixture.with.parse({ name: "tiny-gpt2" }).corpus.split).toBe("train")
    expect(fixture.with.safeParse({ name: "tiny-bert" }).success).toBe(false)
  })

  it("real Python results parse with the output schemas", () => {
    const trainCorpus = { ...CORPUS, split: "train", languages: Object.fromEntries(Object.entries(CORPUS.languages).map(([k, v]) => [k, [...v, ...v, ...v, ...v]])) }
    const [ppl, pplSegments, stats, fx, fxCached, badProtocol] = runPython([
      { kernel: "perplexity", params: { ...perplexity.with.parse({ model: { id: "m" }, protocol: { context_length: 16 } }), corpus: CORPUS } },
      { kernel: "perplexity", params: { ...perplexity.with.parse({ model: { id: "m" }, protocol: { name: "sliding", context_length: 16, stride: 4 }, segments: true }), corpus: CORPUS } },
      { kernel: "tokenizer-stats", params: { ...tokenizerStats.with.parse({ model: { id: "m" } }), corpus: CORPUS } },
      { kernel: "fixture", params: { ...fixture.with.parse({ name: "tiny-gpt2", steps: 2 }), corpus: trainCorpus } },
      { kernel: "fixture", params: { ...fixture.with.parse({ name: "tiny-gpt2", steps: 2 }), corpus: trainCorpus } },
      { kernel: "perplexity", params: { ...perplexity.with.parse({ model: { id: "m" }, protocol: { context_length: 4096 } }), corpus: CORPUS } }
    ])
    for (const env of [ppl, pplSegments, stats, fx, fxCached]) expect(env?.error).toBeUndefined()
    const p = perplexity.outputs.parse(ppl?.result)
    expect(Object.keys(p.languages)).toEqual(["en", "he", "zh"])
    expect(p.protocol).toEqual({ name: "rolling", context_length: 16, stride: null, batch_size: 8, add_bos: true, compat: "none", context_from: "given" })
    expect(p.languages.he?.bytes).toBe(CORPUS.languages.he.reduce((n, d) => n + Buffer.byteLength(d, "utf8"), 0))
    const en = p.languages.en!
    expect(en.bits_per_byte).toBeCloseTo(en.nll / (en.bytes * Math.LN2), 12)
    expect(en.ppl).toBeCloseTo(Math.exp(en.nll / en.tokens), 9)
    const s = perplexity.outputs.parse(pplSegments?.result)
    // every token is scored exactly once under both protocols
    expect(s.languages.en?.tokens).toBe(en.tokens)
    expect(s.languages.en?.segments?.tokens.reduce((a, b) => a + b, 0)).toBe(en.tokens)
    const t = tokenizerStats.outputs.parse(stats?.result)
    expect(t.languages.en?.premium).toBe(1)
    expect(t.languages.en?.tokens).toBe(en.tokens)
    const f = fixture.outputs.parse(fx?.result)
    expect(f.trained).toBe(true)
    expect(f.steps).toBe(2)
    expect(fixture.outputs.parse(fxCached?.result).trained).toBe(false)
    expect(badProtocol?.ok).toBe(false)
    expect(badProtocol?.error?.message).toContain("context_length 4096 exceeds the model's 128 positions")
  }, 240_000)
})
