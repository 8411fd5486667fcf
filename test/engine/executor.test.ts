/** The executor choice: flags over the workflow's `runtime:` block, and clear errors for bad values. */
import { describe, expect, it } from "vitest"
import { pythonConcurrencyOf, resolveExecutor } from "../../src/engine/executor.js"
import { plan } from "../../src/plan/plan.js"
import { formatIssue } from "../../src/workflow/errors.js"
import { checkWorkflowText } from "../../src/workflow/load.js"

const STEPS = "steps:\n  a:\n    uses: test-echo\n    with: { message: hi }\n"
const check = (runtime: string) => checkWorkflowText(`name: w\n${runtime}${STEPS}`, "w.yaml", { baseDir: process.cwd() })

describe("resolveExecutor", () => {
  it("is local unless asked for ray", () => {
    expect(resolveExecutor({}, undefined)).toEqual({ kind: "local" })
    expect(pythonConcurrencyOf({ kind: "local" })).toBe(1)
  })
  it("takes the workflow's runtime block, and the flags over it", () => {
    const runtime = { executor: "ray", rayAddress: "10.0.0.5:6379", actors: 4, threads: 2 } as const
    expect(resolveExecutor({}, runtime)).toEqual({ kind: "ray", address: "10.0.0.5:6379", actors: 4, threads: 2 })
    expect(resolveExecutor({ executor: "local" }, { executor: "ray" })).toEqual({ kind: "local" })
    expect(resolveExecutor({ rayAddress: "auto" }, undefined)).toEqual({ kind: "ray", address: "auto" })
    expect(pythonConcurrencyOf({ kind: "ray" })).toBe(Number.POSITIVE_INFINITY)
  })
  it.each([
    [{ executor: "dask" }, undefined, "--executor must be local or ray, got 'dask'"],
    [{ executor: "local", rayAddress: "auto" }, undefined, "--ray-address needs the Ray executor"],
    [{ rayAddress: "my cluster" }, undefined, "--ray-address must be auto or HOST:PORT (e.g. 10.0.0.5:6379), got 'my cluster'"],
    [{}, { executor: "ray", rayAddress: "head-node" }, "runtime.ray_address must be auto or HOST:PORT"]
  ] as const)("refuses %j with %j", (flags, runtime, message) => {
    const r = resolveExecutor(flags, runtime)
    expect("error" in r && r.error).toContain(message)
  })
})

describe("the runtime: block", () => {
  it("goes into the plan (stored with the run, so that resume runs where the run ran)", () => {
    const r = check("runtime: { executor: ray, actors: 2 }\n")
    expect(r.ok).toBe(true)
    if (r.ok) expect(plan(r.workflow).runtime).toEqual({ executor: "ray", actors: 2 })
  })
  it.each([
    ["runtime: { executor: spark }\n", "runtime.executor"],
    ["runtime: { actors: 0 }\n", "runtime.actors"],
    ["runtime: { gpus: 2 }\n", "unknown key 'gpus'"]
  ])("names what is wrong in %j", (text, where) => {
    const r = check(text)
    expect(r.ok).toBe(false)
    if (!r.ok) expect(r.issues.map(formatIssue).join("\n")).toContain(where)
  })
})
