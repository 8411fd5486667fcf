/**
 * Write a Colab and a Kaggle notebook for every workflow in workflows/ into notebooks/<platform>/,
 * from the compiled builder in dist/ (`npm run notebooks`, after `npm run build`).
 * test/notebook/seed.test.ts fails when they are stale.
 */
import { mkdirSync, readdirSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { notebookText, seedNotebook } from "../dist/notebook/build.js"
import { loadWorkflowFile } from "../dist/workflow/load.js"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")
let written = 0
for (const file of readdirSync(join(root, "workflows")).filter((f) => f.endsWith(".yaml")).sort()) {
  const loaded = await loadWorkflowFile(join(root, "workflows", file))
  if (!loaded.ok) throw new Error(`workflows/${file} does not load: ${loaded.issues.map((i) => i.message).join("; ")}`)
  for (const platform of ["colab", "kaggle"]) {
    const dir = join(root, "notebooks", platform)
    mkdirSync(dir, { recursive: true })
    writeFileSync(join(dir, file.replace(/\.yaml$/, ".ipynb")), notebookText(seedNotebook(platform, `workflows/${file}`, loaded.workflow.name, loaded.workflow.description)))
    written += 1
  }
}
process.stderr.write(`notebooks: ${written} written under notebooks/\n`)
