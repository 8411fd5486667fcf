#!/usr/bin/env node
/**
 * Run the Python test suite (python/tests) with the project's interpreter: POLYQUANT_PYTHON, else
 * .venv/bin/python (the rule of src/python/interpreter.ts). Extra arguments go to pytest
 * (`node scripts/pytest.mjs tests/test_api.py -k echo`). pytest's exit code 5 ("no tests were
 * collected") is a failure here: a suite that silently runs nothing must not pass.
 */
import { spawnSync } from "node:child_process"
import { existsSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..")
const named = process.env.POLYQUANT_PYTHON?.trim()
const python = named || (process.platform === "win32" ? join(root, ".venv", "Scripts", "python.exe") : join(root, ".venv", "bin", "python"))
if (!named && !existsSync(python)) {
  process.stderr.write(`pytest: no Python environment at ${python}: run \`npm install\` in the polyquant folder first.\n`)
  process.exit(1)
}
const result = spawnSync(python, ["-m", "pytest", ...process.argv.slice(2)], { cwd: join(root, "python"), stdio: "inherit" })
if (result.error) {
  process.stderr.write(`pytest: could not run ${python}: ${result.error.message}\n`)
  process.exit(1)
}
if (result.status === 5) {
  process.stderr.write("pytest: no tests were collected (exit 5); a suite that runs nothing counts as a failure.\n")
  process.exit(1)
}
if (result.signal) {
  process.stderr.write(`pytest: killed by ${result.signal}\n`)
  process.exit(1)
}
process.exit(result.status ?? 1)
