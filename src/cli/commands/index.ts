/**
 * The command table: each command with its options (parsed by src/cli/flags.ts, which every
 * command calls with its entry here). Each entry imports its implementation only when that
 * command runs.
 */
import type { Command, CommandModule } from "../command.js"

const store = { type: "string", value: "PATH", description: "the run store (default .polyquant/polyquant.db)" } as const
const set = { type: "string", value: "path=value", multiple: true, description: "override a value of the workflow" } as const
const plain = { type: "boolean", description: "plain lines instead of the live dashboard" } as const
const jsonLines = { type: "boolean", description: "JSON lines of events instead of the dashboard" } as const
const noReport = { type: "boolean", description: "do not write the Markdown report when the run ends" } as const
const executor = { type: "string", value: "local|ray", description: "where the Python steps run: one worker (local, the default) or Ray actors, one per GPU (ray; the workflow's runtime.executor otherwise)" } as const
const rayAddress = { type: "string", value: "auto|HOST:PORT", description: "join a running Ray cluster instead of starting a local Ray (implies --executor ray)" } as const

export const table = {
  validate: {
    name: "validate",
    summary: "check a workflow (YAML or .ts) and print every error at once",
    usage: "polyquant validate FILE [--set path=value]...",
    positionals: ["FILE"],
    options: { set },
    load: (): Promise<CommandModule> => import("./validate.js")
  },
  plan: {
    name: "plan",
    summary: "the DAG with platforms, estimates, peak memory and budgets, without running",
    usage: "polyquant plan FILE [--set path=value]... [--json] [--store PATH]",
    positionals: ["FILE"],
    options: { set, json: { type: "boolean", description: "the plan as JSON" }, store },
    load: (): Promise<CommandModule> => import("./plan.js")
  },
  schema: {
    name: "schema",
    summary: "print the workflow JSON Schema (for editors)",
    usage: "polyquant schema [--out FILE]",
    positionals: [],
    options: { out: { type: "string", value: "FILE", description: "write the schema to FILE instead of printing it" } },
    load: (): Promise<CommandModule> => import("./schema.js")
  },
  corpus: {
    name: "corpus",
    summary: "print a corpus (UDHR by default) as the kernels receive it",
    usage: "polyquant corpus [--languages en,he] [--split train|heldout|all] [--json]",
    positionals: [],
    options: {
      languages: { type: "string", value: "en,he", description: "the languages, comma-separated (default: all)" },
      split: { type: "string", value: "train|heldout|all", default: "heldout", description: "which documents (default heldout)" },
      json: { type: "boolean", description: "the corpus as JSON, as the kernels receive it" }
    },
    load: (): Promise<CommandModule> => import("./corpus.js")
  },
  replay: {
    name: "replay",
    summary: "watch a recorded run (JSON lines of events) in the dashboard again",
    usage: "polyquant replay EVENTS.jsonl [--speed N] [--plain|--json]",
    positionals: ["EVENTS.jsonl"],
    options: {
      speed: { type: "number", value: "N", min: 0, default: 1, description: "playback speed (1 as recorded, 0 without waiting)" },
      plain,
      json: jsonLines
    },
    load: (): Promise<CommandModule> => import("./replay.js")
  },
  run: {
    name: "run",
    summary: "run a workflow (YAML or TypeScript)",
    usage: "polyquant run FILE [--set path=value]... [--force] [--plain|--json] [--store PATH] [--no-report] [--executor local|ray] [--ray-address auto|HOST:PORT]",
    positionals: ["FILE"],
    options: {
      set,
      force: { type: "boolean", description: "run every step again instead of taking cached outputs" },
      plain,
      json: jsonLines,
      store,
      "no-report": noReport,
      executor,
      "ray-address": rayAddress
    },
    load: (): Promise<CommandModule> => import("./run.js")
  },
  resume: {
    name: "resume",
    summary: "continue a stopped, crashed or deferred run",
    usage: "polyquant resume RUN [--plain|--json] [--takeover] [--force] [--store PATH] [--no-report] [--executor local|ray] [--ray-address auto|HOST:PORT]",
    positionals: ["RUN"],
    options: {
      plain,
      json: jsonLines,
      takeover: { type: "boolean", description: "resume a run stored as running on another host, whose process is gone" },
      force: { type: "boolean", description: "run the remaining steps again instead of taking cached outputs" },
      store,
      "no-report": noReport,
      executor,
      "ray-address": rayAddress
    },
    load: (): Promise<CommandModule> => import("./resume.js")
  },
  runs: {
    name: "runs",
    summary: "list the stored runs, newest first",
    usage: "polyquant runs [--limit N] [--json] [--store PATH]",
    positionals: [],
    options: {
      limit: { type: "number", value: "N", integer: true, min: 1, default: 20, description: "how many runs to list (default 20)" },
      json: { type: "boolean", description: "the runs as JSON" },
      store
    },
    load: (): Promise<CommandModule> => import("./runs.js")
  },
  show: {
    name: "show",
    summary: "a stored run: steps, statuses, outputs, branch decisions",
    usage: "polyquant show RUN [--json] [--store PATH]",
    positionals: ["RUN"],
    options: { json: { type: "boolean", description: "the run as JSON" }, store },
    load: (): Promise<CommandModule> => import("./show.js")
  },
  explain: {
    name: "explain",
    summary: "the parts of a step's cache key",
    usage: "polyquant explain RUN STEP [--json] [--store PATH]",
    positionals: ["RUN", "STEP"],
    options: { json: { type: "boolean", description: "the key and its parts as JSON" }, store },
    load: (): Promise<CommandModule> => import("./explain.js")
  },
  export: {
    name: "export",
    summary: "a run's results as tidy rows (step × model × language × metric, with CI bounds) for pandas or R",
    usage: "polyquant export RUN [--format csv|jsonl|parquet] [--windows] [--out FILE] [--store PATH]",
    positionals: ["RUN"],
    options: {
      format: { type: "string", value: "csv|jsonl|parquet", default: "csv", description: "csv (a header row), jsonl (one object a line) or parquet (needs --out)" },
      windows: { type: "boolean", description: "the disparity steps' per-window NLLs (baseline, quantized, tokens, bytes) instead, csv or jsonl, for re-analysis" },
      out: { type: "string", value: "FILE", description: "write to FILE instead of printing" },
      store
    },
    load: (): Promise<CommandModule> => import("./export.js")
  },
  compile: {
    name: "compile",
    summary: "write an allocate step's plan in a quantizer's own syntax (GPTQModel, llm-compressor, AutoAWQ, llama.cpp)",
    usage: "polyquant compile RUN STEP --to gptqmodel|llm-compressor|autoawq|llama.cpp [--out FILE] [--store PATH]",
    positionals: ["RUN", "STEP"],
    options: {
      to: { type: "string", value: "gptqmodel|llm-compressor|autoawq|llama.cpp", description: "the quantizer whose syntax to write" },
      out: { type: "string", value: "FILE", description: "write the file here (a folder: the tool's own file name in it) instead of printing it" },
      store
    },
    load: (): Promise<CommandModule> => import("./compile.js")
  },
  compare: {
    name: "compare",
    summary: "runs side by side: per-language values, deltas against the first run, whether CIs overlap",
    usage: "polyquant compare RUN RUN... [--by step|kernel] [--step ID]... [--metric NAME]... [--json] [--store PATH]",
    positionals: ["RUN", "RUN"],
    variadic: true,
    options: {
      by: { type: "string", value: "step|kernel", default: "step", description: "match steps by id (default), or by kernel and order when the ids differ" },
      step: { type: "string", value: "ID", multiple: true, description: "only this step (an id of any of the runs, or a matrix step's base id)" },
      metric: { type: "string", value: "NAME", multiple: true, description: "only this metric (as `export` names it: degradation, ppl_base, disparity, ...)" },
      json: { type: "boolean", description: "the comparison as one JSON document (shape in src/results/compare.ts)" },
      store
    },
    load: (): Promise<CommandModule> => import("./compare.js")
  },
  report: {
    name: "report",
    summary: "write a run's report: Markdown tables and SVG/PNG plots, with --html also one self-contained HTML file",
    usage: "polyquant report RUN [--out DIR] [--store PATH] [--no-plots] [--html] [--compare RUN]... [--compare-by step|kernel]",
    positionals: ["RUN"],
    options: {
      out: { type: "string", value: "DIR", description: "the folder to write into (default: reports/RUN beside the store)" },
      store,
      "no-plots": { type: "boolean", description: "the Markdown only, without starting Python for the plots" },
      html: { type: "boolean", description: "also write report.html: one self-contained file, plots inline, tables sortable by a click" },
      compare: { type: "string", value: "RUN", multiple: true, description: "add a \"Compared with\" section: this run against RUN (as `polyquant compare`)" },
      "compare-by": { type: "string", value: "step|kernel", default: "step", description: "how --compare matches steps: by id (default), or by kernel and order" }
    },
    load: (): Promise<CommandModule> => import("./report.js")
  },
  notebook: {
    name: "notebook",
    summary: "write a Jupyter notebook that runs a workflow on Colab, Kaggle or locally, and resumes it after a dead session",
    usage: "polyquant notebook FILE --platform colab|kaggle|local [--out X.ipynb] [--set path=value]... [--source PATH|GIT_URL] [--root DIR]",
    positionals: ["FILE"],
    options: {
      platform: { type: "string", value: "colab|kaggle|local", description: "where it runs: the store on Google Drive (colab), /kaggle/working (kaggle) or a local folder" },
      out: { type: "string", value: "X.ipynb", description: "the notebook to write (default: <workflow>.<platform>.ipynb)" },
      set,
      source: { type: "string", value: "PATH|GIT_URL", description: "polyquant's code for the notebook: a git URL to clone or a folder (default: this checkout's origin; local: this checkout)" },
      root: { type: "string", value: "DIR", description: "where the store, artifacts and caches live instead of the platform's default" }
    },
    load: (): Promise<CommandModule> => import("./notebook.js")
  },
  fixture: {
    name: "fixture",
    summary: "train the fixture models (tiny Llama, tiny GPT-2) on the UDHR if missing",
    usage: "polyquant fixture [--force] [--name tiny-llama|tiny-gpt2]",
    positionals: [],
    options: {
      force: { type: "boolean", description: "train again even when the fixture is cached" },
      name: { type: "string", value: "tiny-llama|tiny-gpt2", description: "only this fixture (default: all)" }
    },
    load: (): Promise<CommandModule> => import("./fixture.js")
  },
  doctor: {
    name: "doctor",
    summary: "check Node, Python, torch, transformers, CUDA, the fixtures and the store",
    usage: "polyquant doctor [--store PATH] [--ray-address auto|HOST:PORT]",
    positionals: [],
    options: { store, "ray-address": { type: "string", value: "auto|HOST:PORT", description: "also join this Ray cluster and report its nodes, CPUs and GPUs" } },
    load: (): Promise<CommandModule> => import("./doctor.js")
  }
} as const satisfies Record<string, Command>

export const commands: ReadonlyArray<Command> = Object.values(table)
