/**
 * Bad command lines and bad store or output paths, as a user types them (a child
 * `node bin/polyquant.js`): each row is the exact line on stderr and exit code 2, nothing on
 * stdout, never a stack trace. Every command in the table has an unknown-option row. Stores that
 * are read-only are tried as the user `nobody` when the tests run as root (root writes anywhere).
 */
import { execFileSync, spawnSync } from "node:child_process"
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { commands } from "../../src/cli/commands/index.js"
import type { Plan } from "../../src/plan/types.js"
import { RunStore } from "../../src/store/RunStore.js"

const root = join(import.meta.dirname, "..", "..")
const bin = join(root, "bin", "polyquant.js")
const NOBODY = 65534
const asRoot = process.getuid?.() === 0

const tmp = mkdtempSync(join(tmpdir(), "pq-bad-flags-"))
const notes = join(tmp, "notes.txt") // a regular file where a folder is expected
const folder = join(tmp, "outdir")
const store = join(tmp, "store", "pq.db")
const notSqlite = join(tmp, "notes.db")
const roFile = join(tmp, "ro-file", "pq.db") // the database file without write permission
const roFolder = join(tmp, "ro-folder", "pq.db") // its folder without write permission
const workflow = join(tmp, "wf.yaml")

const plan: Plan = {
  workflow: { name: "echo", file: workflow, digest: "d" },
  steps: [
    {
      id: "one", baseId: "one", uses: "test-echo", kernelVersion: "1", with: { message: "one" }, needs: [], platform: "local",
      retry: { max: 0, on: [] }, continueOnError: false, gpu: false, checkpoints: false, source: { file: "wf.yaml", line: 3, column: 3 }
    }
  ],
  stages: [["one"]],
  budgets: []
}

/** a store holding three interrupted runs, two of them sharing the prefix r-20261126-aa */
const makeStore = (path: string): void => {
  mkdirSync(join(path, ".."), { recursive: true })
  const s = RunStore.open(path)
  const ids = ["r-20261126-aaaa", "r-20261126-aabb", "r-20261127-cccc"]
  ids.forEach((id, i) => {
    s.createRun({ id, plan, options: { sets: [], force: false }, platform: "local", now: Date.UTC(2026, 10, 26 + i) })
    s.setRunStatus(id, "interrupted", Date.UTC(2026, 10, 26 + i, 1))
  })
  s.close()
}

/** make the folder of `path` belong to whoever runs the CLI, then take write permission away */
const readOnly = (path: string, what: "file" | "folder"): void => {
  const dir = join(path, "..")
  if (asRoot) for (const p of [dir, path]) chownSync(p, NOBODY, NOBODY)
  chmodSync(what === "file" ? path : dir, what === "file" ? 0o444 : 0o555)
}

beforeAll(() => {
  // dist/ must hold this parser (`npx tsc -p tsconfig.json` rebuilds it after a change)
  if (!existsSync(join(root, "dist", "cli", "flags.js"))) execFileSync("npx", ["tsc", "-p", "tsconfig.json"], { cwd: root })
  chmodSync(tmp, 0o755) // `nobody` runs the read-only cases from here
  writeFileSync(notes, "some notes\n")
  mkdirSync(folder)
  writeFileSync(notSqlite, "this is not a database\n")
  copyFileSync(join(root, "test", "reliability", "fixtures", "echo-pair.yaml"), workflow)
  chmodSync(workflow, 0o644)
  makeStore(store)
  makeStore(roFile)
  makeStore(roFolder)
  readOnly(roFile, "file")
  readOnly(roFolder, "folder")
})

afterAll(() => {
  chmodSync(join(roFolder, ".."), 0o755)
  rmSync(tmp, { recursive: true, force: true })
})

interface Case {
  readonly args: ReadonlyArray<string>
  readonly stderr: string
  /** run as a user without write permission on the read-only stores (nobody, under root) */
  readonly unprivileged?: boolean
}

const cli = (args: ReadonlyArray<string>, options: { unprivileged?: boolean; env?: Record<string, string> } = {}) =>
  spawnSync(process.execPath, [bin, ...args], {
    cwd: tmp,
    encoding: "utf8",
    timeout: 60_000,
    env: { ...process.env, ...options.env },
    ...(options.unprivileged && asRoot ? { uid: NOBODY, gid: NOBODY } : {})
  })

