/**
 * scripts/setup.mjs in a throwaway project whose tools are fakes that log their calls (npm, tsc,
 * python, the polyquant CLI): what it runs on a fresh tree, that a second run runs nothing (and
 * takes well under a second), what each kind of staleness triggers, and its failure messages.
 * The real installation (venv, pip, torch) is exercised by `.ci/run` on a fresh clone.
 */
import { spawnSync } from "node:child_process"
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, utimesSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { beforeEach, describe, expect, it } from "vitest"
import { cacheDir, FIXTURE_NAMES } from "../../src/model/facts.js"

const repo = resolve(import.meta.dirname, "..", "..")

let project: string
let cache: string

const calls = (): string[] => (existsSync(join(project, "calls.log")) ? readFileSync(join(project, "calls.log"), "utf8").trim().split("\n").filter(Boolean) : [])
const resetCalls = (): void => writeFileSync(join(project, "calls.log"), "")

/** A node script that appends `name` to calls.log and exits with `code`. */
const fakeNode = (path: string, name: string, code = 0): void => {
  mkdirSync(resolve(path, ".."), { recursive: true })
  // dynamic import: valid both as CommonJS and as ESM (the fake project is "type": "module")
  writeFileSync(path, `import("node:fs").then((fs) => { fs.appendFileSync(${JSON.stringify(join(project, "calls.log"))}, ${JSON.stringify(name)} + " " + process.argv.slice(2).join(" ") + "\\n"); process.exit(${code}) })\n`)
}

/** A python that answers setup's three questions: its version, pip install, and missing modules. */
const fakePython = (path: string, version: string, missing: string[] = []): void => {
  mkdirSync(resolve(path, ".."), { recursive: true })
  writeFileSync(
    path,
    `#!/bin/sh
case "$*" in
  *find_spec*) echo '${JSON.stringify(missing)}' ;;
  *version_info*) echo ${version} ;;
  *"-m pip install"*) echo "pip install" >> ${JSON.stringify(join(project, "calls.log"))} ;;
  *) exit 9 ;;
esac
`
  )
  chmodSync(path, 0o755)
}

const setup = (args: string[] = [], env: Record<string, string | undefined> = {}) => {
  const fullEnv: Record<string, string | undefined> = { ...process.env, npm_execpath: join(project, "fake-npm.cjs"), npm_lifecycle_event: undefined, npm_command: undefined, POLYQUANT_PYTHON: undefined, POLYQUANT_SETUP_ACTIVE: undefined, POLYQUANT_CACHE: cache, ...env }
  for (const key of Object.keys(fullEnv)) if (fullEnv[key] === undefined) delete fullEnv[key]
  const t0 = Date.now()
  const result = spawnSync(process.execPath, [join(project, "scripts", "setup.mjs"), ...args], { cwd: project, encoding: "utf8", env: fullEnv as NodeJS.ProcessEnv })
  return { ...result, wallMs: Date.now() - t0 }
}

beforeEach(() => {
  project = mkdtempSync(join(tmpdir(), "polyquant-setup-"))
  cache = join(project, "cache")
  mkdirSync(join(project, "scripts"))
  copyFileSync(join(repo, "scripts", "setup.mjs"), join(project, "scripts", "setup.mjs"))
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "polyquant", type: "module" }))
  writeFileSync(join(project, "package-lock.json"), JSON.stringify({ lockfileVersion: 3 }))
  writeFileSync(join(project, "tsconfig.json"), "{}")
  mkdirSync(join(project, "node_modules"))
  writeFileSync(join(project, "node_modules", ".package-lock.json"), "{}")
  mkdirSync(join(project, "src"))
  writeFileSync(join(project, "src", "a.ts"), "export {}\n")
  mkdirSync(join(project, "python", "polyquant", "kernels", "contracts"), { recursive: true })
  writeFileSync(join(project, "python", "requirements.txt"), "torch>=2.2\n")
  // the fixture names come from the fixture kernel's contract
  copyFileSync(join(repo, "python", "polyquant", "kernels", "contracts", "fixture.json"), join(project, "python", "polyquant", "kernels", "contracts", "fixture.json"))
  fakeNode(join(project, "fake-npm.cjs"), "npm")
  fakeNode(join(project, "node_modules", "typescript", "bin", "tsc"), "tsc")
  fakeNode(join(project, "bin", "polyquant.js"), "polyquant")
  fakePython(join(project, ".venv", "bin", "python"), "3.11.7")
  resetCalls()
})

