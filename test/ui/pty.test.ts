/**
 * The real CLI in a pseudo-terminal: `polyquant replay` of the recorded week-1 stream runs under
 * `script` (util-linux), its output goes through a small terminal emulator, and the screen that
 * results is checked: what a researcher would see at 80 columns, and the stop key.
 */
import { spawn, spawnSync } from "node:child_process"
import { existsSync } from "node:fs"
import { describe, expect, it } from "vitest"
import { eventsPath } from "../report/fixtures.js"
import { renderScreen } from "./vt.js"

const root = new URL("../../", import.meta.url).pathname
const hasScript = spawnSync("script", ["--version"]).status === 0
const built = existsSync(`${root}dist/cli/main.js`)
if (!hasScript) console.warn("pty tests skipped: `script` (util-linux) is not installed")

const inPty = (args: string, cols: number, opts: { onOutput?: (all: string, write: (s: string) => void) => void } = {}) =>
  new Promise<{ code: number | null; screen: string[]; raw: string }>((resolve, reject) => {
    expect(built, "dist/ is missing: run `npm run build` first").toBe(true)
    const cmd = `stty cols ${cols} rows 60; exec node bin/polyquant.js ${args}`
    // a CI variable (even empty) makes Ink print only the last frame: this is an interactive terminal
    const { CI: _ci, CONTINUOUS_INTEGRATION: _cci, ...env } = process.env
    const child = spawn("script", ["-qfec", cmd, "/dev/null"], { cwd: root, env: { ...env, TERM: "xterm-256color" }, stdio: ["pipe", "pipe", "pipe"] })
    let raw = ""
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000)
    child.stdout.setEncoding("utf8") // multi-byte characters split across chunks decode whole
    child.stdout.on("data", (d: string) => {
      raw += d
      opts.onOutput?.(raw, (s) => child.stdin.write(s))
    })
    child.on("error", reject)
    child.on("close", (code) => {
      clearTimeout(timer)
      resolve({ code, raw, screen: renderScreen(raw, cols) })
    })
  })

describe.skipIf(!hasScript)("polyquant replay in a pseudo-terminal", () => {
  it("renders the dashboard at 80 columns and ends with the summary and the report path", async () => {
    const { code, screen, raw } = await inPty(`replay ${eventsPath} --speed 20`, 80)
    expect(code).toBe(0)
    expect(raw).toContain("\u001b[") // a real terminal session: Ink moved the cursor and coloured
    const text = screen.join("\n")
    expect(Math.max(...screen.map((l) => [...l].length))).toBeLessThanOrEqual(80)
    const once = ["✔ baseline perplexity succeeded 4.0s", "✔ colab_001 disparity succeeded 6.8s", "✔ colab_002 disparity succeeded 5.2s"]
    for (const s of once) expect(text.split(s).length - 1, s).toBe(1)
    expect(text).toMatch(/^↷ kaggle_001 layer-sweep skipped 0ms if: steps\.colab_001\.outputs\.\S*…$/m)
    expect(text).toMatch(/│ polyquant week1-validation run r-20261126-week1 on local succeeded 15\.7s\s+│/)
    expect(text).toMatch(/│ zh\s+44\.0\s+49\.0\s+\+11\.4% \[\+7\.0%, \+16\.0%\]\s+│/)
    const tail = screen.slice(-4).join("\n")
    expect(tail).toBe(
      [
        "run r-20261126-week1 succeeded in 15.7s: 3 succeeded, 1 skipped",
        "⎇ colab_001: disparity 1.42 [1.10, 1.81] < 2.0 → colab_002",
        "⎇ colab_001: disparity 1.42 [1.10, 1.81] >= 2.0 → kaggle_001 skipped",
        "report: .polyquant/reports/r-20261126-week1/report.md"
      ].join("\n")
    )
  }, 60_000)

  it("stops on q with exit code 130 and says the run was interrupted", async () => {
    let sent = false
    const { code, screen } = await inPty(`replay ${eventsPath} --speed 2`, 80, {
      onOutput: (all, write) => {
        if (!sent && renderScreen(all, 80).join("\n").includes("colab_001 disparity running")) {
          sent = true
          write("q")
        }
      }
    })
    expect(sent, screen.slice(-30).join("\n")).toBe(true)
    expect(code).toBe(130)
    const text = screen.join("\n")
    expect(text).toMatch(/run r-20261126-week1 interrupted in \S+: .*1 succeeded/)
    expect(text).not.toContain("colab_002 disparity succeeded")
  }, 60_000)

  it("degrades to 40 columns without overflowing", async () => {
    const { code, screen } = await inPty(`replay ${eventsPath} --speed 40`, 40)
    expect(code).toBe(0)
    expect(Math.max(...screen.map((l) => [...l].length))).toBeLessThanOrEqual(40)
    expect(screen.join("\n")).toContain("report:")
  }, 60_000)
})
