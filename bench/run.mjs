#!/usr/bin/env node
/**
 * `npm run bench`: every benchmark of issue #8 side by side in one run, printed as ratios and
 * written to bench/RESULTS.md (machine, date, command, figures). Not part of `npm test`; the
 * figures depend on the machine and its load, the ratios much less.
 *
 *   node bench/run.mjs [--only cli,bridge,sweep,ppl,memory,gptq,ray] [--no-write]
 *
 * - cli:    `polyquant --help` and `validate` (median of 7), run with a POLYQUANT_PYTHON wrapper
 *           that leaves a marker if anything starts Python;
 * - bridge: a disparity step through `polyquant run` (engine-side durations of steps 2–9, warm
 *           worker, model resident) vs the same params through `polyquant.api.run_direct`;
 * - sweep:  bench/layer_sweep_cost.py (protect-one sweep vs one RTN pass + (G+2) evaluations, and
 *           vs the seed's reload per configuration);
 * - ppl:    bench/ppl_throughput.py (batched windows vs one at a time, same windows, NLL to 1e-5);
 * - memory: bench/sweep_memory.py (peak RSS of a sweep vs model + one evaluation's activations);
 * - gptq:   bench/gptq_layer.py (one 4096 × 11008 layer on CPU);
 * - ray:    bench/ray_sweep.py (the same protect-one sweep on 2 Ray actors against 1).
 */
import { execFile, execFileSync, spawn, spawnSync } from "node:child_process"
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs"
import { cpus, loadavg, totalmem, tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"

const exec = promisify(execFile)
const root = join(dirname(fileURLToPath(import.meta.url)), "..")
const bin = join(root, "bin", "polyquant.js")
const python = process.env.POLYQUANT_PYTHON ?? join(root, ".venv", "bin", "python")
const args = process.argv.slice(2)
const onlyArg = args.includes("--only") ? args[args.indexOf("--only") + 1] : undefined
const only = onlyArg ? new Set(onlyArg.split(",")) : undefined
const write = !args.includes("--no-write")
const wants = (name) => only === undefined || only.has(name)

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}
const fmt = (x, d = 2) => (typeof x === "number" ? x.toFixed(d) : String(x))
const lastJson = (stdout) => JSON.parse(stdout.trim().split("\n").filter((l) => l.startsWith("{")).at(-1))
const log = (line) => process.stdout.write(line + "\n")

/** Rows for the results table: [benchmark, figure, target, verdict]. */
const rows = []
const details = []
const record = (name, figure, target, ok, detail) => {
  rows.push([name, figure, target, ok === undefined ? "—" : ok ? "met" : "**not met**"])
  if (detail) details.push(`### ${name}\n\n${detail}\n`)
  log(`${name.padEnd(28)} ${figure}${target ? `   (target ${target}${ok === undefined ? "" : ok ? ": met" : ": NOT met"})` : ""}`)
}

// OpenMP threads that spin while they wait turn a loaded machine's contention into CPU time; both
// sides of every comparison run with passive waiting (set OMP_WAIT_POLICY to override)
process.env.OMP_WAIT_POLICY ??= "PASSIVE"
const startLoad = loadavg()
const started = new Date()
if (!existsSync(join(root, "dist", "cli", "main.js"))) execFileSync("npx", ["tsc", "-p", "tsconfig.json"], { cwd: root, stdio: "inherit" })
const work = mkdtempSync(join(tmpdir(), "polyquant-bench-"))

