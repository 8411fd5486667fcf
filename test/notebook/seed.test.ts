/** The seed workflows' notebooks in notebooks/: one per workflow and platform, up to date, valid nbformat. */
import { spawnSync } from "node:child_process"
import { readdirSync, readFileSync } from "node:fs"
import { describe, expect, it } from "vitest"
import { notebookText, seedNotebook } from "../../src/notebook/build.js"
import { resolveInterpreter } from "../../src/python/interpreter.js"
import { loadWorkflowFile } from "../../src/workflow/load.js"

const workflows = readdirSync("workflows").filter((f) => f.endsWith(".yaml")).sort()

describe("notebooks/ (regenerate: npm run build && npm run notebooks)", () => {
  it("holds a Colab and a Kaggle notebook for every workflow, as the builder writes them", async () => {
    for (const platform of ["colab", "kaggle"] as const) {
      expect(readdirSync(`notebooks/${platform}`).sort()).toEqual(workflows.map((f) => f.replace(/\.yaml$/, ".ipynb")))
      for (const file of workflows) {
        const loaded = await loadWorkflowFile(`workflows/${file}`)
        if (!loaded.ok) throw new Error(`${file} does not load`)
        const expected = notebookText(seedNotebook(platform, `workflows/${file}`, loaded.workflow.name, loaded.workflow.description))
        expect(readFileSync(`notebooks/${platform}/${file.replace(/\.yaml$/, ".ipynb")}`, "utf8"), `${platform}/${file}`).toBe(expected)
      }
    }
  })

  const python = resolveInterpreter()
  const hasNbformat = python.exists && spawnSync(python.path, ["-c", "import nbformat"]).status === 0
  it.skipIf(!hasNbformat && process.env["CI"] !== "true")("is valid nbformat 4 (nbformat.validate) and valid Python in every code cell", () => {
    const code = [
      "import ast, glob, nbformat",
      "files = sorted(glob.glob('notebooks/*/*.ipynb'))",
      "for f in files:",
      "    nb = nbformat.read(f, as_version=4)",
      "    nbformat.validate(nb)",
      "    for cell in nb.cells:",
      "        if cell.cell_type == 'code':",
      "            ast.parse(cell.source, filename=f)",
      "print(len(files))"
    ].join("\n")
    const res = spawnSync(python.path, ["-c", code], { encoding: "utf8" })
    expect(res.status, res.stderr).toBe(0)
    expect(Number(res.stdout.trim())).toBe(2 * workflows.length)
  })
})
