/**
 * The zod definitions are each kernel's one contract: the JSON files Python reads are what they
 * generate, the TypeScript catalogue and Python's kernel list name the same kernels, and Python
 * fills a step's defaults exactly as zod does.
 */
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { allKernels } from "../../src/kernels/catalog.js"
import { CONTRACTS_DIR, contractFile, contractOf, contractText } from "../../src/kernels/contract.js"
import type { KernelDefinition } from "../../src/kernels/define.js"
import { getPath, setPath } from "../../src/engine/paths.js"
import { projectRoot } from "../../src/python/interpreter.js"
import { skipWithoutPython } from "../pythonPresent.js"
import { RESULT_MARKER, runPythonScript } from "./pythonScript.js"

const dir = join(projectRoot(), ...CONTRACTS_DIR)
const pythonDir = join(projectRoot(), "python")

/** The least `with` each kernel accepts; the test fails for a kernel missing here. */
const MINIMAL: Record<string, Record<string, unknown>> = {
  quantize: { model: { id: "m" } },
  disparity: { model: { id: "m" }, corpus: {} },
  "layer-sweep": { model: { id: "m" }, corpus: {} },
  "load-quantized": { model: { id: "m", format: "gptq" } },
  "attention-heads": { model: { id: "m" }, corpus: {} },
  "layer-importance": { model: { id: "m" }, corpus: {} },
  "task-eval": { model: { id: "m" } },
  correlation: { pairs: [{ x: 1, y: 2 }, { x: 2, y: 3 }, { x: 3, y: 5 }] },
  perplexity: { model: { id: "m" } },
  "tokenizer-stats": { model: { id: "m" } },
  fixture: { name: "tiny-llama" },
  allocate: { model: { id: "m" }, corpus: {}, bound: { degradation: 0.01 } },
  environment: {},
  "report-plots": { out_dir: "/tmp/plots", plots: [] },
  "test-echo": {},
  "test-sleep": {},
  "test-crash": {},
  "test-fail": {},
  "test-count": {}
}

/** What the engine hands Python at each corpus path: documents (the loader's output). */
const RESOLVED = { source: "inline", split: "all", digest: "d", languages: { en: ["a"] } }

/** `value` with documents at each corpus path where `parsed` (the zod output) has a corpus. */
const withResolvedCorpora = (kernel: KernelDefinition, value: Record<string, unknown>, parsed: Record<string, unknown>): Record<string, unknown> =>
  kernel.corpora.reduce((out, path) => (getPath(parsed, path) === undefined ? out : setPath(out, path, RESOLVED)), value)

describe("kernel contracts", () => {
  it("the committed contract files are what the zod definitions generate (run `npm run build` if not)", () => {
    const files = readdirSync(dir).filter((f) => f.endsWith(".json")).sort()
    expect(files).toEqual(allKernels.map((k) => contractFile(k.name)).sort())
    for (const kernel of allKernels) expect(readFileSync(join(dir, contractFile(kernel.name)), "utf8"), kernel.name).toBe(contractText(contractOf(kernel)))
  })

  it("a corpus path holds documents and a model path the engine's fingerprint", () => {
    interface Node {
      readonly type?: string
      readonly required?: ReadonlyArray<string>
      readonly properties: Record<string, Node>
    }
    const params = contractOf(allKernels.find((k) => k.name === "disparity") as KernelDefinition).params as unknown as Node
    expect(Object.keys(params.properties["corpus"]?.properties ?? {}).sort()).toEqual(["digest", "languages", "source", "split"])
    expect(params.required).toContain("corpus")
    expect(params.properties["model"]?.properties["fingerprint"]?.type).toBe("string")
    expect(params.properties["variant"]?.properties["model"]?.properties["fingerprint"]?.type).toBe("string")
  })

  it.skipIf(skipWithoutPython)("Python's kernel list names the same kernels as the catalogue", () => {
    const script = `import json, sys\nsys.path.insert(0, sys.argv[1])\nfrom polyquant import kernels\nsys.stdout.write("${RESULT_MARKER}" + json.dumps(kernels.names()))`
    const names = runPythonScript<string[]>(script, pythonDir, null)
    expect(names).toEqual(allKernels.map((k) => k.name).sort())
  })

  it.skipIf(skipWithoutPython)("Python fills every kernel's defaults exactly as zod does", () => {
    expect(Object.keys(MINIMAL).sort()).toEqual(allKernels.map((k) => k.name).sort())
    const cases = allKernels.map((kernel) => {
      const minimal = MINIMAL[kernel.name] as Record<string, unknown>
      const parsed = kernel.with.parse(minimal) as Record<string, unknown>
      return { kernel: kernel.name, given: withResolvedCorpora(kernel, minimal, parsed), zod: withResolvedCorpora(kernel, parsed, parsed) }
    })
    const script = [
      "import json, sys",
      "sys.path.insert(0, sys.argv[1])",
      "from polyquant.kernels.contract import check_params",
      "cases = json.load(sys.stdin)",
      `sys.stdout.write("${RESULT_MARKER}" + json.dumps({c["kernel"]: check_params(c["kernel"], c["given"]) for c in cases}))`
    ].join("\n")
    const python = runPythonScript<Record<string, unknown>>(script, pythonDir, cases)
    for (const c of cases) expect(python[c.kernel], c.kernel).toEqual(c.zod)
  })
})