// ---------- CLI start-up ----------
if (wants("cli")) {
  const marker = join(work, "python-started")
  const wrapper = join(work, "python-wrapper.sh")
  writeFileSync(wrapper, `#!/bin/sh\ntouch '${marker}'\nexec '${python}' "$@"\n`)
  chmodSync(wrapper, 0o755)
  const gnuTime = existsSync("/usr/bin/time")
  const cpuMs = { help: [], validate: [] }
  const time = (cliArgs, key) => {
    const ms = []
    for (let i = 0; i < 8; i++) {
      const t0 = process.hrtime.bigint()
      const r = spawnSync("node", [bin, ...cliArgs], { cwd: root, env: { ...process.env, POLYQUANT_PYTHON: wrapper }, encoding: "utf8" })
      const t = Number(process.hrtime.bigint() - t0) / 1e6
      if (r.status !== 0) throw new Error(`polyquant ${cliArgs.join(" ")} exited ${r.status}: ${r.stderr}`)
      if (i > 0) ms.push(t) // the first run warms the file cache
      if (i > 0 && gnuTime) {
        // CPU time (user + system) of the same command: what the load of a shared machine does not inflate
        const c = spawnSync("/usr/bin/time", ["-f", "PQCPU %U %S", "node", bin, ...cliArgs], { cwd: root, env: { ...process.env, POLYQUANT_PYTHON: wrapper }, encoding: "utf8" })
        const m = c.stderr.match(/PQCPU ([\d.]+) ([\d.]+)/)
        if (m) cpuMs[key].push((Number(m[1]) + Number(m[2])) * 1000)
      }
    }
    return ms
  }
  const help = time(["--help"], "help")
  const validate = time(["validate", "workflows/quickstart.yaml"], "validate")
  if (gnuTime) {
    record("CLI start-up CPU: --help", `${fmt(median(cpuMs.help), 0)} ms CPU (user + system)`, undefined, undefined)
    record("CLI start-up CPU: validate", `${fmt(median(cpuMs.validate), 0)} ms CPU (user + system)`, undefined, undefined)
  }
  const pythonStarted = existsSync(marker)
  record("CLI start-up: --help", `${fmt(median(help), 0)} ms median of ${help.length}`, "< 300 ms", median(help) < 300 && !pythonStarted)
  record("CLI start-up: validate", `${fmt(median(validate), 0)} ms median of ${validate.length}`, "< 500 ms", median(validate) < 500 && !pythonStarted)
  record("CLI start-up: Python started", pythonStarted ? "yes" : "no", "no", !pythonStarted)
  details.push(`### CLI start-up\n\n\`node bin/polyquant.js --help\`: ${help.map((x) => fmt(x, 0)).join(", ")} ms; \`validate workflows/quickstart.yaml\`: ${validate.map((x) => fmt(x, 0)).join(", ")} ms (first run of each dropped). POLYQUANT_PYTHON pointed at a wrapper that leaves a marker: ${pythonStarted ? "it was started" : "never started"}.\n`)
}

