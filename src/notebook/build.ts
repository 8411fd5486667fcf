/**
 * A Jupyter notebook (nbformat 4) that runs one workflow on Colab, Kaggle or a local Jupyter,
 * across sessions that die. Its cells, in order: where things live (the platform profile),
 * Node ≥ 20.19 (installed from NodeSource on Colab and Kaggle when missing), polyquant set up
 * with the notebook's own Python (`POLYQUANT_PYTHON`: torch and CUDA are already there), the run
 * — or, when the store on persistent storage holds an unfinished run of this workflow, its resume —
 * with plain line output, and the report shown inline.
 *
 * The store, the artifacts, the fixture cache and the Hugging Face cache live under the profile's
 * root, which outlives the VM (Google Drive on Colab, /kaggle/working on Kaggle), so GPU-hour
 * budgets and resume carry across sessions. The notebook's Python only calls the CLI; it holds no
 * logic of polyquant's own beyond choosing between `run` and `resume`.
 */

export const PLATFORMS = ["colab", "kaggle", "local"] as const
export type NotebookPlatform = (typeof PLATFORMS)[number]

interface Profile {
  /** where the store and caches live: storage that outlives the session */
  readonly root: string
  /** where polyquant's code is cloned when the source is a git URL (fast VM disk) */
  readonly codeDir: string
  /** Python lines run first (mounting Drive) */
  readonly prelude: ReadonlyArray<string>
  /** how Node is installed when it is missing or too old; undefined: the user installs it */
  readonly installNode?: string
  readonly storageNote: string
  /** the VM's own disk is lost with the session: keep the fixture and Hugging Face caches under the root */
  readonly cachesUnderRoot: boolean
}

const NODESOURCE = "curl -fsSL https://deb.nodesource.com/setup_20.x | bash - && apt-get install -y -q nodejs"

const profile = (platform: NotebookPlatform, root: string | undefined): Profile => {
  switch (platform) {
    case "colab":
      return {
        root: root ?? "/content/drive/MyDrive/polyquant",
        codeDir: "/content/polyquant",
        prelude: ["from google.colab import drive", 'drive.mount("/content/drive")'],
        installNode: NODESOURCE,
        cachesUnderRoot: true,
        storageNote: "Google Drive (`MyDrive/polyquant`): the store, budgets and checkpoints survive the VM; the code is cloned to the VM's disk each session."
      }
    case "kaggle":
      return {
        root: root ?? "/kaggle/working/polyquant",
        codeDir: "/tmp/polyquant",
        prelude: [],
        installNode: NODESOURCE,
        cachesUnderRoot: true,
        storageNote:
          "`/kaggle/working/polyquant`, which Kaggle keeps when you *Save Version*; to continue in a new session, add that output as a dataset and point `ROOT` at a copy of it in `/kaggle/working`."
      }
    case "local":
      return {
        root: root ?? "polyquant-notebook",
        codeDir: "polyquant",
        prelude: [],
        cachesUnderRoot: false,
        storageNote: "a local folder: the store and caches stay between kernel restarts."
      }
  }
}

export interface NotebookInput {
  readonly platform: NotebookPlatform
  /** the workflow's name (from the file) and its text when it is not part of polyquant's checkout */
  readonly workflowName: string
  readonly workflowDescription?: string
  /** a path inside polyquant's checkout (workflows/x.yaml), run from the clone */
  readonly workflowInCheckout?: string
  /** the YAML text, for a workflow from elsewhere: the notebook writes it under the root */
  readonly workflowText?: string
  readonly workflowFileName: string
  /** `--set` overrides, passed to `run` */
  readonly sets: ReadonlyArray<string>
  /** polyquant's code: a local folder or a git URL; "" leaves it for the user to fill in */
  readonly source: string
  /** the profile's root instead of its default */
  readonly root?: string
}

export interface Notebook {
  readonly nbformat: 4
  readonly nbformat_minor: 5
  readonly metadata: Record<string, unknown>
  readonly cells: ReadonlyArray<Cell>
}
type Cell =
  | { readonly cell_type: "markdown"; readonly id: string; readonly metadata: Record<string, unknown>; readonly source: string[] }
  | { readonly cell_type: "code"; readonly id: string; readonly metadata: Record<string, unknown>; readonly source: string[]; readonly execution_count: null; readonly outputs: [] }

/** nbformat stores a cell's text as lines that keep their newline, the last without one. */
const lines = (text: string): string[] => {
  const parts = text.split("\n")
  return parts.map((l, i) => (i < parts.length - 1 ? `${l}\n` : l)).filter((l, i, all) => !(i === all.length - 1 && l === ""))
}
const markdown = (id: string, text: string): Cell => ({ cell_type: "markdown", id, metadata: {}, source: lines(text) })
const code = (id: string, text: string): Cell => ({ cell_type: "code", id, metadata: {}, source: lines(text), execution_count: null, outputs: [] })

/** A Python string literal (JSON's escapes are Python's). */
const py = (value: string): string => JSON.stringify(value)

