/** The command table. Each entry imports its implementation only when that command runs. */
import type { Command } from "../command.js"

export const commands: ReadonlyArray<Command> = [
  { name: "validate", summary: "check a workflow (YAML or .ts) and print every error at once", usage: "polyquant validate FILE [--set path=value]...", load: () => import("./validate.js") },
  { name: "plan", summary: "the DAG with platforms, estimates, VRAM fit and budgets, without running", usage: "polyquant plan FILE [--set path=value]... [--json] [--store PATH]", load: () => import("./plan.js") },
  { name: "schema", summary: "print the workflow JSON Schema (for editors)", usage: "polyquant schema [--out FILE]", load: () => import("./schema.js") },
  { name: "corpus", summary: "print a corpus (UDHR by default) as the kernels receive it", usage: "polyquant corpus [--languages en,he] [--split train|heldout|all] [--json]", load: () => import("./corpus.js") },
  { name: "replay", summary: "watch a recorded run (JSON lines of events) in the dashboard again", usage: "polyquant replay EVENTS.jsonl [--speed N] [--plain|--json]", load: () => import("./replay.js") },
  { name: "run", summary: "run a workflow (YAML or TypeScript)", usage: "polyquant run FILE [--set path=value]... [--force] [--plain|--json] [--store PATH]", load: () => import("./run.js") },
  { name: "resume", summary: "continue a stopped, crashed or deferred run", usage: "polyquant resume RUN [--plain|--json] [--takeover] [--store PATH]", load: () => import("./resume.js") },
  { name: "runs", summary: "list the stored runs, newest first", usage: "polyquant runs [--limit N] [--json] [--store PATH]", load: () => import("./runs.js") },
  { name: "show", summary: "a stored run: steps, statuses, outputs, branch decisions", usage: "polyquant show RUN [--json] [--store PATH]", load: () => import("./show.js") },
  { name: "explain", summary: "the parts of a step's cache key", usage: "polyquant explain RUN STEP [--json] [--store PATH]", load: () => import("./explain.js") },
  { name: "report", summary: "write a run's report: Markdown tables and SVG/PNG plots", usage: "polyquant report RUN [--out DIR] [--store PATH] [--no-plots]", load: () => import("./report.js") },
  { name: "fixture", summary: "train the fixture models (tiny Llama, tiny GPT-2) on the UDHR if missing", usage: "polyquant fixture [--force] [--name tiny-llama|tiny-gpt2]", load: () => import("./fixture.js") },
  { name: "doctor", summary: "check Node, Python, torch, transformers, CUDA, the fixtures and the store", usage: "polyquant doctor [--store PATH]", load: () => import("./doctor.js") }
]
