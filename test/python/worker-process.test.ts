/**
 * The runtime seen from outside a Node process: its terminal stays free of Python's output, and
 * its worker exits by itself within 10 s when the Node process is killed with SIGKILL.
 */
import { spawn, spawnSync } from "node:child_process"
import { mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { childScript, cleanRuntime, root } from "./child.js"

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"))
  } catch {
    return true
  }
}

const dir = mkdtempSync(join(tmpdir(), "polyquant-worker-"))
afterAll(() => cleanRuntime())

describe("the Python worker of a Node process", () => {
  it("keeps Python's stdout and stderr off the terminal and in the log", () => {
    const logPath = join(dir, "echo.log")
    const script = childScript(
      "echo-child.mjs",
      `import { Effect } from "effect"
import { makePythonRuntime } from "./python/PythonRuntime.js"
const result = await Effect.runPromise(Effect.scoped(Effect.flatMap(makePythonRuntime({ logPath: ${JSON.stringify(logPath)} }), (r) => r.call("test-echo", { x: 1 }))))
console.log("RESULT " + JSON.stringify(result.echo))
`
    )
    const child = spawnSync(process.execPath, [script], { cwd: root, encoding: "utf8", timeout: 60_000 })
    expect(child.status).toBe(0)
    expect(child.stdout.trim()).toBe('RESULT {"x":1}')
    expect(child.stderr).not.toContain("echo kernel writes")
    const log = readFileSync(logPath, "utf8")
    expect(log).toContain("echo kernel writes to stdout")
    expect(log).toContain("echo kernel writes to stderr")
  })

  it("exits within 10 s after its Node process is SIGKILLed", async () => {
    const script = childScript(
      "sleep-child.mjs",
      `import { Effect } from "effect"
import { makePythonRuntime } from "./python/PythonRuntime.js"
await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
  const r = yield* makePythonRuntime({ logPath: ${JSON.stringify(join(dir, "sleep.log"))} })
  const info = yield* r.worker
  console.log("WORKER " + info.pid)
  yield* r.call("test-sleep", { seconds: 120 })
})))
`
    )
    const child = spawn(process.execPath, [script], { cwd: root, stdio: ["ignore", "pipe", "inherit"] })
    const pid = await new Promise<number>((resolve, reject) => {
      let out = ""
      child.stdout.on("data", (chunk: Buffer) => {
        out += chunk.toString()
        const match = /WORKER (\d+)/.exec(out)
        if (match) resolve(Number(match[1]))
      })
      child.once("exit", (code) => reject(new Error(`child exited early with ${code}: ${out}`)))
    })
    // let test-sleep start, so the worker is busy in a kernel (not idle in the bridge loop)
    await new Promise((r) => setTimeout(r, 500))
    expect(alive(pid)).toBe(true)
    const killedAt = Date.now()
    child.kill("SIGKILL")
    while (alive(pid) && Date.now() - killedAt < 15_000) await new Promise((r) => setTimeout(r, 100))
    const took = Date.now() - killedAt
    if (alive(pid)) process.kill(pid, "SIGKILL") // do not leave it behind when the test fails
    expect(took).toBeLessThan(10_000)
  }, 60_000)
})