export const buildNotebook = (input: NotebookInput): Notebook => {
  const p = profile(input.platform, input.root)
  const title = `# polyquant: ${input.workflowName} on ${input.platform === "local" ? "a local Jupyter" : input.platform === "colab" ? "Colab" : "Kaggle"}`
  const intro = [
    title,
    "",
    ...(input.workflowDescription ? [input.workflowDescription.trim(), ""] : []),
    "Run the cells in order (*Run all*). When the session dies (a Colab timeout, Kaggle's weekly quota), open the notebook again and *Run all*: the last cell",
    "resumes the unfinished run from the store — finished steps are not rerun, a long step continues from its last checkpoint.",
    "",
    `Where results live: ${p.storageNote}`,
    "",
    "Generated by `polyquant notebook`; edit the settings in the next cell."
  ].join("\n")

  const settings = [
    "# Settings: where polyquant's code comes from, where its results live, what it runs",
    ...p.prelude,
    "import os, sys",
    `PLATFORM = ${py(input.platform)}`,
    `POLYQUANT_SOURCE = os.environ.get("POLYQUANT_SOURCE", ${py(input.source)})  # a git URL of polyquant, or a folder holding it`,
    `ROOT = os.path.abspath(os.environ.get("POLYQUANT_NOTEBOOK_ROOT", ${py(p.root)}))  # outlives the session: store, artifacts, caches`,
    `CODE_DIR = ${py(p.codeDir)}  # where a git source is cloned`,
    `WORKFLOW_NAME = ${py(input.workflowName)}`,
    `SETS = ${JSON.stringify(input.sets)}  # --set overrides, e.g. "defaults.model.id=NousResearch/Llama-2-7b-hf"`,
    'STORE = os.path.join(ROOT, "polyquant.db")',
    "os.makedirs(ROOT, exist_ok=True)",
    ...(p.cachesUnderRoot
      ? [
          "# the fixtures and hub downloads are cached under ROOT too, so a new session does not fetch them again",
          'os.environ.setdefault("POLYQUANT_CACHE", os.path.join(ROOT, "cache"))',
          'os.environ.setdefault("HF_HOME", os.path.join(ROOT, "huggingface"))'
        ]
      : ["# the fixtures and hub downloads stay in their usual caches (~/.cache), which a local disk keeps"]),
    "# polyquant's kernels run in this notebook's Python, which has torch (and CUDA where there is a GPU)",
    'os.environ["POLYQUANT_PYTHON"] = sys.executable',
    'print(f"results in {ROOT}; Python {sys.version.split()[0]} at {sys.executable}")'
  ].join("\n")

  const node = [
    "# Node.js >= 20.19 runs polyquant's CLI",
    "import shutil, subprocess",
    "def node_version():",
    '    node = shutil.which("node")',
    "    if node is None:",
    "        return (0, 0)",
    '    text = subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip().lstrip("v")',
    '    major, minor = (text.split(".") + ["0", "0"])[:2]',
    "    return (int(major), int(minor))",
    "if node_version() < (20, 19):",
    ...(p.installNode
      ? [`    print("installing Node.js 20 (NodeSource)...")`, `    subprocess.run(${py(p.installNode)}, shell=True, check=True)`]
      : ['    raise RuntimeError("polyquant needs Node.js >= 20.19 on PATH: install it (https://nodejs.org) and run this cell again")']),
    'print("node", ".".join(map(str, node_version())))'
  ].join("\n")

  const install = [
    "# polyquant: cloned (or taken from a folder) and set up with this Python: Node packages, the TypeScript build",
    "import json",
    "if POLYQUANT_SOURCE and os.path.isdir(POLYQUANT_SOURCE):",
    "    POLYQUANT_HOME = os.path.abspath(POLYQUANT_SOURCE)",
    "elif POLYQUANT_SOURCE:",
    "    POLYQUANT_HOME = os.path.abspath(CODE_DIR)",
    '    if not os.path.isdir(os.path.join(POLYQUANT_HOME, ".git")):',
    '        subprocess.run(["git", "clone", "--depth", "1", POLYQUANT_SOURCE, POLYQUANT_HOME], check=True)',
    "else:",
    '    raise RuntimeError("set POLYQUANT_SOURCE in the settings cell: a git URL of polyquant, or a folder that holds it")',
    '# setup installs what is missing (npm packages, the build) and checks that this Python has torch and transformers',
    'subprocess.run(["node", "scripts/setup.mjs", "--quiet"], cwd=POLYQUANT_HOME, check=True)',
    "",
    "def polyquant(*args, capture=False):",
    '    """Run the polyquant CLI; its lines are printed as they come (or returned with capture=True)."""',
    '    cmd = ["node", os.path.join(POLYQUANT_HOME, "bin", "polyquant.js"), *args]',
    "    if capture:",
    "        done = subprocess.run(cmd, capture_output=True, text=True)",
    "        if done.returncode != 0:",
    '            raise RuntimeError(f"polyquant {args[0]} exited {done.returncode}: {done.stderr.strip()}")',
    "        return done.stdout",
    "    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)",
    "    for line in proc.stdout:",
    '        print(line, end="", flush=True)',
    "    return proc.wait()",
    "",
    'print(polyquant("--help", capture=True).splitlines()[0])'
  ].join("\n")

  const workflowFile =
    input.workflowInCheckout !== undefined
      ? [`WORKFLOW_FILE = os.path.join(POLYQUANT_HOME, ${py(input.workflowInCheckout)})  # from polyquant's checkout`]
      : [
          "# the workflow, written under ROOT (edit it here; a relative path in it is read from ROOT/workflows)",
          `WORKFLOW_YAML = ${py(input.workflowText ?? "")}`,
          `WORKFLOW_FILE = os.path.join(ROOT, "workflows", ${py(input.workflowFileName)})`,
          "os.makedirs(os.path.dirname(WORKFLOW_FILE), exist_ok=True)",
          'with open(WORKFLOW_FILE, "w", encoding="utf-8") as f:',
          "    f.write(WORKFLOW_YAML)"
        ]

  const runCell = [
    "# Run the workflow, or resume its unfinished run after a dead session",
    ...workflowFile,
    "def unfinished_run():",
    '    """The newest run of this workflow that did not finish: stopped, its session gone, or steps deferred by a budget."""',
    '    if not os.path.exists(STORE):',
    "        return None",
    '    for r in json.loads(polyquant("runs", "--json", "--limit", "100", "--store", STORE, capture=True)):',
    '        if r["workflow"] != WORKFLOW_NAME:',
    "            continue",
    '        owner = (r.get("owner") or {}).get("state")',
    '        if r["status"] == "interrupted" or (r["status"] == "running" and owner == "elsewhere") or r.get("deferred", 0) > 0:',
    "            return r",
    '        return None  # the newest run of this workflow finished: start a new one (finished steps come from the cache)',
    "    return None",
    "",
    "previous = unfinished_run()",
    "if previous is None:",
    '    code = polyquant("run", WORKFLOW_FILE, "--plain", "--store", STORE, *[a for s in SETS for a in ("--set", s)])',
    "else:",
    "    # a run whose VM is gone is recorded on that VM's host: take it over (no process there can still be running it)",
    '    takeover = ["--takeover"] if (previous.get("owner") or {}).get("state") == "elsewhere" else []',
    '    print(f"resuming run {previous[\'id\']} ({previous[\'status\']}, {previous[\'succeeded\']} steps done)")',
    '    code = polyquant("resume", previous["id"], "--plain", "--store", STORE, *takeover)',
    'RUN_ID = next(r["id"] for r in json.loads(polyquant("runs", "--json", "--limit", "100", "--store", STORE, capture=True)) if r["workflow"] == WORKFLOW_NAME)',
    "if code != 0:",
    '    raise RuntimeError(f"run {RUN_ID} ended with exit code {code}: run this cell again to resume it, or see polyquant show {RUN_ID} --store {STORE}")'
  ].join("\n")

  const report = [
    "# The report: tables and plots, one self-contained HTML file under ROOT/reports",
    "from IPython.display import HTML, Markdown, display",
    'REPORT_DIR = os.path.join(ROOT, "reports", RUN_ID)',
    'polyquant("report", RUN_ID, "--store", STORE, "--out", REPORT_DIR, "--html", capture=True)',
    'html_path = os.path.join(REPORT_DIR, "report.html")',
    "if os.path.exists(html_path):",
    '    display(HTML(open(html_path, encoding="utf-8").read()))',
    "else:",
    '    display(Markdown(open(os.path.join(REPORT_DIR, "report.md"), encoding="utf-8").read()))',
    'print(f"report: {html_path}; tidy results: polyquant(\\"export\\", RUN_ID, \\"--store\\", STORE) or polyquant.results.load(STORE)")'
  ].join("\n")

  return {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {
      kernelspec: { name: "python3", display_name: "Python 3", language: "python" },
      language_info: { name: "python" },
      ...(input.platform === "colab" ? { accelerator: "GPU", colab: { provenance: [] } } : {}),
      polyquant: { workflow: input.workflowName, platform: input.platform }
    },
    cells: [markdown("intro", intro), code("settings", settings), code("node", node), code("install", install), code("run", runCell), code("report", report)]
  }
}

/** The file's text: nbformat's JSON, one space of indent as Jupyter writes it. */
export const notebookText = (notebook: Notebook): string => JSON.stringify(notebook, null, 1) + "\n"

/** The seed workflows' notebooks (notebooks/<platform>/<workflow>.ipynb, `npm run notebooks`): each run from the clone. */
export const seedNotebook = (platform: "colab" | "kaggle", workflowFile: string, name: string, description: string | undefined): Notebook =>
  buildNotebook({
    platform,
    workflowName: name,
    ...(description !== undefined ? { workflowDescription: description } : {}),
    workflowInCheckout: workflowFile,
    workflowFileName: workflowFile.split("/").pop()!,
    sets: [],
    // the repository has no public URL to name here: the settings cell asks for it
    source: ""
  })