// ---------- bridge overhead (also yields the resolved corpus for ppl) ----------
let corpusFile
if (wants("bridge") || wants("ppl")) {
  const store = join(work, "bridge.db")
  // run the CLI; at each step-started / step-finished line, sample the CPU time of the CLI and its Python worker
  // a process that cannot be read fails the bench: a 0 in its place once gave a sample of −17 370 ms
  const ticks = (pid) => {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /, "").split(" ")
    return (Number(f[11]) + Number(f[12])) * 10 // utime + stime, in ms at USER_HZ 100
  }
  const workerOf = (pid) => {
    for (const d of readdirSync("/proc").filter((x) => /^\d+$/.test(x))) {
      try {
        if (Number(readFileSync(`/proc/${d}/stat`, "utf8").replace(/^.*\) /, "").split(" ")[1]) === pid && readFileSync(`/proc/${d}/cmdline`, "utf8").includes("python")) return Number(d)
      } catch {}
    }
    return undefined
  }
  const cpuAt = {}
  let worker
  const stdout = await new Promise((resolve, reject) => {
    const child = spawn("node", [bin, "run", join(root, "bench", "workflows", "bridge.yaml"), "--json", "--no-report", "--store", store], { cwd: root, stdio: ["ignore", "pipe", "pipe"] })
    let out = ""
    let err = ""
    let seen = 0
    child.stdout.on("data", (chunk) => {
      out += chunk.toString()
      const lines = out.split("\n")
      for (; seen < lines.length - 1; seen++) {
        const line = lines[seen]
        if (!line.startsWith("{")) continue
        const e = JSON.parse(line)
        if (e.type === "step-started" || e.type === "step-finished") {
          // the one Python worker, found at the first step and the same process at every sample after
          const w = workerOf(child.pid)
          if (w === undefined) throw new Error(`bench bridge: no Python worker under the CLI (pid ${child.pid}) at ${e.type} ${e.stepId}`)
          worker ??= w
          if (w !== worker) throw new Error(`bench bridge: the Python worker changed from pid ${worker} to ${w} at ${e.type} ${e.stepId}: the CPU samples would not add up`)
          cpuAt[`${e.type}:${e.stepId}`] = ticks(child.pid) + ticks(worker)
        }
      }
    })
    child.stderr.on("data", (c) => (err += c.toString()))
    child.on("exit", (code) => (code === 0 ? resolve(out) : reject(new Error(`bench bridge run failed (${code}): ${err}\n${out.slice(-3000)}`))))
  })
  const events = stdout.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l))
  const BRIDGE_STEPS = Array.from({ length: 9 }, (_, i) => `d${i}`) // bench/workflows/bridge.yaml
  const runId = events.find((e) => e.type === "run-started").runId
  const engineMs = BRIDGE_STEPS.map((id) => events.find((e) => e.type === "step-finished" && e.stepId === id).durationMs)
  const engineCpuMs = BRIDGE_STEPS.map((id) => cpuAt[`step-finished:${id}`] - cpuAt[`step-started:${id}`])
  // sanity: CPU time only grows; a missing or negative sample means the counters are unsound
  for (const [i, ms] of engineCpuMs.entries()) {
    if (!Number.isFinite(ms) || ms < 0) throw new Error(`bench bridge: CPU sample of step ${BRIDGE_STEPS[i]} is ${ms} ms (samples ${JSON.stringify(cpuAt)})`)
  }
  const { RunStore } = await import(join(root, "dist", "store", "RunStore.js"))
  const db = RunStore.open(store)
  const params = BRIDGE_STEPS.map((id) => db.attempts(runId, id).at(-1).params)
  db.close()
  const paramsFile = join(work, "bridge-params.json")
  writeFileSync(paramsFile, JSON.stringify(params))
  corpusFile = join(work, "corpus.json")
  writeFileSync(corpusFile, JSON.stringify(params[0].corpus))
  if (wants("bridge")) {
    const directOut = lastJson((await exec(python, [join(root, "bench", "bridge_direct.py"), "disparity", paramsFile], { cwd: root, maxBuffer: 64 * 2 ** 20 })).stdout)
    const direct = directOut.seconds.map((s) => s * 1000)
    const directCpu = directOut.cpu_seconds.map((s) => s * 1000)
    const ratio = median(engineMs.slice(1)) / median(direct.slice(1))
    const cpuRatio = median(engineCpuMs.slice(1)) / median(directCpu.slice(1))
    record("bridge overhead (CPU)", `${fmt(cpuRatio, 3)} (CLI + worker ${engineCpuMs.slice(1).map((x) => fmt(x, 0)).join(", ")} ms vs plain Python ${directCpu.slice(1).map((x) => fmt(x, 0)).join(", ")} ms)`, "≤ 1.05", cpuRatio <= 1.05)
    record("bridge overhead (wall)", `${fmt(ratio, 3)} (engine ${engineMs.slice(1).map((x) => fmt(x, 0)).join(", ")} ms vs plain Python ${direct.slice(1).map((x) => fmt(x, 0)).join(", ")} ms)`, "≤ 1.05", ratio <= 1.05)
    details.push(`### Bridge overhead\n\n\`polyquant run bench/workflows/bridge.yaml\` (nine disparity steps on fixture:tiny-llama, en he ar zh, RTN 4-bit g32, bootstrap 1000, differing only in the bootstrap seed): engine-side step durations ${engineMs.map((x) => fmt(x, 0)).join(", ")} ms, CPU time of the CLI and its worker over each step ${engineCpuMs.map((x) => fmt(x, 0)).join(", ")} ms; the same params (read back from the store) through \`polyquant.api.run_direct\` in a plain Python process: ${direct.map((x) => fmt(x, 0)).join(", ")} ms wall, ${directCpu.map((x) => fmt(x, 0)).join(", ")} ms CPU. The first step of each loads the model; the ratios compare the medians of steps 2–9. On a loaded shared machine the wall ratio moves with the load; the CPU ratio is the steadier figure.\n`)
  }
}

