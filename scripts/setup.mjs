#!/usr/bin/env node
/**
 * Set up everything polyquant needs, installing only what is missing (Node builtins only: this runs
 * before node_modules exists). `npm install` runs it as postinstall; `npm start`, `npm test` and
 * `npm run bench` run it first, so that on a fresh clone those commands alone work.
 *
 *   1. Node packages: `npm install` when node_modules is missing or older than package-lock.json.
 *   2. Python: the project's .venv (`python3 -m venv`, then `pip install -r python/requirements.txt`),
 *      or, when POLYQUANT_PYTHON names an interpreter (Colab, Kaggle), only a check that it has torch
 *      and the other requirements.
 *   3. TypeScript: `tsc` when dist/ is missing or older than src/, then the kernel contracts for
 *      Python (scripts/write-contracts.mjs).
 *   4. With --fixtures: train the fixture models if they are missing (`polyquant fixture`).
 *
 *   5. Extras, only when asked for (`--extras=ray`, or POLYQUANT_EXTRAS=ray; a comma list): their
 *      python/requirements-<extra>.txt installed into the interpreter when a module is missing.
 *      `npm test` asks for ray: the Ray executor's tests run on a local Ray.
 *
 * Stamps (hashes of package-lock.json, requirements.txt and the interpreter) make a second run a
 * few file reads. Flags: --quiet (say nothing when nothing is missing), --fixtures, --extras=LIST.
 * The interpreter rule is the one of src/python/interpreter.ts: POLYQUANT_PYTHON, else .venv.
 */
import { spawnSync } from "node:child_process"
import { createHash } from "node:crypto"
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, utimesSync, writeFileSync } from "node:fs"
import { homedir } from "node:os"
import { delimiter, dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..")
const flags = new Set(process.argv.slice(2))
const quiet = flags.has("--quiet")
const wantFixtures = flags.has("--fixtures")
// extra → the module that shows it is installed (python/requirements-<extra>.txt installs it)
const EXTRAS = { ray: "ray" }
const wantedExtras = [...flags]
  .filter((f) => f.startsWith("--extras="))
  .map((f) => f.slice("--extras=".length))
  .concat(process.env.POLYQUANT_EXTRAS ?? "")
  .flatMap((list) => list.split(","))
  .map((e) => e.trim())
  .filter((e) => e !== "")
const GUARD = "POLYQUANT_SETUP_ACTIVE" // set for the nested `npm install`, whose postinstall must not recurse
const MIN_NODE = [20, 19]
const MIN_PYTHON = [3, 10]
const REQUIRED_MODULES = ["torch", "transformers", "tokenizers", "safetensors", "numpy", "scipy", "matplotlib", "jsonschema", "gguf", "datasets", "pyarrow", "pytest"]

const say = (message) => process.stderr.write(`polyquant setup: ${message}\n`)
const fail = (message) => {
  process.stderr.write(`\npolyquant setup failed: ${message}\n`)
  process.exit(1)
}
const sha256 = (...parts) => {
  const hash = createHash("sha256")
  for (const part of parts) hash.update(part)
  return hash.digest("hex")
}
const readOr = (path, fallback) => {
  try {
    return readFileSync(path)
  } catch {
    return fallback
  }
}
const run = (command, args, options = {}) =>
  spawnSync(command, args, { cwd: root, stdio: "inherit", env: { ...process.env, [GUARD]: "1" }, ...options })

// ------------------------------------------------------------------------------------------------
// stamps: node_modules/.cache/polyquant/setup.json (node_modules going away resets them)

const stampPath = join(root, "node_modules", ".cache", "polyquant", "setup.json")
const readStamp = () => {
  try {
    return JSON.parse(readFileSync(stampPath, "utf8"))
  } catch {
    return {}
  }
}
const writeStamp = (patch) => {
  mkdirSync(dirname(stampPath), { recursive: true })
  writeFileSync(stampPath, JSON.stringify({ ...readStamp(), ...patch }, null, 2))
}

// ------------------------------------------------------------------------------------------------
// 0. Node itself

const checkNode = () => {
  const [major, minor] = process.versions.node.split(".").map(Number)
  if (major < MIN_NODE[0] || (major === MIN_NODE[0] && minor < MIN_NODE[1])) {
    fail(`Node ${process.versions.node} is too old: polyquant needs Node >= ${MIN_NODE.join(".")} (install it from https://nodejs.org or with nvm: \`nvm install 20\`).`)
  }
}

// ------------------------------------------------------------------------------------------------
// 1. Node packages

const lockHash = () => sha256(readOr(join(root, "package-lock.json"), ""), readOr(join(root, "package.json"), ""))

const npmCommand = () =>
  process.env.npm_execpath && existsSync(process.env.npm_execpath)
    ? [process.execPath, [process.env.npm_execpath]]
    : [process.platform === "win32" ? "npm.cmd" : "npm", []]

const ensureNodeModules = () => {
  if (process.env.npm_lifecycle_event === "postinstall") {
    // npm has just installed the packages: remember which lock file it installed
    writeStamp({ node: lockHash() })
    return
  }
  const installed = existsSync(join(root, "node_modules", ".package-lock.json"))
  if (installed && readStamp().node === lockHash()) return
  say(installed ? "package-lock.json changed: running `npm install`" : "node_modules is missing: running `npm install`")
  const [command, prefix] = npmCommand()
  const result = run(command, [...prefix, "install", "--no-audit", "--no-fund"])
  if (result.status !== 0) fail("`npm install` failed (see above). Fix the error, then run `npm install` in the polyquant folder.")
  writeStamp({ node: lockHash() })
}

// ------------------------------------------------------------------------------------------------
// 2. Python

const venvPython = () => (process.platform === "win32" ? join(root, ".venv", "Scripts", "python.exe") : join(root, ".venv", "bin", "python"))
const requirements = join(root, "python", "requirements.txt")

const findOnPath = (name) => {
  if (name.includes("/") || name.includes("\\")) return existsSync(name) ? resolve(name) : undefined
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir && existsSync(join(dir, name))) return join(dir, name)
  }
  return undefined
}

