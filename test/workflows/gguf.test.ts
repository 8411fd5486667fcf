/**
 * llama.cpp's GGUF end to end through `polyquant run`: a GGUF file of the fixture written by gguf-py
 * (python/tests/gguf_writer.py: gguf-py's names and quantizer, the converter's q/k permutation) loads
 * with `format: gguf`, `load-quantized` records each tensor's type, and its disparity runs. The
 * invariant: the file's disparity equals, number for number, the disparity of polyquant's own
 * `method: gguf` with the same type on every tensor (rules: uniform), since polyquant's Q4_0 writes the
 * bytes gguf-py's quantizer writes and the file's tensors are what llama-quantize would quantize.
 */
import { spawnSync } from "node:child_process"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { beforeAll, describe, expect, it } from "vitest"
import { disparity } from "../../src/kernels/disparity.js"
import { loadQuantized } from "../../src/kernels/load-quantized.js"
import { projectRoot, resolveInterpreter } from "../../src/python/interpreter.js"
import { RunStore } from "../../src/store/RunStore.js"

const root = projectRoot()
const bin = join(root, "bin", "polyquant.js")

const writer = `
import os, shutil, sys
sys.path.insert(0, "python"); sys.path.insert(0, "python/tests")
from gguf_writer import write_gguf
from polyquant.models.spec import fixture_dir
from transformers import AutoModelForCausalLM
src, out = fixture_dir("tiny-llama"), sys.argv[1]
os.makedirs(out, exist_ok=True)
model = AutoModelForCausalLM.from_pretrained(src)
for f in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
    shutil.copy(os.path.join(src, f), os.path.join(out, f))
write_gguf(model, src, os.path.join(out, "tiny-llama-Q4_0.gguf"), "Q4_0")
write_gguf(model, src, os.path.join(out, "tiny-llama-Q8_0.gguf"), "Q8_0")
`

const workflow = `name: gguf-file
defaults:
  model: { id: fixture:tiny-llama }
  corpus: { source: udhr, languages: [en, he, ar, zh], split: heldout }
  bootstrap: { samples: 200 }
steps:
  loaded:
    uses: load-quantized
    with:
      model: { id: ./gguf, format: gguf, file: tiny-llama-Q4_0.gguf }
  file:
    uses: disparity
    with:
      variant: { model: { id: ./gguf, format: gguf, file: tiny-llama-Q4_0.gguf } }
  ours:
    uses: disparity
    with:
      quant: { method: gguf, gguf: { type: Q4_0, rules: uniform } }
  q4_k_m:
    uses: disparity
    with:
      quant: { method: gguf, gguf: { type: Q4_K_M } }
`

describe("GGUF files and llama.cpp's types through polyquant run", () => {
  let dir: string
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "polyquant-gguf-"))
    const fixture = spawnSync("node", [bin, "fixture", "--name", "tiny-llama"], { cwd: root, encoding: "utf8" })
    expect(fixture.status, fixture.stderr).toBe(0)
    const res = spawnSync(resolveInterpreter().path, ["-c", writer, join(dir, "gguf")], { cwd: root, encoding: "utf8" })
    expect(res.status, res.stderr.slice(-3000)).toBe(0)
    writeFileSync(join(dir, "gguf.yaml"), workflow)
  }, 300_000)

  it("a folder with two GGUF files and no `file:` is refused before anything runs, naming both", () => {
    writeFileSync(join(dir, "ambiguous.yaml"), "name: a\ndefaults:\n  corpus: { source: udhr, languages: [en] }\nsteps:\n  p:\n    uses: perplexity\n    with:\n      model: { id: ./gguf, format: gguf }\n")
    const r = spawnSync("node", [bin, "run", "ambiguous.yaml", "--plain"], { cwd: dir, encoding: "utf8" })
    expect(r.status).not.toBe(0)
    expect(r.stdout + r.stderr).toContain("name the GGUF file with `file:`")
    expect(r.stdout + r.stderr).toContain("tiny-llama-Q4_0.gguf, tiny-llama-Q8_0.gguf")
  })

  it("loads the file, records its types, and its disparity equals polyquant's own Q4_0", { timeout: 600_000 }, () => {
    const r = spawnSync("node", [bin, "run", "gguf.yaml", "--plain"], { cwd: dir, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } })
    expect(r.status, r.stdout.slice(-3000) + r.stderr.slice(-3000)).toBe(0)
    const store = RunStore.open(join(dir, ".polyquant", "polyquant.db"))
    try {
      const steps = store.getSteps(store.listRuns()[0]!.id)
      const outputs = (id: string) => steps.find((s) => s.stepId === id)!.outputs
      const loaded = loadQuantized.outputs.parse(outputs("loaded"))
      expect(loaded).toMatchObject({ format: "gguf", checkpoint_format: "Q4_0", bits: 4, group_size: 32 })
      // all 28 block linears, the embedding and the output head are Q4_0 in the file; nothing dense
      expect(loaded.modules).toBe(30)
      expect(loaded.dense).toEqual([])
      expect(loaded.quantized["model.layers.0.self_attn.q_proj"]).toEqual({ bits: 4, group_size: 32, type: "Q4_0" })
      expect(loaded.fingerprint).toMatch(/gguf@sha256:[0-9a-f]{64}$/)

      const file = disparity.outputs.parse(outputs("file"))
      const ours = disparity.outputs.parse(outputs("ours"))
      expect(ours.quant).toMatchObject({ method: "gguf", gguf_type: "Q4_0", modules: 30 })
      for (const lang of ["en", "he", "ar", "zh"]) {
        expect(file.languages[lang]!.ppl_quant, lang).toBe(ours.languages[lang]!.ppl_quant)
        expect(file.languages[lang]!.degradation, lang).toEqual(ours.languages[lang]!.degradation)
        expect(file.languages[lang]!.kl, lang).toBe(ours.languages[lang]!.kl)
      }
      expect(file.disparity).toEqual(ours.disparity)

      const mixed = disparity.outputs.parse(outputs("q4_k_m"))
      expect(mixed.quant).toMatchObject({ method: "gguf", gguf_type: "Q4_K_M", bits: 4 })
    } finally {
      store.close()
    }
  })
})
