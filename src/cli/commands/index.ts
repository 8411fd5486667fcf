/** The command table. Each entry imports its implementation only when that command runs. */
import type { Command } from "../command.js"

export const commands: ReadonlyArray<Command> = [
  { name: "doctor", summary: "check Node, Python, torch, transformers and CUDA", usage: "polyquant doctor", load: () => import("./doctor.js") }
]
