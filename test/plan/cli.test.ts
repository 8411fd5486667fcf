/**
 * `polyquant plan` reads the budget left from the store's ledger (never creating a store), and
 * the loader checks quantization parameters against a fixture's config.json in $POLYQUANT_CACHE.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { run } from "../../src/cli/commands/plan.js"
import { RunStore } from "../../src/store/RunStore.js"
import { formatIssue } from "../../src/workflow/errors.js"
import { checkWorkflowText } from "../../src/workflow/load.js"

const tmp = mkdtempSync(join(tmpdir(), "polyquant-plan-"))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

const capture = async (args: string[]): Promise<{ code: number; out: string; err: string }> => {
  let out = ""
  let err = ""
  const o = process.stdout.write.bind(process.stdout)
  const e = process.stderr.write.bind(process.stderr)
  process.stdout.write = ((c: string) => ((out += c), true)) as typeof process.stdout.write
  process.stderr.write = ((c: string) => ((err += c), true)) as typeof process.stderr.write
  try {
    return { code: await run(args), out, err }
  } finally {
    process.stdout.write = o
    process.stderr.write = e
  }
}

describe("polyquant plan", () => {
  it("prints the remaining budget from the store's ledger", async () => {
    const storePath = join(tmp, "store", "polyquant.db")
    const missing = await capture(["test/fixtures/plans/seed/workflow.yaml", "--store", storePath])
    expect(missing.code).toBe(0)
    expect(missing.out).toContain(`no store at ${storePath} yet: remaining = the full budget`)
    expect(existsSync(storePath)).toBe(false) // planning never creates a store

    mkdirSync(join(tmp, "store"))
    const store = RunStore.open(storePath)
    store.charge({ platform: "colab-free", window: "day", seconds: 3.5 * 3600, t: Date.now() })
    store.charge({ platform: "kaggle", window: "week", seconds: 12 * 3600, t: Date.now() })
    store.close()
    const used = await capture(["test/fixtures/plans/seed/workflow.yaml", "--store", storePath])
    expect(used.code).toBe(0)
    const lines = used.out.split("\n")
    expect(lines).toContain("  colab-free  2.25h     4h per day        0.5h (3.5h used this day): short by 1.75h")
    expect(lines).toContain("  kaggle      13h       30h per week      18h (12h used this week)")
  })

  it("exits 2 with the errors of an invalid workflow", async () => {
    const bad = await capture(["test/fixtures/workflows/cycle/workflow.yaml"])
    expect(bad.code).toBe(2)
    expect(bad.err).toBe("test/fixtures/workflows/cycle/workflow.yaml:3:33 steps.a.needs.0: needs form a cycle: a → c → b → a\n")
  })
})

describe("fixture configs in $POLYQUANT_CACHE", () => {
  it("check group_size and protected layers against the fixture's geometry", () => {
    const cache = join(tmp, "cache")
    mkdirSync(join(cache, "fixtures", "tiny-llama"), { recursive: true })
    writeFileSync(
      join(cache, "fixtures", "tiny-llama", "config.json"),
      JSON.stringify({ model_type: "llama", hidden_size: 64, intermediate_size: 192, num_hidden_layers: 2, num_attention_heads: 4, vocab_size: 2048 })
    )
    const text = `name: q
defaults: { model: fixture:tiny-llama }
steps:
  a:
    uses: test-echo
    with:
      quant: { bits: 4, group_size: 128 }
      protect: { layers: [1, -2, -3] }
`
    const result = checkWorkflowText(text, "q.yaml", { env: { POLYQUANT_CACHE: cache }, baseDir: tmp })
    expect(result.ok ? [] : result.issues.map(formatIssue)).toEqual([
      "q.yaml:7:37 steps.a.with.quant.group_size: group_size 128 does not divide in_features 64, 192 of fixture:tiny-llama (its linears have in_features 64, 192); use a divisor or -1 (per channel)",
      "q.yaml:8:34 steps.a.with.protect.layers.2: layer -3 is out of range: fixture:tiny-llama has 2 layers (valid: -2..1)"
    ])
    // no config (fixture not trained yet): nothing to check against, so no error
    expect(checkWorkflowText(text, "q.yaml", { env: { POLYQUANT_CACHE: join(tmp, "empty") }, baseDir: tmp }).ok).toBe(true)
  })
})