// ---------- sweep efficiency ----------
if (wants("sweep")) {
  const { stdout } = await exec(python, [join(root, "bench", "layer_sweep_cost.py")], { cwd: root, maxBuffer: 16 * 2 ** 20 })
  const grab = (re) => Number(stdout.match(re)?.[1])
  const ratio = grab(/sweep \/ \(T_quant \+ \(G\+2\)·T_eval\) = ([\d.]+)/)
  const speedup = grab(/G seed-style configurations \/ sweep = ([\d.]+)/)
  record("sweep efficiency", `${fmt(ratio)} × (one RTN pass + (G+2) evaluations)`, "≤ 1.15", ratio <= 1.15)
  record("sweep vs seed template (20 MiB smoke model)", `${fmt(speedup)}× faster than reloading per configuration`, undefined, undefined)
  details.push(`### Sweep efficiency\n\n\`.venv/bin/python bench/layer_sweep_cost.py\` (defaults):\n\n\`\`\`\n${stdout.trim()}\n\`\`\`\n`)
  // the seed's template at 7B-like scale: 4 of Llama-2-7B's blocks (4 GiB of safetensors reloaded
  // per configuration), the template's one sentence a language; ~150 s and ~18 GiB peak RSS
  const big = ["--llama2-shaped", "4096x4", "--texts", "seed", "--threads", "2", "--repeats", "1"]
  const bigOut = (await exec(python, [join(root, "bench", "layer_sweep_cost.py"), ...big], { cwd: root, maxBuffer: 16 * 2 ** 20 })).stdout
  const bigSpeedup = Number(bigOut.match(/G seed-style configurations \/ sweep = ([\d.]+)/)?.[1])
  const projected = Number(bigOut.match(/seed-style \/ sweep ~ ([\d.]+)/)?.[1])
  if (!Number.isFinite(bigSpeedup) || !Number.isFinite(projected)) throw new Error(`bench sweep: layer_sweep_cost.py ${big.join(" ")} printed no speed-up:\n${bigOut}`)
  record("sweep vs seed template (4 of Llama-2-7B's blocks, CPU)", `${fmt(bigSpeedup)}× faster than reloading per configuration (32 blocks, projected from the same run: ${fmt(projected, 1)}×)`, "≥ 10×", bigSpeedup >= 10)
  details.push(`### Sweep against the seed's template at 7B-like scale\n\n\`.venv/bin/python bench/layer_sweep_cost.py ${big.join(" ")}\`:\n\n\`\`\`\n${bigOut.trim()}\n\`\`\`\n\nOn two CPU cores the seed-style configuration's cost is its RTN pass (10 s of 15 s), not the reload (4 GiB from the page cache in ~1 s); an evaluation of four sentences costs 3.5 s, so the speed-up tends to (reload + quantize + evaluate) / evaluate ≈ 4 at best, and the sweep's own per-configuration overhead (1.5× its target here) keeps it lower. On a GPU the evaluation is milliseconds and the reload of a 13 GB checkpoint from a Kaggle disk tens of seconds; no GPU was lent for this run.\n`)
}

