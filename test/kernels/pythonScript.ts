/**
 * Run a Python script with the project's interpreter and read back the JSON it prints after a
 * marker: the kernel tests call the real kernels this way (no bridge) and check their outputs
 * against the zod schemas. Everything the kernels log before the marker is ignored.
 */
import { spawnSync } from "node:child_process"
import { projectRoot, resolveInterpreter } from "../../src/python/interpreter.js"

/** What a script prints right before its JSON result: `sys.stdout.write("\n@@RESULT@@" + json.dumps(out))`. */
export const RESULT_MARKER = "@@RESULT@@"

/** `python -c script dir` with `input` as JSON on stdin; returns the JSON after the marker. */
export const runPythonScript = <T = unknown>(script: string, dir: string, input: unknown): T => {
  const res = spawnSync(resolveInterpreter().path, ["-c", script, dir], {
    cwd: projectRoot(),
    input: JSON.stringify(input),
    encoding: "utf8",
    maxBuffer: 64 << 20
  })
  const marker = res.stdout.lastIndexOf(RESULT_MARKER)
  if (marker < 0) throw new Error(`python failed (${res.status}): ${res.stderr.slice(-2000)}`)
  return JSON.parse(res.stdout.slice(marker + RESULT_MARKER.length)) as T
}
