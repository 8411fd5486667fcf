/**
 * `polyquant notebook FILE --platform colab|kaggle|local [--out X.ipynb] [--set path=value]...
 * [--source PATH|GIT_URL] [--root DIR]`: a notebook that runs the workflow where researchers run
 * it, and resumes it after a dead session (src/notebook/build.ts). The workflow is checked first,
 * with its overrides, so a notebook is never written for a file that would fail to load.
 */
import { spawnSync } from "node:child_process"
import { readFileSync, writeFileSync } from "node:fs"
import { basename, isAbsolute, relative, resolve } from "node:path"
import { projectRoot } from "../../python/interpreter.js"
import { formatIssue, WorkflowFileError } from "../../workflow/errors.js"
import { loadWorkflowFile } from "../../workflow/load.js"
import { buildNotebook, notebookText, PLATFORMS, type NotebookPlatform } from "../../notebook/build.js"
import { ExitCode } from "../command.js"
import { parseFlagsOrReport } from "../flags.js"
import { writeProblem } from "../paths.js"
import { table } from "./index.js"

/** The checkout's git remote, which a Colab or Kaggle VM clones; "" when it has none. */
const originUrl = (root: string): string => {
  const res = spawnSync("git", ["-C", root, "remote", "get-url", "origin"], { encoding: "utf8" })
  return res.status === 0 ? res.stdout.trim() : ""
}

const tracked = (root: string, path: string): boolean => spawnSync("git", ["-C", root, "ls-files", "--error-unmatch", path], { encoding: "utf8" }).status === 0

export const run = async (args: ReadonlyArray<string>): Promise<number> => {
  const parsed = parseFlagsOrReport(table.notebook, args)
  if (parsed === undefined) return ExitCode.invalidInput
  const { values, positionals } = parsed
  const file = positionals[0]!
  const platform = String(values.platform ?? "")
  if (!(PLATFORMS as ReadonlyArray<string>).includes(platform)) {
    process.stderr.write(`polyquant notebook: --platform ${platform === "" ? "is required" : `${platform} is not one of ${PLATFORMS.join(", ")}`} (${PLATFORMS.join(", ")})\n`)
    return ExitCode.invalidInput
  }
  const sets = values.set ?? []
  let workflow
  try {
    const result = await loadWorkflowFile(file, { sets })
    if (!result.ok) {
      for (const issue of result.issues) process.stderr.write(formatIssue(issue) + "\n")
      process.stderr.write(`polyquant notebook: ${file} is not a valid workflow (${result.issues.length} error${result.issues.length === 1 ? "" : "s"}); no notebook written\n`)
      return ExitCode.invalidInput
    }
    workflow = result.workflow
  } catch (error) {
    if (error instanceof WorkflowFileError) {
      process.stderr.write(`polyquant notebook: ${error.message}\n`)
      return ExitCode.invalidInput
    }
    throw error
  }
  const out = String(values.out ?? `${basename(file).replace(/\.(ya?ml|ts)$/, "")}.${platform}.ipynb`)
  const problem = writeProblem(out, "file")
  if (problem !== undefined) {
    process.stderr.write(`polyquant notebook: cannot write ${out}: ${problem}\n`)
    return ExitCode.invalidInput
  }
  const root = projectRoot()
  const inCheckout = relative(root, resolve(file))
  // run from the clone only what the clone has: on Colab and Kaggle a file git does not track is embedded
  const fromCheckout = inCheckout !== "" && !inCheckout.startsWith("..") && !isAbsolute(inCheckout) && (platform === "local" || tracked(root, inCheckout))
  const notebook = buildNotebook({
    platform: platform as NotebookPlatform,
    workflowName: workflow.name,
    ...(workflow.description !== undefined ? { workflowDescription: workflow.description } : {}),
    ...(fromCheckout ? { workflowInCheckout: inCheckout } : { workflowText: readFileSync(file, "utf8") }),
    workflowFileName: basename(file),
    sets,
    source: values.source !== undefined ? String(values.source) : platform === "local" ? root : originUrl(root),
    ...(values.root !== undefined ? { root: resolve(String(values.root)) } : {})
  })
  writeFileSync(out, notebookText(notebook))
  process.stderr.write(`polyquant notebook: ${out} (${platform}) runs ${workflow.name}${fromCheckout ? ` from the checkout's ${inCheckout}` : " (its YAML is in the notebook)"}\n`)
  if (platform !== "local" && values.source === undefined && originUrl(root) === "")
    process.stderr.write(`polyquant notebook: this checkout has no git remote: set POLYQUANT_SOURCE in the notebook's settings cell (a git URL of polyquant, or a folder holding it), or pass --source\n`)
  return ExitCode.ok
}
