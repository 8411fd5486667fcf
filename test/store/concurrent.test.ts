import { execFile } from "node:child_process"
import { existsSync } from "node:fs"
import { join } from "node:path"
import { promisify } from "node:util"
import { beforeAll, describe, expect, it } from "vitest"
import { RunStore } from "../../src/store/RunStore.js"
import { tmp } from "../engine/helpers.js"

const exec = promisify(execFile)
const root = join(import.meta.dirname, "..", "..")
const script = join(root, "test", "fixtures", "engine", "concurrent-run.mjs")

beforeAll(async () => {
  // the child processes run the compiled engine (npm test builds dist/ first)
  if (!existsSync(join(root, "dist", "engine", "Engine.js"))) await exec("npx", ["tsc", "-p", "tsconfig.json"], { cwd: root })
})

describe("two runs at once on one store", () => {
  it("both finish, with every step, event and ledger row of each", async () => {
    const storePath = join(tmp(), "shared.db")
    const [a, b] = await Promise.all([exec("node", [script, storePath, "A"]), exec("node", [script, storePath, "B"])])
    const ra = JSON.parse(a.stdout) as { runId: string; status: string }
    const rb = JSON.parse(b.stdout) as { runId: string; status: string }
    expect([ra.status, rb.status]).toEqual(["succeeded", "succeeded"])
    expect(ra.runId).not.toBe(rb.runId)
    const store = RunStore.open(storePath)
    for (const [r, tag] of [[ra, "A"], [rb, "B"]] as const) {
      const steps = store.getSteps(r.runId)
      expect(steps.length).toBe(40)
      expect(steps.every((s) => s.status === "succeeded")).toBe(true)
      expect((steps[39]?.outputs as { echo: { message: string } }).echo.message).toBe(`${tag}-39`)
      const events = store.events(r.runId)
      expect(events.filter((e) => e.type === "step-finished").length).toBe(40)
      expect(events.at(-1)?.type).toBe("run-finished")
      expect(store.ledger(r.runId).length).toBe(40) // gpu steps are charged
    }
    expect(store.listRuns().length).toBe(2)
    store.close()
  })
})