const unknownOption: ReadonlyArray<Case> = [
  { args: ["validate", "wf.yaml", "--foo"], stderr: "polyquant validate: unknown option '--foo' (options: --set)" },
  { args: ["plan", "wf.yaml", "--foo"], stderr: "polyquant plan: unknown option '--foo' (options: --set, --json, --store)" },
  { args: ["schema", "--foo"], stderr: "polyquant schema: unknown option '--foo' (options: --out)" },
  { args: ["corpus", "--foo"], stderr: "polyquant corpus: unknown option '--foo' (options: --languages, --split, --json)" },
  { args: ["replay", "events.jsonl", "--foo"], stderr: "polyquant replay: unknown option '--foo' (options: --speed, --plain, --json)" },
  { args: ["run", "wf.yaml", "--foo"], stderr: "polyquant run: unknown option '--foo' (options: --set, --force, --plain, --json, --store, --no-report, --executor, --ray-address)" },
  { args: ["resume", "r-1", "--foo"], stderr: "polyquant resume: unknown option '--foo' (options: --plain, --json, --takeover, --force, --store, --no-report, --executor, --ray-address)" },
  { args: ["runs", "--foo"], stderr: "polyquant runs: unknown option '--foo' (options: --limit, --json, --store)" },
  { args: ["show", "r-1", "--foo"], stderr: "polyquant show: unknown option '--foo' (options: --json, --store)" },
  { args: ["explain", "r-1", "one", "--foo"], stderr: "polyquant explain: unknown option '--foo' (options: --json, --store)" },
  { args: ["export", "r-1", "--foo"], stderr: "polyquant export: unknown option '--foo' (options: --format, --windows, --out, --store)" },
  { args: ["compile", "r-1", "allocate", "--foo"], stderr: "polyquant compile: unknown option '--foo' (options: --to, --out, --store)" },
  { args: ["compare", "r-1", "r-2", "--foo"], stderr: "polyquant compare: unknown option '--foo' (options: --by, --step, --metric, --json, --store)" },
  { args: ["report", "r-1", "--foo"], stderr: "polyquant report: unknown option '--foo' (options: --out, --store, --no-plots, --html, --compare, --compare-by)" },
  { args: ["notebook", "workflows/quickstart.yaml", "--foo"], stderr: "polyquant notebook: unknown option '--foo' (options: --platform, --out, --set, --source, --root)" },
  { args: ["fixture", "--foo"], stderr: "polyquant fixture: unknown option '--foo' (options: --force, --name)" },
  { args: ["doctor", "--foo"], stderr: "polyquant doctor: unknown option '--foo' (options: --store, --ray-address)" },
  // the value of an unknown option is not echoed; one-dash options are unknown too
  { args: ["show", "r-1", "--jsn=yes"], stderr: "polyquant show: unknown option '--jsn' (options: --json, --store)" },
  { args: ["runs", "-n", "5"], stderr: "polyquant runs: unknown option '-n' (options: --limit, --json, --store)" }
]

const malformed: ReadonlyArray<Case> = [
  { args: ["runs", "--limit", "-1"], stderr: "polyquant runs: --limit must be a positive integer, got '-1'" },
  { args: ["runs", "--limit=0"], stderr: "polyquant runs: --limit must be a positive integer, got '0'" },
  { args: ["runs", "--limit", "2.5"], stderr: "polyquant runs: --limit must be a positive integer, got '2.5'" },
  { args: ["runs", "--limit", "ten"], stderr: "polyquant runs: --limit must be a positive integer, got 'ten'" },
  { args: ["runs", "--limit"], stderr: "polyquant runs: --limit needs a value (--limit N)" },
  { args: ["runs", "--limit", "5", "--limit", "6"], stderr: "polyquant runs: --limit given twice ('5' and '6'); give it once" },
  { args: ["replay", "events.jsonl", "--speed", "fast"], stderr: "polyquant replay: --speed must be a number ≥ 0, got 'fast'" },
  { args: ["replay", "events.jsonl", "--speed", "-2"], stderr: "polyquant replay: --speed must be a number ≥ 0, got '-2'" },
  { args: ["run", "wf.yaml", "--store"], stderr: "polyquant run: --store needs a value (--store PATH)" },
  { args: ["run", "wf.yaml", "--store", "--json"], stderr: "polyquant run: --store needs a value (--store PATH)" },
  { args: ["validate", "wf.yaml", "--set="], stderr: "polyquant validate: --set needs a value (--set path=value)" },
  { args: ["plan", "wf.yaml", "--json=yes"], stderr: "polyquant plan: --json takes no value, got '--json=yes'" },
  { args: ["report", "r-1", "--no-plots=false"], stderr: "polyquant report: --no-plots takes no value, got '--no-plots=false'" }
]

