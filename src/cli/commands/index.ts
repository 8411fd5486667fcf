/** The command table. Each entry imports its implementation only when that command runs. */
import type { Command } from "../command.js"

export const commands: ReadonlyArray<Command> = [
  { name: "corpus", summary: "print a corpus (UDHR by default) as the kernels receive it", usage: "polyquant corpus [--languages en,he] [--split train|heldout|all] [--json]", load: () => import("./corpus.js") },
  { name: "replay", summary: "watch a recorded run (JSON lines of events) in the dashboard again", usage: "polyquant replay EVENTS.jsonl [--speed N] [--plain|--json]", load: () => import("./replay.js") },
  { name: "doctor", summary: "check Node, Python, torch, transformers and CUDA", usage: "polyquant doctor", load: () => import("./doctor.js") }
]