describe("scripts/setup.mjs", () => {
  it("sets up a fresh tree, then does nothing on a second run, in well under a second", () => {
    const first = setup(["--fixtures"])
    expect(first.stderr).toContain("polyquant setup: training the fixture models")
    expect(first.status).toBe(0)
    expect(calls()).toEqual(["npm install --no-audit --no-fund", "pip install", "tsc -p tsconfig.json", "polyquant fixture"])
    // the fixtures appear (as the real `polyquant fixture` would leave them)
    for (const name of ["tiny-llama", "tiny-gpt2"]) {
      mkdirSync(join(cache, "fixtures", name), { recursive: true })
      writeFileSync(join(cache, "fixtures", name, "polyquant-fixture.json"), "{}")
    }
    resetCalls()
    const second = setup(["--fixtures"])
    expect(second.status).toBe(0)
    expect(calls()).toEqual([])
    const took = Number(/ready \((\d+) ms\)/.exec(second.stderr)?.[1])
    expect(took).toBeLessThan(300) // the work itself; node's own start-up comes on top
    const quiet = setup(["--quiet", "--fixtures"])
    expect(quiet.stderr).toBe("")
    expect(quiet.stdout).toBe("")
    // the whole process: node's start-up dominates and varies with the machine's load; an
    // accidental npm install, pip or tsc would take far longer than this
    expect(quiet.wallMs).toBeLessThan(5_000)
  })

  it("reads the fixture names and the cache folder as src/model/facts.ts does (it runs before the build)", () => {
    const named = " ~/polyquant-setup-test-cache "
    const r = setup(["--fixtures"], { POLYQUANT_CACHE: named })
    expect(r.stderr).toContain(`(${FIXTURE_NAMES.join(", ")}; about two minutes`)
    expect(r.stderr).toContain(`into ${join(cacheDir({ POLYQUANT_CACHE: named }), "fixtures")}`)
  })

  it("reruns only what is stale: tsc for src, pip for requirements, npm for the lock file", () => {
    expect(setup().status).toBe(0)
    resetCalls()
    // src/a.ts saved after the last build
    const past = new Date(Date.now() - 60_000)
    utimesSync(join(project, "dist", ".build-stamp"), past, past)
    setup()
    expect(calls()).toEqual(["tsc -p tsconfig.json"])
    resetCalls()
    writeFileSync(join(project, "python", "requirements.txt"), "torch>=2.2\nscipy>=1.11\n")
    setup()
    expect(calls()).toEqual(["pip install"])
    resetCalls()
    writeFileSync(join(project, "package-lock.json"), JSON.stringify({ lockfileVersion: 3, packages: { x: {} } }))
    setup()
    // new packages may change types: the build follows
    expect(calls()).toEqual(["npm install --no-audit --no-fund", "tsc -p tsconfig.json"])
  })

  it("as npm's postinstall, records the lock file instead of installing again", () => {
    expect(setup([], { npm_lifecycle_event: "postinstall" }).status).toBe(0)
    expect(calls()).toEqual(["pip install", "tsc -p tsconfig.json"])
  })

  it("does nothing inside the npm install it started itself", () => {
    expect(setup([], { POLYQUANT_SETUP_ACTIVE: "1" }).status).toBe(0)
    expect(calls()).toEqual([])
  })

  it("as the postinstall of `npx polyquant` (npm links the checkout into its npx cache), does nothing: the command starts at once", () => {
    const r = setup(["--fixtures"], { npm_lifecycle_event: "postinstall", npm_command: "exec" })
    expect(r.status).toBe(0)
    expect(r.stderr).toBe("")
    expect(calls()).toEqual([])
  })

  it("only checks a POLYQUANT_PYTHON interpreter, and names what it lacks", () => {
    const named = join(project, "colab", "python3")
    fakePython(named, "3.12.1")
    expect(setup([], { POLYQUANT_PYTHON: named }).status).toBe(0)
    expect(calls()).toEqual(["npm install --no-audit --no-fund", "tsc -p tsconfig.json"]) // no pip

    const noTorch = join(project, "bare", "python3")
    fakePython(noTorch, "3.12.1", ["torch", "scipy"])
    const bare = setup([], { POLYQUANT_PYTHON: noTorch })
    expect(bare.status).toBe(1)
    expect(bare.stderr).toContain(`POLYQUANT_PYTHON=${noTorch} has no torch: install it (\`${noTorch} -m pip install -r python/requirements.txt\`)`)

    const old = join(project, "old", "python3")
    fakePython(old, "3.9.18")
    const tooOld = setup([], { POLYQUANT_PYTHON: old })
    expect(tooOld.status).toBe(1)
    expect(tooOld.stderr).toContain(`POLYQUANT_PYTHON=${old} is Python 3.9.18; polyquant needs Python >= 3.10.`)

    const missing = setup([], { POLYQUANT_PYTHON: "/no/such/python" })
    expect(missing.status).toBe(1)
    expect(missing.stderr).toContain("POLYQUANT_PYTHON=/no/such/python does not exist")
  })

  it("fails with the command that fixes a broken build or a failed pip install", () => {
    fakeNode(join(project, "node_modules", "typescript", "bin", "tsc"), "tsc", 2)
    const build = setup()
    expect(build.status).toBe(1)
    expect(build.stderr).toContain("the TypeScript build failed (errors above). Fix them, then run `npm run build`.")
    expect(existsSync(join(project, "dist", ".build-stamp"))).toBe(false)

    writeFileSync(join(project, ".venv", "bin", "python"), "#!/bin/sh\ncase \"$*\" in *version_info*) echo 3.11.7 ;; *) exit 1 ;; esac\n")
    writeFileSync(join(project, "python", "requirements.txt"), "torch>=9\n")
    const pip = setup()
    expect(pip.status).toBe(1)
    expect(pip.stderr).toContain("installing the Python requirements failed (see above)")
    expect(pip.stderr).toContain("`.venv/bin/python -m pip install -r python/requirements.txt`")
  })
})