/** `3.11.7` etc., or undefined when it does not run. */
const pythonVersion = (python) => {
  const probe = spawnSync(python, ["-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"], { encoding: "utf8" })
  return probe.status === 0 ? probe.stdout.trim() : undefined
}
const atLeast = (version, [major, minor]) => {
  const [a, b] = version.split(".").map(Number)
  return a > major || (a === major && b >= minor)
}

/** The modules of REQUIRED_MODULES the interpreter cannot import. */
const missingModules = (python) => {
  const code = [
    "import importlib.util, json, sys",
    `mods = ${JSON.stringify(REQUIRED_MODULES)}`,
    "print(json.dumps([m for m in mods if importlib.util.find_spec(m) is None]))"
  ].join("\n")
  const probe = spawnSync(python, ["-c", code], { encoding: "utf8" })
  if (probe.status !== 0) return REQUIRED_MODULES
  return JSON.parse(probe.stdout.trim().split("\n").pop())
}

const interpreterKey = (python) => {
  let identity = python
  try {
    const s = statSync(python)
    identity += `:${s.size}:${s.mtimeMs}`
  } catch {
    // a missing interpreter never matches a stamp
  }
  return sha256(identity, readOr(requirements, ""), readOr(join(root, ".venv", "pyvenv.cfg"), ""))
}

const checkNamedPython = (named) => {
  const python = findOnPath(named.startsWith("~/") ? join(homedir(), named.slice(2)) : named)
  const unset = "or unset POLYQUANT_PYTHON to use the project's own .venv (then run `npm install`)"
  if (python === undefined) fail(`POLYQUANT_PYTHON=${named} does not exist: point it at an interpreter that has torch, ${unset}.`)
  const key = interpreterKey(python)
  if (readStamp().python === key) return
  const version = pythonVersion(python)
  if (version === undefined) fail(`POLYQUANT_PYTHON=${named} does not run: point it at a working interpreter, ${unset}.`)
  if (!atLeast(version, MIN_PYTHON)) fail(`POLYQUANT_PYTHON=${named} is Python ${version}; polyquant needs Python >= ${MIN_PYTHON.join(".")}.`)
  const missing = missingModules(python)
  if (missing.includes("torch")) fail(`POLYQUANT_PYTHON=${named} has no torch: install it (\`${python} -m pip install -r python/requirements.txt\`), ${unset}.`)
  if (missing.length > 0) fail(`POLYQUANT_PYTHON=${named} lacks ${missing.join(", ")}: run \`${python} -m pip install -r python/requirements.txt\`.`)
  writeStamp({ python: key })
}