const positionals: ReadonlyArray<Case> = [
  { args: ["runs", "extra"], stderr: "polyquant runs: unexpected argument 'extra' (usage: polyquant runs [--limit N] [--json] [--store PATH])" },
  { args: ["show", "r-1", "r-2"], stderr: "polyquant show: unexpected argument 'r-2' (usage: polyquant show RUN [--json] [--store PATH])" },
  { args: ["explain", "r-1", "one", "two"], stderr: "polyquant explain: unexpected argument 'two' (usage: polyquant explain RUN STEP [--json] [--store PATH])" },
  { args: ["validate", "wf.yaml", "other.yaml"], stderr: "polyquant validate: unexpected argument 'other.yaml' (usage: polyquant validate FILE [--set path=value]...)" },
  { args: ["schema", "--", "--out"], stderr: "polyquant schema: unexpected argument '--out' (usage: polyquant schema [--out FILE])" },
  { args: ["validate"], stderr: "polyquant validate: name one workflow file (usage: polyquant validate FILE [--set path=value]...)" },
  { args: ["run"], stderr: "polyquant run: name a workflow file (usage: polyquant run FILE [--set path=value]... [--force] [--plain|--json] [--store PATH] [--no-report] [--executor local|ray] [--ray-address auto|HOST:PORT])" }
]

const paths: ReadonlyArray<Case> = [
  { args: ["schema", "--out", join(notes, "schema.json")], stderr: `polyquant schema: cannot write ${join(notes, "schema.json")}: ${notes} is a file, not a folder` },
  { args: ["schema", "--out", join(notes, "a", "b.json")], stderr: `polyquant schema: cannot write ${join(notes, "a", "b.json")}: ${notes} is a file, not a folder` },
  { args: ["schema", "--out", "notes.txt/schema.json"], stderr: "polyquant schema: cannot write notes.txt/schema.json: notes.txt is a file, not a folder" },
  { args: ["schema", "--out", folder], stderr: `polyquant schema: cannot write ${folder}: ${folder} is a folder, not a file` },
  { args: ["report", "r-20261127-cccc", "--store", store, "--out", join(notes, "report")], stderr: `polyquant report: cannot write the report into ${join(notes, "report")}: ${notes} is a file, not a folder` },
  { args: ["report", "r-20261127-cccc", "--store", store, "--out", notes], stderr: `polyquant report: cannot write the report into ${notes}: ${notes} is a file, not a folder` },
  { args: ["runs", "--store", notSqlite], stderr: `polyquant runs: cannot open the run store at ${notSqlite}: file is not a database` }
]

const ambiguous = `run id 'r-20261126-aa' is ambiguous: 2 runs start with it (r-20261126-aabb, r-20261126-aaaa); give more of the id`
const runIds: ReadonlyArray<Case> = [
  { args: ["show", "r-20261126-aa", "--store", store], stderr: `polyquant show: ${ambiguous}` },
  { args: ["explain", "r-20261126-aa", "one", "--store", store], stderr: `polyquant explain: ${ambiguous}` },
  { args: ["report", "r-20261126-aa", "--store", store, "--no-plots"], stderr: `polyquant report: ${ambiguous}` },
  { args: ["export", "r-20261126-aa", "--store", store], stderr: `polyquant export: ${ambiguous}` },
  { args: ["compare", "r-20261126-aa", "r-20261127-cccc", "--store", store], stderr: `polyquant compare: ${ambiguous}` },
  { args: ["resume", "r-20261126-aa", "--store", store], stderr: `polyquant resume: ${ambiguous}` },
  {
    args: ["show", "r-2026", "--store", store],
    stderr: "polyquant show: run id 'r-2026' is ambiguous: 3 runs start with it (r-20261127-cccc, r-20261126-aabb, r-20261126-aaaa); give more of the id"
  },
  // a prefix is compared exactly, not case-blind as SQL's LIKE would
  { args: ["show", "R-20261127", "--store", store], stderr: "polyquant show: no run 'R-20261127' in the store; recent runs: r-20261127-cccc, r-20261126-aabb, r-20261126-aaaa" }
]

