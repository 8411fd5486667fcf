/**
 * Run a Node child process against the runtime's TypeScript source: the src/python/ files are
 * transpiled (no type check; vitest's own run checks nothing either) into node_modules/.cache,
 * where `effect`, `zod` and `pythonia` resolve as usual. Used by the tests that must observe a
 * whole Node process: its terminal output, and its Python worker after a SIGKILL.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { join, resolve } from "node:path"
import ts from "typescript"

export const root = resolve(import.meta.dirname, "..", "..")

let built: string | undefined

/** Transpile src/python/*.ts once per test process; returns the folder holding the .js files. */
export const buildRuntime = (): string => {
  if (built !== undefined) return built
  const out = join(root, "node_modules", ".cache", "polyquant-test", `runtime-${process.pid}`, "python")
  mkdirSync(out, { recursive: true })
  const src = join(root, "src", "python")
  for (const file of readdirSync(src).filter((f) => f.endsWith(".ts"))) {
    const { outputText } = ts.transpileModule(readFileSync(join(src, file), "utf8"), {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: false },
      fileName: file
    })
    writeFileSync(join(out, file.replace(/\.ts$/, ".js")), outputText)
  }
  writeFileSync(join(out, "..", "package.json"), JSON.stringify({ type: "module" }))
  built = out
  return out
}

/** Write a child script (ESM) next to the transpiled runtime and return its path. */
export const childScript = (name: string, body: string): string => {
  const dir = buildRuntime()
  const path = join(dir, "..", name)
  writeFileSync(path, body)
  return path
}

/** Remove this process's transpiled runtime (call from afterAll). */
export const cleanRuntime = (): void => {
  if (built === undefined) return
  rmSync(join(built, ".."), { recursive: true, force: true })
  built = undefined
}