/** A python3 that is new enough to make the venv, or a clear failure. */
const basePython = () => {
  const candidates = ["python3", "python3.13", "python3.12", "python3.11", "python3.10", "python"]
  const seen = []
  for (const name of candidates) {
    const path = findOnPath(name)
    if (path === undefined) continue
    const version = pythonVersion(path)
    if (version === undefined) continue
    if (atLeast(version, MIN_PYTHON)) return path
    seen.push(`${name} is ${version}`)
  }
  fail(
    `polyquant needs Python >= ${MIN_PYTHON.join(".")} to create its environment${seen.length ? ` (${seen.join(", ")})` : " and found none on PATH"}. ` +
      "Install Python 3.10 or newer (e.g. `apt install python3 python3-venv`, or from https://www.python.org), " +
      "or set POLYQUANT_PYTHON to an interpreter that has torch, then run `npm install` again."
  )
}

const ensureVenv = () => {
  const python = venvPython()
  if (existsSync(python) && readStamp().python === interpreterKey(python)) return
  if (!existsSync(python)) {
    const base = basePython()
    say(`creating the Python environment: ${base} -m venv .venv`)
    const made = run(base, ["-m", "venv", join(root, ".venv")])
    if (made.status !== 0 || !existsSync(python)) {
      fail(`\`${base} -m venv .venv\` failed (see above). On Debian or Ubuntu install the venv module (\`apt install python3-venv\`), then run \`npm install\` again.`)
    }
  }
  const version = pythonVersion(python)
  if (version === undefined || !atLeast(version, MIN_PYTHON)) {
    fail(`.venv runs Python ${version ?? "(broken)"}; polyquant needs >= ${MIN_PYTHON.join(".")}: delete .venv and run \`npm install\` with a newer python3 on PATH.`)
  }
  say("installing the Python requirements into .venv (torch is large: the first time takes a few minutes)")
  const pip = run(python, ["-m", "pip", "install", ...(quiet ? ["-q"] : []), "--disable-pip-version-check", "-r", requirements])
  if (pip.status !== 0) {
    fail(`installing the Python requirements failed (see above). Fix the error, then run \`npm install\` again (or \`.venv/bin/python -m pip install -r python/requirements.txt\`).`)
  }
  const missing = missingModules(python)
  if (missing.length > 0) fail(`.venv still lacks ${missing.join(", ")} after pip install: run \`.venv/bin/python -m pip install -r python/requirements.txt\` and read its errors.`)
  writeStamp({ python: interpreterKey(python) })
}

const ensurePython = () => {
  const named = process.env.POLYQUANT_PYTHON?.trim()
  if (named) checkNamedPython(named)
  else ensureVenv()
}

/** Install the extras asked for whose module the interpreter lacks. */
const ensureExtras = () => {
  const unknown = wantedExtras.filter((e) => !(e in EXTRAS))
  if (unknown.length > 0) fail(`unknown extra ${unknown.join(", ")} (POLYQUANT_EXTRAS or --extras=; known: ${Object.keys(EXTRAS).join(", ")})`)
  const named = process.env.POLYQUANT_PYTHON?.trim()
  const python = named ? findOnPath(named.startsWith("~/") ? join(homedir(), named.slice(2)) : named) : venvPython()
  for (const extra of new Set(wantedExtras)) {
    const module = EXTRAS[extra]
    const probe = spawnSync(python, ["-c", `import importlib.util, sys; sys.exit(0 if importlib.util.find_spec(${JSON.stringify(module)}) else 1)`])
    if (probe.status === 0) continue
    const file = join(root, "python", `requirements-${extra}.txt`)
    say(`installing the ${extra} extra into ${named ? python : ".venv"} (pip install -r python/requirements-${extra}.txt)`)
    const pip = run(python, ["-m", "pip", "install", ...(quiet ? ["-q"] : []), "--disable-pip-version-check", "-r", file])
    if (pip.status !== 0) fail(`installing the ${extra} extra failed (see above). Fix the error, then run \`${python} -m pip install -r python/requirements-${extra}.txt\`.`)
  }
}

