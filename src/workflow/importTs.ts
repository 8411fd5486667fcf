/**
 * Loading a TypeScript (or JavaScript) workflow: `polyquant validate|plan|run file.ts`.
 * Node 20 cannot strip types, so the file is transpiled with the TypeScript compiler's
 * `transpileModule` (no type check: `tsc` does that in the user's editor) into a temporary .mjs
 * in a hidden folder beside the file (so that its imports of zod or effect resolve as they would
 * for the file), with `import … from "polyquant"` pointed at this package, then imported.
 * Its default export (or `export const workflow`) must be the value `workflow({...})` returns;
 * it is checked again with the file's name and the --set overrides. Relative imports of other
 * .ts files are not supported (put the workflow in one file).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, extname, join, resolve } from "node:path"
import { pathToFileURL } from "node:url"
import { definitionAttached } from "./dsl.js"
import { WorkflowFileError, WorkflowInvalidError } from "./errors.js"
import { checkWorkflow, noPositions, type LoadOptions, type LoadResult } from "./load.js"

const packageEntry = (): string => new URL("../index.js", import.meta.url).href

/** Point `"polyquant"` (and its subpaths) at this package, and relative imports at the source folder. */
export const rewriteImports = (code: string, sourceDir: string): string =>
  code.replace(/(from\s*|import\s*\(\s*|import\s+)(["'])([^"']+)\2/g, (whole, head: string, quote: string, spec: string) => {
    if (spec === "polyquant") return `${head}${quote}${packageEntry()}${quote}`
    if (spec.startsWith("./") || spec.startsWith("../")) return `${head}${quote}${pathToFileURL(resolve(sourceDir, spec)).href}${quote}`
    return whole
  })

export const importWorkflowModule = async (file: string, options: LoadOptions = {}): Promise<LoadResult> => {
  const path = resolve(file)
  let source: string
  try {
    source = readFileSync(path, "utf8")
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    throw new WorkflowFileError({ file, reason: code === "ENOENT" ? "no such file" : String(error) })
  }
  let code = source
  if (extname(path) === ".ts" || extname(path) === ".mts") {
    const ts = await import("typescript").catch(() => {
      throw new WorkflowFileError({ file, reason: "loading a .ts workflow needs the typescript package (npm install typescript), or compile it to .mjs" })
    })
    const out = ts.default.transpileModule(source, {
      compilerOptions: { module: ts.default.ModuleKind.ESNext, target: ts.default.ScriptTarget.ES2022, verbatimModuleSyntax: false },
      fileName: path,
      reportDiagnostics: true
    })
    const syntax = (out.diagnostics ?? []).filter((d) => d.category === ts.default.DiagnosticCategory.Error)
    if (syntax.length > 0) {
      const d = syntax[0]!
      const pos = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start) : undefined
      const issues = syntax.map((d) => ({
        file,
        line: pos ? pos.line + 1 : 0,
        column: pos ? pos.character + 1 : 0,
        path: "",
        message: `TypeScript syntax error: ${ts.default.flattenDiagnosticMessageText(d.messageText, " ")}`
      }))
      return { ok: false, issues }
    }
    code = out.outputText
  }
  // next to the source, so that its bare imports (zod, effect) resolve from the user's node_modules;
  // in the temp folder when the source folder is read-only
  let dir: string
  try {
    dir = mkdtempSync(join(dirname(path), ".polyquant-workflow-"))
  } catch {
    dir = mkdtempSync(join(tmpdir(), "polyquant-workflow-"))
  }
  const target = join(dir, "workflow.mjs")
  writeFileSync(target, rewriteImports(code, dirname(path)))
  let module: Record<string, unknown>
  try {
    module = (await import(pathToFileURL(target).href)) as Record<string, unknown>
  } catch (error) {
    if (error instanceof WorkflowInvalidError) {
      return { ok: false, issues: error.issues.map((i) => ({ ...i, file })) }
    }
    throw new WorkflowFileError({ file, reason: `could not run the workflow module: ${error instanceof Error ? error.message : String(error)}` })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  const value = module["default"] ?? module["workflow"]
  const definition = definitionAttached(value)
  if (definition === undefined) {
    throw new WorkflowFileError({ file, reason: "the module's default export is not a workflow: export default workflow({ name, steps: {...} })" })
  }
  return checkWorkflow(definition.raw, noPositions(file), { ...options, custom: definition.custom, baseDir: dirname(path) })
}
