/**
 * `execute` (shared by `run` and `resume`) on a run the engine refuses to resume: the exit code
 * comes from the error's class (RunBusyError, RunNotFoundError), and its message is printed.
 */
import { join } from "node:path"
import { describe, expect, it, vi } from "vitest"
import { execute } from "../../src/cli/commands/run.js"
import { ExitCode } from "../../src/cli/command.js"
import { thisProcess } from "../../src/store/liveness.js"
import { RunStore } from "../../src/store/RunStore.js"
import { makePlan, step, tmp } from "../engine/helpers.js"

const stderrOf = async (f: () => Promise<number>): Promise<{ code: number; stderr: string }> => {
  let stderr = ""
  const spy = vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
    stderr += String(chunk)
    return true
  })
  try {
    return { code: await f(), stderr }
  } finally {
    spy.mockRestore()
  }
}

describe("execute: a resume the engine refuses", () => {
  const input = (storePath: string, plan: ReturnType<typeof makePlan>, resume: string) => ({
    command: "resume",
    plan,
    storePath,
    mode: { plain: true, json: false },
    force: false,
    sets: [],
    resume,
    report: false
  })

  it("exits 2 for a run still running in a live process here (RunBusyError), writing nothing", async () => {
    const dir = tmp()
    const storePath = join(dir, "pq.db")
    const plan = makePlan(dir, [step("a", "test-echo", { with: { value: 1 } })])
    const db = RunStore.open(storePath)
    db.createRun({ id: "r-live", plan, options: { sets: [], force: false }, platform: "local", now: 1, owner: thisProcess() })
    const events = db.events("r-live").length
    db.close()
    const { code, stderr } = await stderrOf(() => execute(input(storePath, plan, "r-live")))
    expect(code).toBe(ExitCode.invalidInput)
    expect(stderr).toBe(`polyquant resume: run r-live is still running in process ${process.pid} on this host; stop that process first (Ctrl-C in its terminal, or kill ${process.pid}), then resume the run\n`)
    const after = RunStore.open(storePath)
    expect(after.events("r-live").length).toBe(events)
    after.close()
  })

  it("exits 2 for a run the store does not hold (RunNotFoundError)", async () => {
    const dir = tmp()
    const { code, stderr } = await stderrOf(() => execute(input(join(dir, "pq.db"), makePlan(dir, [step("a", "test-echo")]), "nosuchrun")))
    expect(code).toBe(ExitCode.invalidInput)
    expect(stderr).toBe("polyquant resume: no run 'nosuchrun' in the store; the store holds no runs\n")
  })
})
