/**
 * Optional Python packages (extras): installed only when asked for, by scripts/setup.mjs with
 * `--extras ray` or POLYQUANT_EXTRAS=ray. Ray is the one extra today (src/engine/executor.ts).
 */
import { spawnSync } from "node:child_process"

/** The interpreter's Ray version, or undefined when it has none. */
export const rayVersion = (interpreter: string): string | undefined => {
  const probe = spawnSync(interpreter, ["-c", "import ray; print(ray.__version__)"], { encoding: "utf8", timeout: 60_000 })
  return probe.status === 0 ? probe.stdout.trim().split("\n").pop() : undefined
}

/** Why the Ray executor cannot run with this interpreter (and how to fix it), or undefined. */
export const rayMissing = (interpreter: string): string | undefined =>
  rayVersion(interpreter) !== undefined
    ? undefined
    : `the Ray executor needs the ray package, which ${interpreter} lacks: run \`POLYQUANT_EXTRAS=ray npm install\` (or \`node scripts/setup.mjs --extras ray\`), or for an interpreter named by POLYQUANT_PYTHON \`${interpreter} -m pip install -r python/requirements-ray.txt\``