// ---------- perplexity throughput ----------
if (wants("ppl")) {
  // a random 168 M Llama with Llama-2's 32k tokenizer (bench_model.saved_llama2_shaped): on the
  // 0.5 M fixture the timing was all call overhead and padding and said nothing about real models
  const shape = ["--llama2-shaped", "1024x8", "--repeat", "2"]
  const out = lastJson((await exec(python, [join(root, "bench", "ppl_throughput.py"), corpusFile, ...shape], { cwd: root, maxBuffer: 16 * 2 ** 20 })).stdout)
  record(`perplexity throughput (${out.model.replace(/ \(.*/, "")}, CPU)`, `${fmt(out.speedup)}× (batched ${fmt(out.batched_s, 2)} s vs one at a time ${fmt(out.seed_s, 2)} s)`, "≥ 3×", out.speedup >= 3)
  record("perplexity agreement", `max relative NLL difference ${out.max_rel_nll_diff.toExponential(2)}`, "≤ 1e-5", out.max_rel_nll_diff <= 1e-5)
  details.push(`### Perplexity throughput\n\n\`.venv/bin/python bench/ppl_throughput.py <the UDHR held-out corpus of the bridge run> ${shape.join(" ")}\`: ${out.model}, ${out.languages.join(" ")}, ${out.windows} windows, ${out.tokens} tokens, batch ${out.batch_size}; best of 2. PPL (random weights): ${Object.entries(out.ppl).map(([l, p]) => `${l} ${fmt(p, 1)}`).join(", ")}.\n\nWhy the CPU figure is far from 3×: on two CPU cores a forward pass is compute-bound from a few dozen tokens on, so a padded position costs as much as a real one and a batch saves only the weights' re-reads and the per-call overhead (a 5 × 170-token batch without padding costs 1.6 ms a token against 2.4 ms one window at a time: 1.5× is the ceiling here). UDHR gives five documents of 27–138 tokens a language; batches are length-sorted and may hold at most 25% padding or 64 padded positions (before, a language's five documents went in one batch, 45% padding, 0.53×). The exact NLL (float64 sums over the 32k vocabulary) costs ~10% of the forward pass here, against PyTorch's float32 cross-entropy in the seed's ppl(). On a GPU, where a batch's rows run in parallel, batching is where the speed-up comes from; no GPU was lent for this run.\n`)
}

// ---------- memory ----------
if (wants("memory")) {
  // The shape: loading the model and a first evaluation leave 10–45 MiB resident whatever the
  // sweep does (library pages, heap the allocator keeps); next to the 14 MiB model of
  // --hidden 256 --layers 4 that residue, not the sweep, set the ratio. Next to 835 MiB it is ~5%.
  const shape = ["--hidden", "1024", "--layers", "16"]
  const out = lastJson((await exec(python, [join(root, "bench", "sweep_memory.py"), ...shape], { cwd: root })).stdout)
  record("memory: sweep peak RSS", `${fmt(out.ratio)} × (model + activations); ${fmt(out.peak_over_model)} × model`, "≤ 1.3", out.ratio <= 1.3)
  details.push(`### Memory\n\n\`.venv/bin/python bench/sweep_memory.py ${shape.join(" ")}\`: model ${fmt(out.model_mib, 1)} MiB, RSS before loading ${fmt(out.rss0_mib, 1)} MiB, loaded ${fmt(out.rss_loaded_mib, 1)} MiB, one evaluation's extra peak ${fmt(out.activations_mib, 1)} MiB, peak during the protect-one sweep (${out.configurations} configurations) ${fmt(out.peak_mib, 1)} MiB. Ratio = (peak − RSS before loading) / (model + activations).\n`)
}

