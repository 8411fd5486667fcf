/**
 * The run store: one SQLite file (better-sqlite3, WAL) holding runs, steps, attempts, branch
 * decisions, checkpoints, the budget ledger, the RunEvent log, the step cache and model
 * fingerprints. Synchronous by design (better-sqlite3 is); the Effect service in Store.ts wraps
 * it. Every multi-row change is one transaction, so a kill at any moment leaves either the old
 * or the new state, never half of it; WAL plus a busy timeout lets two runs share one store.
 */
import { createHash } from "node:crypto"
import Database from "better-sqlite3"
import { mkdirSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import type { BudgetState, KernelError, RunEvent, RunStatus, StepStatus } from "../engine/events.js"
import type { BudgetSpec, Plan } from "../plan/types.js"
import { hours, windowStart, type BudgetWindow } from "./budget.js"
import { RunNotFoundError, StoreOpenError } from "./errors.js"
import { resumeRefusal, runLiveness, systemProbe, type ProcessProbe, type RunOwner } from "./liveness.js"
import { migrations } from "./migrations.js"

/** Where the store lives unless `--store` moves it. */
export const DEFAULT_STORE_PATH = join(".polyquant", "polyquant.db")

/** How long a writer waits for another process's transaction before failing (ms). */
const BUSY_TIMEOUT_MS = 15_000

export interface RunRecord {
  readonly id: string
  readonly workflow: string
  readonly file: string
  readonly digest: string
  readonly plan: Plan
  readonly options: RunOptionsRecord
  readonly platform: string
  readonly status: RunStatus
  readonly createdAt: number
  readonly updatedAt: number
  readonly finishedAt: number | null
  /** the process that runs it, or last ran it (null for runs stored before owners were); see liveness.ts */
  readonly owner: RunOwner | null
}

/** What a run was started with, so that `resume` can continue it the same way. */
export interface RunOptionsRecord {
  readonly sets: ReadonlyArray<string>
  readonly force: boolean
}

export interface StepRecord {
  readonly runId: string
  readonly stepId: string
  readonly uses: string
  readonly status: StepStatus
  readonly attempts: number
  readonly cacheKey: string | null
  readonly keyParts: CacheKeyParts | null
  readonly outputs: unknown
  readonly error: KernelError | null
  readonly reason: string | null
  readonly startedAt: number | null
  readonly finishedAt: number | null
  readonly durationMs: number | null
}

/** The parts a cache key hashes (see src/engine/prepare.ts); `explain` prints them. */
export interface CacheKeyParts {
  readonly kernel: string
  readonly version: string
  readonly params: unknown
  readonly models: Readonly<Record<string, string>>
  readonly corpora: Readonly<Record<string, string>>
  readonly upstream: Readonly<Record<string, string>>
  /** data files named in `with` (kernel `files` paths): absolute path → sha256 of the content */
  readonly files?: Readonly<Record<string, string>>
  /** versions of the libraries that compute results (torch, transformers), from the worker */
  readonly libraries?: Readonly<Record<string, string | null>>
}

export interface CacheEntry {
  readonly key: string
  readonly kernel: string
  readonly version: string
  readonly outputs: unknown
  readonly parts: CacheKeyParts
  readonly runId: string
  readonly stepId: string
  readonly durationMs: number
  readonly createdAt: number
}

export interface BranchRecord {
  readonly stepId: string
  readonly expression: string
  readonly result: boolean
  readonly values: Record<string, unknown>
  readonly t: number
}

export interface LedgerEntry {
  readonly platform: string
  readonly window?: BudgetWindow
  readonly seconds: number
  readonly runId?: string
  readonly stepId?: string
  readonly t: number
}

export interface BudgetRemaining extends BudgetState {
  readonly remainingHours: number
}

const json = (value: unknown): string | null => (value === undefined ? null : JSON.stringify(value))
const parse = <A>(text: string | null | undefined): A | null => (text === null || text === undefined ? null : (JSON.parse(text) as A))

interface RunRow {
  id: string
  workflow: string
  file: string
  digest: string
  plan_json: string
  options_json: string
  platform: string
  status: string
  created_at: number
  updated_at: number
  finished_at: number | null
  owner_pid: number | null
  owner_host: string | null
  owner_start: string | null
}

interface StepRow {
  run_id: string
  step_id: string
  uses: string
  status: string
  attempts: number
  cache_key: string | null
  key_parts_json: string | null
  outputs_json: string | null
  error_json: string | null
  reason: string | null
  started_at: number | null
  finished_at: number | null
  duration_ms: number | null
}

const toRun = (r: RunRow): RunRecord => ({
  id: r.id,
  workflow: r.workflow,
  file: r.file,
  digest: r.digest,
  plan: JSON.parse(r.plan_json) as Plan,
  options: JSON.parse(r.options_json) as RunOptionsRecord,
  platform: r.platform,
  status: r.status as RunStatus,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
  finishedAt: r.finished_at,
  owner: r.owner_pid === null || r.owner_host === null ? null : { pid: r.owner_pid, host: r.owner_host, start: r.owner_start }
})

const toStep = (r: StepRow): StepRecord => ({
  runId: r.run_id,
  stepId: r.step_id,
  uses: r.uses,
  status: r.status as StepStatus,
  attempts: r.attempts,
  cacheKey: r.cache_key,
  keyParts: parse<CacheKeyParts>(r.key_parts_json),
  outputs: parse<unknown>(r.outputs_json) ?? undefined,
  error: parse<KernelError>(r.error_json),
  reason: r.reason,
  startedAt: r.started_at,
  finishedAt: r.finished_at,
  durationMs: r.duration_ms
})

export class RunStore {
  readonly path: string
  /** the folder that holds the database, `artifacts/` and `runs/` */
  readonly root: string
  private readonly db: Database.Database

  private constructor(path: string, db: Database.Database) {
    this.path = path
    this.root = dirname(path)
    this.db = db
  }

  /** Open (creating if needed) the store at `path` and bring its schema up to date. */
  static open(path: string = DEFAULT_STORE_PATH): RunStore {
    const absolute = resolve(path)
    let db: Database.Database
    try {
      mkdirSync(dirname(absolute), { recursive: true })
      db = new Database(absolute, { timeout: BUSY_TIMEOUT_MS })
      db.pragma("journal_mode = WAL")
      db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`)
      db.pragma("synchronous = NORMAL") // with WAL: a process crash loses nothing committed
      db.pragma("foreign_keys = ON")
    } catch (error) {
      const e = error as NodeJS.ErrnoException
      const reason =
        e.code === "EACCES" || e.code === "EROFS" || e.code === "EPERM"
          ? `the folder is not writable (${e.code})`
          : e.code === "ENOTDIR" || e.code === "EEXIST"
            ? "a part of the path is a file, not a folder"
            : e.message
      throw new StoreOpenError({ path: absolute, reason })
    }
    const store = new RunStore(absolute, db)
    try {
      store.migrate()
    } catch (error) {
      db.close()
      throw new StoreOpenError({ path: absolute, reason: (error as Error).message })
    }
    return store
  }

  /** The schema version this store is at (the number of applied migrations). */
  get schemaVersion(): number {
    return this.db.pragma("user_version", { simple: true }) as number
  }

  private migrate(): void {
    // BEGIN IMMEDIATE: two processes opening a fresh store at once migrate one after the other.
    const step = this.db.transaction((index: number, sql: string) => {
      if ((this.db.pragma("user_version", { simple: true }) as number) !== index) return
      this.db.exec(sql)
      this.db.pragma(`user_version = ${index + 1}`)
    })
    migrations.forEach((sql, index) => {
      if (this.schemaVersion <= index) step.immediate(index, sql)
    })
  }

  close(): void {
    if (this.db.open) this.db.close()
  }

  /** Per-run working files: `<root>/runs/<run>/`. */
  runDir(runId: string): string {
    return join(this.root, "runs", runId)
  }

  /** Content-addressed files: `<root>/artifacts/`. */
  get artifactsDir(): string {
    return join(this.root, "artifacts")
  }

  // ---- runs ----

  /** A new run, `running` under `owner` (the engine passes its own process; see liveness.ts). */
  createRun(run: { id: string; plan: Plan; options: RunOptionsRecord; platform: string; now: number; owner?: RunOwner }): void {
    const insertRun = this.db.prepare(
      `INSERT INTO runs (id, workflow, file, digest, plan_json, options_json, platform, status, created_at, updated_at, owner_pid, owner_host, owner_start)
       VALUES (?, ?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?, ?)`
    )
    const insertStep = this.db.prepare(`INSERT INTO steps (run_id, step_id, uses, status) VALUES (?, ?, ?, 'pending')`)
    this.db.transaction(() => {
      insertRun.run(run.id, run.plan.workflow.name, run.plan.workflow.file, run.plan.workflow.digest, JSON.stringify(run.plan), JSON.stringify(run.options), run.platform, run.now, run.now, run.owner?.pid ?? null, run.owner?.host ?? null, run.owner?.start ?? null)
      for (const step of run.plan.steps) insertStep.run(run.id, step.id, step.uses)
    })()
  }

  setRunStatus(runId: string, status: RunStatus, now: number): void {
    this.db
      .prepare(`UPDATE runs SET status = ?, updated_at = ?, finished_at = CASE WHEN ? = 'running' THEN NULL ELSE ? END WHERE id = ?`)
      .run(status, now, status, now, runId)
  }

  /**
   * Take a stored run over for `resume`: set it running under `owner`. One IMMEDIATE transaction
   * reads the recorded owner and writes the new one, so of two processes resuming one run at once
   * the second sees the first as a live owner. Throws RunBusyError (changing nothing) while the
   * run is stored as running and its owner is alive on this host, or is on another host and
   * `takeover` is not set; RunNotFoundError when there is no such run.
   */
  claimRun(runId: string, owner: RunOwner, now: number, options: { readonly takeover?: boolean; readonly probe?: ProcessProbe } = {}): void {
    this.db
      .transaction(() => {
        const run = this.getRun(runId)
        if (run === undefined) throw new RunNotFoundError({ runId, known: this.listRuns(5).map((r) => r.id) })
        const refusal = resumeRefusal(runId, runLiveness(run, this.lastActivity(runId), { probe: options.probe ?? systemProbe, now }), options)
        if (refusal !== undefined) throw refusal
        this.db
          .prepare(`UPDATE runs SET status = 'running', updated_at = ?, finished_at = NULL, owner_pid = ?, owner_host = ?, owner_start = ? WHERE id = ?`)
          .run(now, owner.pid, owner.host, owner.start, runId)
      })
      .immediate()
  }

  /** When a run last wrote anything (epoch ms): its latest event, or its row's last update if later. */
  lastActivity(runId: string): number {
    const row = this.db
      .prepare(`SELECT MAX(r.updated_at, COALESCE((SELECT t FROM events WHERE run_id = r.id ORDER BY id DESC LIMIT 1), 0)) AS t FROM runs r WHERE r.id = ?`)
      .get(runId) as { t: number } | undefined
    return row?.t ?? 0
  }

  getRun(runId: string): RunRecord | undefined {
    const row = this.db.prepare(`SELECT * FROM runs WHERE id = ?`).get(runId) as RunRow | undefined
    return row ? toRun(row) : undefined
  }

  /**
   * A run by id, or by a unique prefix of its id; throws RunNotFoundError naming recent runs, or,
   * for a prefix that several runs share, naming those runs (newest first, at most 10).
   */
  requireRun(runId: string): RunRecord {
    const exact = this.getRun(runId)
    if (exact) return exact
    const ids =
      runId === ""
        ? []
        : (this.db.prepare(`SELECT id FROM runs WHERE substr(id, 1, ?) = ? ORDER BY created_at DESC, id DESC LIMIT 11`).all(runId.length, runId) as Array<{ id: string }>).map((r) => r.id)
    const only = ids.length === 1 && ids[0] !== undefined ? this.getRun(ids[0]) : undefined
    if (only) return only
    if (ids.length > 1) throw new RunNotFoundError({ runId, known: ids.slice(0, 10), ambiguous: ids.length > 10 ? "more" : ids.length })
    throw new RunNotFoundError({ runId, known: this.listRuns(5).map((r) => r.id) })
  }

  listRuns(limit = 50): RunRecord[] {
    return (this.db.prepare(`SELECT * FROM runs ORDER BY created_at DESC, id DESC LIMIT ?`).all(limit) as RunRow[]).map(toRun)
  }

  // ---- steps and attempts ----

  getSteps(runId: string): StepRecord[] {
    return (this.db.prepare(`SELECT * FROM steps WHERE run_id = ? ORDER BY rowid`).all(runId) as StepRow[]).map(toStep)
  }

  getStep(runId: string, stepId: string): StepRecord | undefined {
    const row = this.db.prepare(`SELECT * FROM steps WHERE run_id = ? AND step_id = ?`).get(runId, stepId) as StepRow | undefined
    return row ? toStep(row) : undefined
  }

  /** Make sure a step row exists (a resumed run whose plan gained nothing keeps its rows). */
  ensureStep(runId: string, stepId: string, uses: string): void {
    this.db.prepare(`INSERT OR IGNORE INTO steps (run_id, step_id, uses, status) VALUES (?, ?, ?, 'pending')`).run(runId, stepId, uses)
  }

  stepStarted(runId: string, stepId: string, attempt: number, params: unknown, now: number): void {
    this.db.transaction(() => {
      this.db
        .prepare(`UPDATE steps SET status = 'running', attempts = ?, started_at = COALESCE(started_at, ?), error_json = NULL, reason = NULL WHERE run_id = ? AND step_id = ?`)
        .run(attempt, now, runId, stepId)
      this.db
        .prepare(`INSERT OR REPLACE INTO attempts (run_id, step_id, attempt, status, params_json, started_at) VALUES (?, ?, ?, 'running', ?, ?)`)
        .run(runId, stepId, attempt, json(params), now)
    })()
  }

  attemptFinished(runId: string, stepId: string, attempt: number, status: StepStatus, error: KernelError | undefined, now: number): void {
    this.db
      .prepare(`UPDATE attempts SET status = ?, error_json = ?, finished_at = ? WHERE run_id = ? AND step_id = ? AND attempt = ?`)
      .run(status, json(error), now, runId, stepId, attempt)
  }

  /** A step's final state; with `cache`, the outputs also enter the cache, in the same transaction. */
  stepFinished(
    runId: string,
    stepId: string,
    fields: {
      status: StepStatus
      now: number
      durationMs: number
      outputs?: unknown
      error?: KernelError
      reason?: string
      cacheKey?: string
      keyParts?: CacheKeyParts
      cache?: { kernel: string; version: string }
    }
  ): void {
    this.db.transaction(() => {
      this.db
        .prepare(
          `UPDATE steps SET status = ?, outputs_json = ?, error_json = ?, reason = ?, cache_key = COALESCE(?, cache_key),
           key_parts_json = COALESCE(?, key_parts_json), finished_at = ?, duration_ms = ? WHERE run_id = ? AND step_id = ?`
        )
        .run(fields.status, json(fields.outputs), json(fields.error), fields.reason ?? null, fields.cacheKey ?? null, json(fields.keyParts), fields.now, fields.durationMs, runId, stepId)
      if (fields.cache && fields.cacheKey && fields.keyParts && fields.outputs !== undefined) {
        this.db
          .prepare(
            `INSERT OR REPLACE INTO cache (key, kernel, version, outputs_json, parts_json, run_id, step_id, duration_ms, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`
          )
          .run(fields.cacheKey, fields.cache.kernel, fields.cache.version, JSON.stringify(fields.outputs), JSON.stringify(fields.keyParts), runId, stepId, fields.durationMs, fields.now)
      }
    })()
  }

  /** Record the key of a step before it runs, so `explain` works for failed and interrupted steps too. */
  setStepKey(runId: string, stepId: string, cacheKey: string, keyParts: CacheKeyParts): void {
    this.db.prepare(`UPDATE steps SET cache_key = ?, key_parts_json = ? WHERE run_id = ? AND step_id = ?`).run(cacheKey, JSON.stringify(keyParts), runId, stepId)
  }

  attempts(runId: string, stepId: string): Array<{ attempt: number; status: StepStatus; params: unknown; error: KernelError | null; startedAt: number; finishedAt: number | null }> {
    const rows = this.db
      .prepare(`SELECT * FROM attempts WHERE run_id = ? AND step_id = ? ORDER BY attempt`)
      .all(runId, stepId) as Array<{ attempt: number; status: string; params_json: string | null; error_json: string | null; started_at: number; finished_at: number | null }>
    return rows.map((r) => ({
      attempt: r.attempt,
      status: r.status as StepStatus,
      params: parse<unknown>(r.params_json),
      error: parse<KernelError>(r.error_json),
      startedAt: r.started_at,
      finishedAt: r.finished_at
    }))
  }

  /**
   * Mean measured duration (seconds) of earlier successful runs of a kernel, preferring steps
   * on the same model: the engine's estimate when a step gives none.
   */
  measuredSeconds(kernel: string, modelId?: string): number | undefined {
    const rows = this.db
      .prepare(`SELECT duration_ms, parts_json FROM cache WHERE kernel = ? ORDER BY created_at DESC LIMIT 50`)
      .all(kernel) as Array<{ duration_ms: number; parts_json: string }>
    if (rows.length === 0) return undefined
    const same = modelId === undefined ? [] : rows.filter((r) => Object.values((JSON.parse(r.parts_json) as CacheKeyParts).models).some((m) => m.startsWith(`${modelId}@`) || m === modelId))
    const chosen = same.length > 0 ? same : rows
    return chosen.reduce((s, r) => s + r.duration_ms, 0) / chosen.length / 1000
  }

  // ---- branches ----

  recordBranch(runId: string, branch: BranchRecord): void {
    this.db
      .prepare(`INSERT INTO branches (run_id, step_id, expression, result, values_json, t) VALUES (?, ?, ?, ?, ?, ?)`)
      .run(runId, branch.stepId, branch.expression, branch.result ? 1 : 0, JSON.stringify(branch.values), branch.t)
  }

  branches(runId: string): BranchRecord[] {
    const rows = this.db.prepare(`SELECT * FROM branches WHERE run_id = ? ORDER BY id`).all(runId) as Array<{ step_id: string; expression: string; result: number; values_json: string; t: number }>
    return rows.map((r) => ({ stepId: r.step_id, expression: r.expression, result: r.result === 1, values: JSON.parse(r.values_json) as Record<string, unknown>, t: r.t }))
  }

  // ---- checkpoints ----

  /** Store a step's checkpoint (a kernel's JSON state) with its sha256. */
  saveCheckpoint(runId: string, stepId: string, data: Buffer, now: number): void {
    const digest = createHash("sha256").update(data).digest("hex")
    this.db.prepare(`INSERT OR REPLACE INTO checkpoints (run_id, step_id, data, t, sha256) VALUES (?, ?, ?, ?, ?)`).run(runId, stepId, data, now, digest)
  }

  /**
   * A step's stored checkpoint: its bytes, or why they cannot be trusted (the sha256 written with
   * them does not match, or they are not JSON) — a corrupt checkpoint is never handed to a kernel.
   */
  getCheckpoint(runId: string, stepId: string): { readonly data: Buffer } | { readonly corrupt: string } | undefined {
    const row = this.db.prepare(`SELECT data, sha256 FROM checkpoints WHERE run_id = ? AND step_id = ?`).get(runId, stepId) as { data: Buffer; sha256: string | null } | undefined
    if (row === undefined) return undefined
    const data = Buffer.isBuffer(row.data) ? row.data : Buffer.from(String(row.data))
    if (row.sha256 !== null && createHash("sha256").update(data).digest("hex") !== row.sha256) return { corrupt: "its bytes do not match the sha256 stored with them" }
    try {
      JSON.parse(data.toString("utf8"))
    } catch (error) {
      return { corrupt: `it is not JSON (${(error as Error).message})` }
    }
    return { data }
  }

  deleteCheckpoint(runId: string, stepId: string): void {
    this.db.prepare(`DELETE FROM checkpoints WHERE run_id = ? AND step_id = ?`).run(runId, stepId)
  }

  // ---- budgets ----

  charge(entry: LedgerEntry): void {
    this.db
      .prepare(`INSERT INTO ledger (platform, window, seconds, run_id, step_id, t) VALUES (?, ?, ?, ?, ?, ?)`)
      .run(entry.platform, entry.window ?? null, entry.seconds, entry.runId ?? null, entry.stepId ?? null, entry.t)
  }

  /** Seconds charged to a platform in the window that contains `now` (`session`: in run `runId`). */
  usedSeconds(platform: string, window: BudgetWindow, now: number, runId?: string): number {
    if (window === "session") {
      if (runId === undefined) return 0
      const row = this.db.prepare(`SELECT COALESCE(SUM(seconds), 0) AS s FROM ledger WHERE platform = ? AND run_id = ?`).get(platform, runId) as { s: number }
      return row.s
    }
    const start = windowStart(window, now) ?? 0
    const row = this.db.prepare(`SELECT COALESCE(SUM(seconds), 0) AS s FROM ledger WHERE platform = ? AND t >= ? AND t <= ?`).get(platform, start, now) as { s: number }
    return row.s
  }

  /** What is left of a budget at `now`: the query `polyquant plan` and the engine share. */
  remainingBudget(budget: BudgetSpec, now: number = Date.now(), runId?: string): BudgetRemaining {
    const usedHours = hours(this.usedSeconds(budget.platform, budget.per, now, runId))
    return { platform: budget.platform, window: budget.per, limitHours: budget.gpuHours, usedHours, remainingHours: Math.max(0, budget.gpuHours - usedHours) }
  }

  ledger(runId?: string): LedgerEntry[] {
    const rows = (runId === undefined ? this.db.prepare(`SELECT * FROM ledger ORDER BY id`).all() : this.db.prepare(`SELECT * FROM ledger WHERE run_id = ? ORDER BY id`).all(runId)) as Array<{
      platform: string
      window: BudgetWindow | null
      seconds: number
      run_id: string | null
      step_id: string | null
      t: number
    }>
    return rows.map((r) => ({ platform: r.platform, ...(r.window ? { window: r.window } : {}), seconds: r.seconds, ...(r.run_id ? { runId: r.run_id } : {}), ...(r.step_id ? { stepId: r.step_id } : {}), t: r.t }))
  }

  // ---- events ----

  appendEvent(event: RunEvent): void {
    this.db.prepare(`INSERT INTO events (run_id, t, type, json) VALUES (?, ?, ?, ?)`).run(event.runId, event.t, event.type, JSON.stringify(event))
  }

  events(runId: string): RunEvent[] {
    return (this.db.prepare(`SELECT json FROM events WHERE run_id = ? ORDER BY id`).all(runId) as Array<{ json: string }>).map((r) => JSON.parse(r.json) as RunEvent)
  }

  // ---- cache ----

  cacheGet(key: string): CacheEntry | undefined {
    const row = this.db.prepare(`SELECT * FROM cache WHERE key = ?`).get(key) as
      | { key: string; kernel: string; version: string; outputs_json: string; parts_json: string; run_id: string; step_id: string; duration_ms: number; created_at: number }
      | undefined
    if (!row) return undefined
    return {
      key: row.key,
      kernel: row.kernel,
      version: row.version,
      outputs: JSON.parse(row.outputs_json),
      parts: JSON.parse(row.parts_json) as CacheKeyParts,
      runId: row.run_id,
      stepId: row.step_id,
      durationMs: row.duration_ms,
      createdAt: row.created_at
    }
  }

  // ---- model fingerprints (memo of file digests by size and mtime) ----

  getFingerprint(path: string, stat: string): string | undefined {
    const row = this.db.prepare(`SELECT digest FROM fingerprints WHERE path = ? AND stat_json = ?`).get(path, stat) as { digest: string } | undefined
    return row?.digest
  }

  putFingerprint(path: string, stat: string, digest: string): void {
    this.db.prepare(`INSERT OR REPLACE INTO fingerprints (path, stat_json, digest) VALUES (?, ?, ?)`).run(path, stat, digest)
  }
}
