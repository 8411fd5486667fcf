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

/** A Ray cluster's resources as `ray.cluster_resources()` gives them (CPU, GPU, memory, nodes). */
export interface RayCluster {
  readonly address: string
  readonly nodes: number
  readonly cpus: number
  readonly gpus: number
}

const CLUSTER_PROBE = [
  "import json, sys, ray",
  "ray.init(address=sys.argv[1], include_dashboard=False, log_to_driver=False, configure_logging=False)",
  "r = ray.cluster_resources()",
  "print(json.dumps({'nodes': len([n for n in ray.nodes() if n.get('Alive')]), 'cpus': r.get('CPU', 0), 'gpus': r.get('GPU', 0)}))"
].join("\n")

/** Join the cluster at `address` (auto or HOST:PORT) and read its resources; a string says why not. */
export const rayCluster = (interpreter: string, address: string): RayCluster | string => {
  const probe = spawnSync(interpreter, ["-c", CLUSTER_PROBE, address], { encoding: "utf8", timeout: 120_000 })
  if (probe.status !== 0) return (probe.stderr ?? "").trim().split("\n").filter((l) => l.trim() !== "").pop() ?? `the probe exited with ${probe.status}`
  const facts = JSON.parse(probe.stdout.trim().split("\n").pop() ?? "{}") as { nodes: number; cpus: number; gpus: number }
  return { address, ...facts }
}
