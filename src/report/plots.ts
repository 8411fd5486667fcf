/**
 * Drawing the report's plots: the `report-plots` Python kernel (matplotlib) in a short-lived
 * subprocess of the project's interpreter (`POLYQUANT_PYTHON`, else `.venv/bin/python`). It needs
 * no model, so it does not go through the run's resident worker.
 */
import { spawn } from "node:child_process"
import { join, resolve } from "node:path"
import { Data } from "effect"
import { projectRoot, resolveInterpreter } from "../python/interpreter.js"
import type { PlotFile, PlotRenderer, PlotSpec } from "./types.js"

/** The plot worker could not start, crashed, or the kernel rejected a spec. */
export class ReportPlotFailedError extends Data.TaggedError("ReportPlotFailedError")<{ readonly reason: string }> {
  override get message(): string {
    return this.reason
  }
}

const SCRIPT = [
  "import json, sys",
  "from polyquant import api",
  "sys.stdout.write(api.call('report-plots', sys.stdin.read(), '{}'))"
].join("\n")

export const pythonPlotRenderer =
  (options: { python?: string; timeoutMs?: number } = {}): PlotRenderer =>
  (specs: ReadonlyArray<PlotSpec>, outDir: string) => {
    if (specs.length === 0) return Promise.resolve([])
    const root = projectRoot()
    let python = options.python
    if (python === undefined) {
      const found = resolveInterpreter()
      if (!found.exists) return Promise.reject(new ReportPlotFailedError({ reason: `no Python at ${found.path} (${found.source}): ${found.fix}` }))
      python = found.path
    }
    const interpreter = python
    return new Promise<ReadonlyArray<PlotFile>>((resolvePromise, reject) => {
      const child = spawn(interpreter, ["-c", SCRIPT], {
        cwd: join(root, "python"),
        env: { ...process.env, MPLBACKEND: "Agg", PYTHONPATH: join(root, "python") },
        stdio: ["pipe", "pipe", "pipe"]
      })
      let out = ""
      let err = ""
      const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 120_000)
      child.stdout.on("data", (d: Buffer) => (out += d.toString("utf8")))
      child.stderr.on("data", (d: Buffer) => (err += d.toString("utf8")))
      child.on("error", (e) => {
        clearTimeout(timer)
        reject(new ReportPlotFailedError({ reason: `cannot start ${interpreter} to draw plots: ${e.message}` }))
      })
      child.on("close", (code, signal) => {
        clearTimeout(timer)
        let envelope: { ok: boolean; result?: { files: PlotFile[] }; error?: { type: string; message: string } }
        try {
          envelope = JSON.parse(out.trim().split("\n").pop() ?? "")
        } catch {
          reject(new ReportPlotFailedError({ reason: `plot worker ${interpreter} exited with ${code ?? signal}: ${err.trim().split("\n").slice(-5).join(" | ")}` }))
          return
        }
        if (!envelope.ok || !envelope.result) reject(new ReportPlotFailedError({ reason: `report-plots failed: ${envelope.error?.type}: ${envelope.error?.message}` }))
        else resolvePromise(envelope.result.files)
      })
      child.stdin.end(JSON.stringify({ out_dir: resolve(outDir), plots: specs }))
    })
  }
