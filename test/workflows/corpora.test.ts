/**
 * Real corpora with the network off, through `polyquant run`: FLORES+ (openlanguagedata/flores_plus)
 * and Global-MMLU (5-shot from its dev split) from an offline `datasets` cache in their published
 * columns (python/tests/hf_cache.py builds one as `datasets` leaves it), and parquet / jsonl files. Perplexity reads FLORES+'s devtest as `heldout`,
 * GPTQ calibrates on its dev split (`train`), and the stored corpus digest is the sha256 of exactly the
 * sentences the dataset holds, recomputed here from them.
 */
import { spawnSync } from "node:child_process"
import { createHash } from "node:crypto"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { beforeAll, describe, expect, it } from "vitest"
import { disparity } from "../../src/kernels/disparity.js"
import { perplexity } from "../../src/kernels/perplexity.js"
import { taskEval } from "../../src/kernels/task-eval.js"
import { projectRoot, resolveInterpreter } from "../../src/python/interpreter.js"
import { RunStore } from "../../src/store/RunStore.js"

const root = projectRoot()
const bin = join(root, "bin", "polyquant.js")

const prepare = `
import json, sys
sys.path.insert(0, "python/tests")
import hf_cache
import pyarrow as pa, pyarrow.parquet as pq
out = sys.argv[1]
hf_cache.write_flores(out + "/hf-datasets")
hf_cache.write_global_mmlu(out + "/hf-datasets")
pq.write_table(pa.table({"text": ["כל בני האדם נולדו בני חורין.", "לכל אדם הזכות לחיים."], "n": [1, 2]}), out + "/he.parquet")
with open(out + "/en.jsonl", "w") as f:
    for t in ["All human beings are born free.", "Everyone has the right to life."]:
        f.write(json.dumps({"text": t}) + "\\n")
print(json.dumps(hf_cache.FLORES_SAMPLE))
`

const workflow = `name: flores
defaults:
  model: { id: fixture:tiny-llama }
  corpus: { source: hub, dataset: openlanguagedata/flores_plus, languages: [en, he, ar, zh] }
  bootstrap: { samples: 100 }
steps:
  baseline:
    uses: perplexity
  gptq:
    uses: disparity
    with:
      quant: { method: gptq, bits: 4, group_size: 32, calibration: { samples: 4, seq_len: 16 } }
  files:
    uses: perplexity
    with:
      corpus: { source: files, files: { en: ./en.jsonl, he: ./he.parquet } }
  mmlu:
    uses: task-eval
    with:
      data: { source: hub, dataset: CohereForAI/Global-MMLU }
      languages: [en, he]
      shots: 5
      quant: { method: rtn, bits: 4, group_size: 32 }
      corpus: { source: hub, dataset: openlanguagedata/flores_plus, languages: [en, he] }
`

/** The engine's digest rule (src/corpus/resolve.ts corpusDigest), written out again. */
const digestOf = (source: string, split: string, languages: Record<string, string[]>): string =>
  createHash("sha256").update(JSON.stringify({ source, split, languages: Object.keys(languages).sort().map((l) => [l, languages[l]]) })).digest("hex")

