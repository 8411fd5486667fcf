/**
 * The README's shell commands, run verbatim in a fresh clone's layout: the checkout's files
 * (`git ls-files`, modification times kept) in a temporary folder, with the installed parts a
 * fresh `npm install` leaves (node_modules and .venv linked, dist copied), and no store. Commands
 * run in the README's order, so `show` and `explain` see the runs the commands before them made.
 * A command is skipped only for a reason stated here (it needs the network or a GPU, it is this
 * suite, or it takes minutes on its own); the skipped ones are listed in the test's name.
 */
import { spawnSync } from "node:child_process"
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"

export interface ReadmeCommand {
  /** the README line the command starts on */
  readonly line: number
  /** the command, continuation lines joined and its trailing comment removed */
  readonly text: string
}

/** The commands of the README's ```sh and ```bash blocks. */
export const readmeCommands = (markdown: string): ReadmeCommand[] => {
  const lines = markdown.split("\n")
  const out: ReadmeCommand[] = []
  let inShell = false
  let fenced = false
  let pending: { line: number; text: string } | undefined
  for (const [i, raw] of lines.entries()) {
    if (raw.startsWith("```")) {
      if (fenced) {
        fenced = false
        inShell = false
      } else {
        fenced = true
        inShell = /^```(sh|bash)\s*$/.test(raw)
      }
      continue
    }
    if (!inShell) continue
    const code = stripComment(raw).trimEnd()
    if (code.trim() === "") continue
    const continued = code.endsWith("\\")
    const piece = continued ? code.slice(0, -1).trimEnd() : code
    pending = pending === undefined ? { line: i + 1, text: piece.trim() } : { line: pending.line, text: `${pending.text} ${piece.trim()}` }
    if (!continued) {
      out.push(pending)
      pending = undefined
    }
  }
  return out
}

/** A line without its ` # comment` (a # outside quotes, after whitespace). */
const stripComment = (line: string): string => {
  let quote: string | undefined
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!
    if (quote !== undefined) {
      if (c === quote) quote = undefined
    } else if (c === "'" || c === '"') quote = c
    else if (c === "#" && (i === 0 || /\s/.test(line[i - 1]!))) return line.slice(0, i)
  }
  return line
}

/** A hub id (`Org/name`) among the words: such a command needs the network. */
const HUB_ID = /(?:^|[\s=:{,])([A-Za-z][\w-]*\/[\w.-]+)(?=$|[\s,}'"])/
const hubIdIn = (text: string, layout: string): string | undefined => {
  for (const word of text.split(/\s+/)) {
    const m = HUB_ID.exec(` ${word}`)
    if (m && !existsSync(join(layout, m[1]!)) && !/^(workflows|schema|tests?|python|scripts|src|docs)\//.test(m[1]!)) return m[1]
  }
  return undefined
}

/** Why a command is not run here, or undefined when it is. */
const skipReason = (command: string, layout: string): string | undefined => {
  if (/^npm test\b|^bash \.ci\/run\b/.test(command)) return "the test suite itself"
  if (/^npm run (bench|fuzz)\b/.test(command)) return "minutes on its own (npm run bench / fuzz are run apart from the tests)"
  if (/^npm run build\b/.test(command)) return "setup runs the build before every `npm test`"
  if (/^npx vitest\b/.test(command)) return "a vitest run inside vitest"
  if (/(^|\s)npm install\b/.test(command)) return "installs into node_modules and .venv, which the layout links to the checkout's own (the suite's setup ran it)"
  if (/--ray-address\b/.test(command)) return "joins a running Ray cluster (there is none here; test/cli/ray.test.ts runs the Ray executor on a local Ray)"
  const hub = hubIdIn(command, layout)
  if (hub !== undefined) return `names the hub model or dataset ${hub} (needs the network)`
  const file = /^npx polyquant run (\S+\.yaml)/.exec(command)?.[1]
  if (file !== undefined && existsSync(join(layout, file))) {
    const text = readFileSync(join(layout, file), "utf8")
    const model = /^\s*model:\s*\{\s*id:\s*([^,}\s]+)/m.exec(text)?.[1]
    const overridden = /--set defaults\.model\.id=fixture:/.test(command)
    if (!overridden && model !== undefined && !model.startsWith("fixture:") && /device: cuda/.test(text)) return `runs ${model} on CUDA (needs a GPU and the network)`
  }
  return undefined
}

/** The YAML blocks the README names as files (`# my-study.yaml` on their first line). */
const readmeFiles = (markdown: string): Map<string, string> => {
  const files = new Map<string, string>()
  for (const m of markdown.matchAll(/```yaml\n# ([\w.-]+\.yaml)\n([\s\S]*?)```/g)) files.set(m[1]!, `# ${m[1]}\n${m[2]}`)
  return files
}

/** A fresh clone's layout: tracked and new files with their times, the installed parts beside them. */
const makeLayout = (): string => {
  const root = mkdtempSync(join(tmpdir(), "pq-readme-"))
  const listed = spawnSync("git", ["ls-files", "-co", "--exclude-standard", "-z"], { encoding: "utf8" })
  expect(listed.status, listed.stderr).toBe(0)
  for (const file of listed.stdout.split("\0").filter(Boolean)) {
    if (!existsSync(file)) continue // deleted, not yet committed
    mkdirSync(dirname(join(root, file)), { recursive: true })
    cpSync(file, join(root, file), { preserveTimestamps: true })
  }
  // what `npm install` put there: the packages and the Python environment (linked), the build (copied: setup may rebuild it)
  symlinkSync(join(process.cwd(), "node_modules"), join(root, "node_modules"))
  if (existsSync(".venv")) symlinkSync(join(process.cwd(), ".venv"), join(root, ".venv"))
  cpSync("dist", join(root, "dist"), { recursive: true, preserveTimestamps: true })
  return root
}

/** The user's shell: no variables from the npm script that runs this test. */
const userEnv = (): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k) && k !== "INIT_CWD" && k !== "VITEST" && !k.startsWith("VITEST_")) env[k] = v
  return { ...env, FORCE_COLOR: "0" }
}

const README = readFileSync("README.md", "utf8")
const RUN_ID = /\b\d{8}-\d{6}-[0-9a-f]{4}\b/g

describe("the README's commands, verbatim, in a fresh clone's layout", () => {
  const layout = makeLayout()
  afterAll(() => rmSync(layout, { recursive: true, force: true }))
  for (const [name, text] of readmeFiles(README)) writeFileSync(join(layout, name), text)
  const commands = readmeCommands(README)
  const skipped = commands.map((c) => ({ ...c, reason: skipReason(c.text, layout) })).filter((c) => c.reason !== undefined)

  it("finds the commands of every shell block, continuations joined and comments dropped", () => {
    expect(commands.length).toBeGreaterThan(20)
    const kaggle = commands.find((c) => c.text.startsWith("npx polyquant run workflows/kaggle-003.yaml"))
    expect(kaggle?.text).toContain("--set steps.task_eval.with.shots=5")
    expect(commands.every((c) => !c.text.includes(" # "))).toBe(true)
  })

  it(`every command that needs no GPU or network exits 0 (skipped: ${skipped.map((c) => `line ${c.line}: ${c.reason}`).join("; ")})`, () => {
    let lastRun: string | undefined
    const ran: string[] = []
    for (const c of commands) {
      if (skipReason(c.text, layout) !== undefined) continue
      // the README's example run ids stand for the run the commands before made
      const text = lastRun === undefined ? c.text : c.text.replace(RUN_ID, lastRun)
      const t0 = Date.now()
      const result = spawnSync("bash", ["-c", text], { cwd: layout, env: userEnv(), encoding: "utf8", timeout: 180_000 })
      if (process.env["PQ_README_TIMES"]) console.log(`${((Date.now() - t0) / 1000).toFixed(1)} s  ${text}`)
      expect(result.status, `README line ${c.line}: ${text}\n${result.stdout.slice(-1500)}\n${result.stderr.slice(-1500)}`).toBe(0)
      ran.push(text)
      const runs = spawnSync(process.execPath, [join(layout, "bin", "polyquant.js"), "runs", "--json"], { cwd: layout, env: userEnv(), encoding: "utf8" })
      const newest = runs.status === 0 ? (JSON.parse(runs.stdout) as Array<{ id: string }>)[0]?.id : undefined
      if (newest !== undefined) lastRun = newest
    }
    // the ones a newcomer types first all ran
    for (const start of ["npm start", "npx polyquant doctor", "npx polyquant --help", "npx polyquant validate", "npx polyquant plan", "npx polyquant run workflows/quickstart.yaml", "npx polyquant show", "npx polyquant explain", "npx polyquant resume"])
      expect(ran.some((t) => t.startsWith(start)), start).toBe(true)
    // the schema the README regenerates is the committed one
    if (ran.some((t) => t.includes("schema > schema/workflow.schema.json")))
      expect(readFileSync(join(layout, "schema/workflow.schema.json"), "utf8")).toBe(readFileSync("schema/workflow.schema.json", "utf8"))
  }, 600_000)
})