const readOnlyStores: ReadonlyArray<Case> = [
  { args: ["run", "wf.yaml", "--store", roFile], unprivileged: true, stderr: `polyquant run: the run store ${roFile} is read-only: no write permission on the database file` },
  { args: ["resume", "r-20261127-cccc", "--store", roFile], unprivileged: true, stderr: `polyquant resume: the run store ${roFile} is read-only: no write permission on the database file` },
  {
    args: ["run", "wf.yaml", "--store", roFolder],
    unprivileged: true,
    stderr: `polyquant run: the run store ${roFolder} is read-only: no write permission on its folder ${join(roFolder, "..")} (SQLite writes its -wal and -shm files there)`
  },
  {
    args: ["runs", "--store", roFolder],
    unprivileged: true,
    stderr: `polyquant runs: cannot open the run store at ${roFolder}: no write permission on its folder ${join(roFolder, "..")} (SQLite writes its -wal and -shm files there)`
  }
]

const table: ReadonlyArray<[string, ReadonlyArray<Case>]> = [
  ["unknown options", unknownOption],
  ["malformed values", malformed],
  ["positional arguments", positionals],
  ["output and store paths", paths],
  ["run ids", runIds],
  ["read-only stores", readOnlyStores]
]

/**
 * Under root the read-only cases run as `nobody`, who must be able to read this checkout: a clone
 * in a private folder (`mktemp -d` makes it 0700) cannot be, and those cases are then skipped with
 * that reason rather than failing for it.
 */
const nobodyCanRunTheCli = !asRoot || spawnSync(process.execPath, [bin, "--help"], { cwd: tmp, uid: NOBODY, gid: NOBODY, encoding: "utf8" }).status === 0

describe.each(table)("bad command lines: %s", (_family, cases) => {
  const runnable = cases.filter((c) => !c.unprivileged || nobodyCanRunTheCli)
  it.skipIf(runnable.length === cases.length)(`${cases.length - runnable.length} case(s) as nobody: this checkout is not readable by nobody`, () => undefined)
  it.each(runnable.map((c) => [c.args.join(" "), c] as const))("%s", (_name, c) => {
    const r = cli(c.args, c.unprivileged ? { unprivileged: true } : {})
    expect({ stderr: r.stderr, code: r.status, stdout: r.stdout }).toEqual({ stderr: `${c.stderr}\n`, code: 2, stdout: "" })
  })
})

describe("bad command lines: coverage and side effects", () => {
  it("has an unknown-option row for every command in the table", () => {
    const covered = new Set(unknownOption.filter((c) => c.stderr.includes("unknown option '--foo'")).map((c) => c.args[0]))
    expect(commands.map((c) => c.name).filter((name) => !covered.has(name))).toEqual([])
  })

  it("a rejected --out or store changes nothing on disk", () => {
    expect(existsSync(join(tmp, "notes.txt", "schema.json"))).toBe(false)
    // report checks --out before it opens (and so creates) a store
    const missing = join(tmp, "never", "pq.db")
    expect(cli(["report", "r-1", "--store", missing, "--out", join(notes, "x")]).status).toBe(2)
    expect(existsSync(missing)).toBe(false)
  })

  it("the read-only store is left as it was (its runs unchanged)", () => {
    const s = RunStore.open(roFile)
    try {
      expect(s.listRuns().map((r) => [r.id, r.status])).toEqual([
        ["r-20261127-cccc", "interrupted"],
        ["r-20261126-aabb", "interrupted"],
        ["r-20261126-aaaa", "interrupted"]
      ])
    } finally {
      s.close()
    }
  })

  it("doctor names a store file that is not SQLite (and needs no Python to say so)", () => {
    const r = cli(["doctor", "--store", notSqlite], { env: { POLYQUANT_PYTHON: join(tmp, "no-python") } })
    const lines = r.stdout.split("\n")
    expect(lines).toContain(`store         ${notSqlite} is not a SQLite database (it does not start with SQLite's header)`)
    expect(lines).toContain(`missing: the store ${notSqlite} is not a SQLite database (it does not start with SQLite's header)`)
    expect(r.status).toBe(1) // doctor's code for something required missing
    expect(r.stderr).toBe("")
  })

  it("doctor names a store path under a file", () => {
    const under = join(notes, "pq.db")
    const r = cli(["doctor", "--store", under], { env: { POLYQUANT_PYTHON: join(tmp, "no-python") } })
    expect(r.stdout.split("\n")).toContain(`store         ${under} cannot be created: ${notes} is a file, not a folder`)
  })
})