// ---------- GPTQ ----------
if (wants("gptq")) {
  const { stdout } = await exec(python, [join(root, "bench", "gptq_layer.py"), "--devices", "cpu"], { cwd: root, maxBuffer: 16 * 2 ** 20 })
  const line = stdout.split("\n").find((l) => /^cpu/.test(l))
  const cols = line?.trim().split(/\s{2,}|\s+(?=[\d.]+$)/) ?? []
  const nums = (line ?? "").match(/[\d.]+(?:e[-+]?\d+)?/g)?.map(Number) ?? []
  const [hS, gptqS, rtnS] = nums.slice(-5)
  record("GPTQ 4096 × 11008 layer (CPU)", `${fmt(gptqS, 1)} s per layer (Hessian ${fmt(hS, 1)} s, RTN ${fmt(rtnS, 3)} s)`, undefined, undefined)
  // the same layer and Hessian through the reference fasterquant (IST-DASLab/gptq), in the same process
  const ref = stdout.match(/reference cpu\s+GPTQ ([\d.]+) s, reference fasterquant ([\d.]+) s: time ([\d.]+) at error ([\d.]+)/)
  if (ref === null) throw new Error(`bench gptq: bench/gptq_layer.py printed no reference line:\n${stdout}`)
  const [timeRatio, errRatio] = [Number(ref[3]), Number(ref[4])]
  record("GPTQ vs reference fasterquant (CPU, same layer and Hessian)", `${fmt(timeRatio, 3)}× its time (${ref[1]} s vs ${ref[2]} s) at ${fmt(errRatio, 4)}× its output error`, "≤ 1.0× time at ≤ 1.0× error", timeRatio <= 1.0 && errRatio <= 1.0 + 1e-6)
  details.push(`### GPTQ\n\n\`.venv/bin/python bench/gptq_layer.py --devices cpu\`:\n\n\`\`\`\n${stdout.trim()}\n\`\`\`\n${cols.length ? "" : ""}`)
}

// ---------- Ray: the same sweep on 2 actors against 1 ----------
if (wants("ray")) {
  const shape = ["--hidden", "256", "--layers", "16", "--threads", "1"]
  const { stdout } = await exec(python, [join(root, "bench", "ray_sweep.py"), ...shape], { cwd: root, maxBuffer: 16 * 2 ** 20 })
  const out = lastJson(stdout)
  if (!out.equal) throw new Error(`bench ray: the 2-actor sweep's outputs differ from the 1-actor sweep's:\n${stdout}`)
  record(
    `Ray: protect-one sweep, ${out.actors} actors vs 1 (CPU)`,
    `${fmt(out.speedup)}× faster (${fmt(out.one_s, 1)} s vs ${fmt(out.many_s, 1)} s, ${out.configurations} configurations, outputs equal)${out.ceiling ? `; this machine's ceiling for two processes at once, measured in the same run: ${fmt(out.ceiling)}×` : ""}`,
    "≥ 1.7×",
    out.speedup >= 1.7
  )
  details.push(`### Ray scale-out\n\n\`.venv/bin/python bench/ray_sweep.py ${shape.join(" ")}\` (one local Ray; each actor one torch thread; model loading and the quantization pass inside the timing, Ray's start-up outside):\n\n\`\`\`\n${stdout.trim()}\n\`\`\`\n`)
}

// ---------- RESULTS.md ----------
const cpu = cpus()
const md = [
  "# Benchmark results",
  "",
  `Written by \`npm run bench\` (\`node bench/run.mjs${args.length ? " " + args.join(" ") : ""}\`) on ${started.toISOString()}.`,
  "",
  `Machine: ${cpu.length} cores (${cpu[0]?.model ?? "unknown CPU"}), ${fmt(totalmem() / 2 ** 30, 1)} GiB memory, load average at start ${startLoad.map((x) => fmt(x)).join(" ")}, Node ${process.version}, ${process.platform}, OMP_WAIT_POLICY=${process.env.OMP_WAIT_POLICY}. The machine is shared: timings move with its load, ratios less.`,
  "",
  "| benchmark | figure | target | |",
  "|---|---|---|---|",
  ...rows.map((r) => `| ${r.join(" | ")} |`),
  "",
  "GPU figures (GPTQ per layer on CUDA, every kernel on CUDA against this CPU build) come from a lent GPU machine, recorded by hand in [CUDA.md](CUDA.md).",
  "",
  "## Details",
  "",
  ...details
].join("\n")
if (write) writeFileSync(join(root, "bench", "RESULTS.md"), md + "\n")
log(write ? `\nwrote bench/RESULTS.md` : "")