// ------------------------------------------------------------------------------------------------
// 3. TypeScript

const buildStamp = join(root, "dist", ".build-stamp")

const newestSource = () => {
  let newest = 0
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name)
      if (entry.isDirectory()) walk(path)
      else newest = Math.max(newest, statSync(path).mtimeMs)
    }
  }
  walk(join(root, "src"))
  for (const file of ["tsconfig.json", "package-lock.json"]) newest = Math.max(newest, statSync(join(root, file)).mtimeMs)
  return newest
}

const ensureBuild = () => {
  let built = 0
  try {
    built = statSync(buildStamp).mtimeMs
  } catch {
    built = 0
  }
  if (built > 0 && newestSource() <= built) return
  say(built === 0 ? "building the TypeScript (tsc)" : "src/ changed since the last build: rebuilding (tsc)")
  const started = new Date()
  const tsc = run(process.execPath, [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.json"])
  if (tsc.status !== 0) fail("the TypeScript build failed (errors above). Fix them, then run `npm run build`.")
  // the kernels' contracts for Python are generated from the compiled zod definitions
  if (existsSync(join(root, "dist", "kernels", "contract.js"))) {
    const contracts = run(process.execPath, [join(root, "scripts", "write-contracts.mjs")])
    if (contracts.status !== 0) fail("writing the kernel contracts failed (errors above).")
  }
  mkdirSync(dirname(buildStamp), { recursive: true })
  writeFileSync(buildStamp, `${started.toISOString()}\n`)
  utimesSync(buildStamp, started, started) // a file saved during the build is newer: rebuilt next time
}

// ------------------------------------------------------------------------------------------------
// 4. Fixture models

// This script runs before anything is built, so it cannot import src/model/facts.ts: the fixture
// names come from the fixture kernel's generated contract, and the cache folder is read by the same
// rule as facts.ts `cacheDir` (trimmed, ~ expanded, absolute; test/setup/setup.test.ts checks both).
const fixtureNames = () => JSON.parse(readFileSync(join(root, "python", "polyquant", "kernels", "contracts", "fixture.json"), "utf8")).params.properties.name.enum

const cacheDir = () => {
  const named = process.env.POLYQUANT_CACHE?.trim()
  if (!named) return join(homedir(), ".cache", "polyquant")
  return resolve(named === "~" ? homedir() : named.startsWith("~/") ? join(homedir(), named.slice(2)) : named)
}

const ensureFixtures = () => {
  const missing = fixtureNames().filter((name) => !existsSync(join(cacheDir(), "fixtures", name, "polyquant-fixture.json")))
  if (missing.length === 0) return
  say(`training the fixture models (${missing.join(", ")}; about two minutes in all on 2 idle cores) into ${join(cacheDir(), "fixtures")}`)
  const trained = run(process.execPath, [join(root, "bin", "polyquant.js"), "fixture"])
  if (trained.status !== 0) fail("training the fixture models failed (see above). Run `node bin/polyquant.js doctor`, then `node bin/polyquant.js fixture`.")
}

// ------------------------------------------------------------------------------------------------

if (process.env[GUARD]) process.exit(0) // the nested `npm install` of an outer setup: the outer one does the rest
// `npx polyquant …` in a checkout links the checkout into npm's npx cache and runs its postinstall
// there, with npm hiding the output: setup would train the fixtures for minutes in silence before
// the command starts. The CLI runs from the checkout itself and says what is missing.
if (process.env.npm_lifecycle_event === "postinstall" && process.env.npm_command === "exec") process.exit(0)
const t0 = Date.now()
checkNode()
ensureNodeModules()
ensurePython()
ensureExtras()
ensureBuild()
if (wantFixtures) ensureFixtures()
if (!quiet) say(`ready (${Date.now() - t0} ms)`)