describe("FLORES+ and local tabular corpora, offline", () => {
  let dir: string
  let sample: Record<string, string[]>
  const env = (): NodeJS.ProcessEnv => ({ ...process.env, NO_COLOR: "1", HF_DATASETS_CACHE: join(dir, "hf-datasets"), HF_HUB_OFFLINE: "1", HF_HOME: join(dir, "hf-home") })

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "polyquant-corpora-"))
    const res = spawnSync(resolveInterpreter().path, ["-c", prepare, dir], { cwd: root, encoding: "utf8" })
    expect(res.status, res.stderr.slice(-3000)).toBe(0)
    sample = JSON.parse(res.stdout.trim().split("\n").at(-1)!) as Record<string, string[]>
    writeFileSync(join(dir, "flores.yaml"), workflow)
  }, 300_000)

  it("perplexity, GPTQ disparity and parquet/jsonl files run from the cache and the files", { timeout: 600_000 }, () => {
    const r = spawnSync("node", [bin, "run", "flores.yaml", "--plain"], { cwd: dir, encoding: "utf8", env: env() })
    expect(r.status, r.stdout.slice(-3000) + r.stderr.slice(-3000)).toBe(0)
    const store = RunStore.open(join(dir, ".polyquant", "polyquant.db"))
    try {
      const steps = store.getSteps(store.listRuns()[0]!.id)
      const outputs = (id: string) => steps.find((s) => s.stepId === id)!.outputs
      const base = perplexity.outputs.parse(outputs("baseline"))
      expect(Object.keys(base.languages).sort()).toEqual(["ar", "en", "he", "zh"])
      expect(base.languages["he"]!.documents).toBe(3)
      expect(base.corpus.source).toBe("hub:openlanguagedata/flores_plus")
      const heldout = { en: sample["eng_Latn"]!, he: sample["heb_Hebr"]!, ar: sample["arb_Arab"]!, zh: sample["cmn_Hans"]! }
      expect(base.corpus.digest).toBe(digestOf("hub:openlanguagedata/flores_plus", "heldout", heldout))
      const gptq = disparity.outputs.parse(outputs("gptq"))
      expect(gptq.quant?.method).toBe("gptq")
      const files = perplexity.outputs.parse(outputs("files"))
      expect(files.languages["he"]!.documents).toBe(2)
      expect(files.corpus.source).toBe("files")
      const mmlu = taskEval.outputs.parse(outputs("mmlu"))
      expect(mmlu.prompt).toMatchObject({ format: "mmlu-5-shot-letter", shots: 5 })
      expect(mmlu.data).toEqual({ source: "hub", dataset: "CohereForAI/Global-MMLU", bundled: false })
      expect(mmlu.per_language["he"]!.n).toBe(6)
      expect(mmlu.per_language["he"]!.ppl_degradation).not.toBeNull()
    } finally {
      store.close()
    }
  })

  it("a language FLORES+ lacks and a split it does not have are named before anything runs", () => {
    writeFileSync(join(dir, "bad.yaml"), workflow.replace("languages: [en, he, ar, zh]", "languages: [en, xx]"))
    const r = spawnSync("node", [bin, "run", "bad.yaml", "--plain"], { cwd: dir, encoding: "utf8", env: env() })
    expect(r.status).not.toBe(0)
    expect(r.stdout + r.stderr).toContain("language 'xx' has no FLORES+ config")
    writeFileSync(join(dir, "udhr-split.yaml"), "name: s\ndefaults:\n  corpus: { split: devtest }\nsteps:\n  p:\n    uses: perplexity\n")
    const v = spawnSync("node", [bin, "validate", "udhr-split.yaml"], { cwd: dir, encoding: "utf8", env: env() })
    expect(v.status).toBe(2)
    expect(v.stderr).toContain("the UDHR's splits are train, heldout, all; got devtest")
    // the override KAGGLE-003 once documented: MMMLU has neither English nor Hebrew, nor a dev split for shots
    const mmmlu = spawnSync("node", [bin, "validate", join(root, "workflows", "kaggle-003.yaml"), "--set", "steps.task_eval.with.data={source: hub, dataset: openai/MMMLU}", "--set", "steps.task_eval.with.shots=5"], { cwd: dir, encoding: "utf8", env: env() })
    expect(mmmlu.status).toBe(2)
    expect(mmmlu.stderr).toContain("openai/MMMLU has no 'en', 'he' (it has ar, bn, de")
    expect(mmmlu.stderr).toContain("Global-MMLU (CohereForAI/Global-MMLU) has en and he")
    expect(mmmlu.stderr).toContain("openai/MMMLU has no dev split to take shots from: shots 0 only")
    const global = spawnSync("node", [bin, "validate", join(root, "workflows", "kaggle-003.yaml"), "--set", "steps.task_eval.with.data={source: hub, dataset: CohereForAI/Global-MMLU}", "--set", "steps.task_eval.with.shots=5"], { cwd: dir, encoding: "utf8", env: env() })
    expect(global.status, global.stderr).toBe(0)
  })
})
