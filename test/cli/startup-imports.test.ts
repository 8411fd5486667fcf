/**
 * What `polyquant --help` and `polyquant validate` load before they answer: their static import
 * graphs, read from src/. Start-up time is mostly module loading (effect alone is ~150 modules,
 * ~0.2 s on two cores), so a heavy import that slips onto these paths is caught here, on any
 * machine, rather than as a slow benchmark on a loaded one.
 */
import { existsSync, readFileSync } from "node:fs"
import { dirname, join, relative, resolve } from "node:path"
import { describe, expect, it } from "vitest"

const root = join(import.meta.dirname, "..", "..")

// `import x from "m"`, `import { a, type B } from "m"`, `export { a } from "m"`, `import "m"`;
// not `import type`/`export type` (erased by tsc) and not `import("m")` (loaded when called)
const STATIC_IMPORT = /^(?:import|export)\s+(?!type\s)(?:[^"']*?\sfrom\s+)?["']([^"']+)["']/gm

/** Every source file and package reached through static imports from `entry` (a path under src/). */
const staticGraph = (entry: string): { files: Set<string>; packages: Set<string> } => {
  const files = new Set<string>()
  const packages = new Set<string>()
  const todo = [resolve(root, entry)]
  while (todo.length > 0) {
    const file = todo.pop()!
    if (files.has(file)) continue
    files.add(file)
    for (const [, specifier] of readFileSync(file, "utf8").matchAll(STATIC_IMPORT)) {
      if (!specifier!.startsWith(".")) {
        const parts = specifier!.split("/")
        packages.add(specifier!.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0]!)
        continue
      }
      const target = resolve(dirname(file), specifier!)
      const source = [target.replace(/\.js$/, ".ts"), target.replace(/\.js$/, ".tsx")].find(existsSync)
      if (source === undefined) throw new Error(`${relative(root, file)}: cannot find the source of ${specifier}`)
      todo.push(source)
    }
  }
  return { files: new Set([...files].map((f) => relative(root, f))), packages }
}

describe("start-up imports", () => {
  it("--help loads only the command table: no library at all", () => {
    const { files, packages } = staticGraph("src/cli/main.ts")
    expect([...files].sort()).toEqual(["src/cli/command.ts", "src/cli/commands/index.ts", "src/cli/main.ts"])
    expect([...packages]).toEqual([])
  })

  it("validate loads the checker's libraries, and neither effect, the engine, the UI nor Python", () => {
    const { files, packages } = staticGraph("src/cli/commands/validate.ts")
    expect([...packages].filter((p) => !p.startsWith("node:")).sort()).toEqual(["@marcbachmann/cel-js", "yaml", "zod"])
    expect([...packages]).not.toContain("node:child_process")
    const heavy = [...files].filter((f) => /^src\/(engine|python|store|ui|report)\//.test(f))
    expect(heavy).toEqual([])
  })
})
