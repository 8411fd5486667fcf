/**
 * The store's schema, as numbered migrations. `PRAGMA user_version` holds the number applied;
 * opening a store applies the missing ones in one transaction each, so a crash mid-migration
 * leaves the previous version intact. Append new migrations; never edit an applied one.
 */

export const migrations: ReadonlyArray<string> = [
  // 1: runs, steps, attempts, branch decisions, checkpoints, budget ledger, events, cache, fingerprints
  `
  CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    workflow TEXT NOT NULL,
    file TEXT NOT NULL,
    digest TEXT NOT NULL,
    plan_json TEXT NOT NULL,
    options_json TEXT NOT NULL,
    platform TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    finished_at INTEGER
  );
  CREATE TABLE steps (
    run_id TEXT NOT NULL REFERENCES runs(id),
    step_id TEXT NOT NULL,
    uses TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    cache_key TEXT,
    key_parts_json TEXT,
    outputs_json TEXT,
    error_json TEXT,
    reason TEXT,
    started_at INTEGER,
    finished_at INTEGER,
    duration_ms INTEGER,
    PRIMARY KEY (run_id, step_id)
  );
  CREATE TABLE attempts (
    run_id TEXT NOT NULL,
    step_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    status TEXT NOT NULL,
    params_json TEXT,
    error_json TEXT,
    started_at INTEGER NOT NULL,
    finished_at INTEGER,
    PRIMARY KEY (run_id, step_id, attempt)
  );
  CREATE TABLE branches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL,
    step_id TEXT NOT NULL,
    expression TEXT NOT NULL,
    result INTEGER NOT NULL,
    values_json TEXT NOT NULL,
    t INTEGER NOT NULL
  );
  CREATE TABLE checkpoints (
    run_id TEXT NOT NULL,
    step_id TEXT NOT NULL,
    data BLOB NOT NULL,
    t INTEGER NOT NULL,
    PRIMARY KEY (run_id, step_id)
  );
  CREATE TABLE ledger (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    platform TEXT NOT NULL,
    window TEXT,
    seconds REAL NOT NULL,
    run_id TEXT,
    step_id TEXT,
    t INTEGER NOT NULL
  );
  CREATE INDEX ledger_platform_t ON ledger(platform, t);
  CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL,
    t INTEGER NOT NULL,
    type TEXT NOT NULL,
    json TEXT NOT NULL
  );
  CREATE INDEX events_run ON events(run_id, id);
  CREATE TABLE cache (
    key TEXT PRIMARY KEY,
    kernel TEXT NOT NULL,
    version TEXT NOT NULL,
    outputs_json TEXT NOT NULL,
    parts_json TEXT NOT NULL,
    run_id TEXT NOT NULL,
    step_id TEXT NOT NULL,
    duration_ms INTEGER NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE TABLE fingerprints (
    path TEXT PRIMARY KEY,
    stat_json TEXT NOT NULL,
    digest TEXT NOT NULL
  );
  `,
  // 2: who runs a run (src/store/liveness.ts): the process id, its host, and the process's start
  // identity (Linux: boot id and start time, so that a reused pid is not taken for the owner).
  // Written when a run starts or is resumed; NULL for runs stored before this migration.
  `
  ALTER TABLE runs ADD COLUMN owner_pid INTEGER;
  ALTER TABLE runs ADD COLUMN owner_host TEXT;
  ALTER TABLE runs ADD COLUMN owner_start TEXT;
  `,
  // 3: a checkpoint's sha256, written with it, so that a garbled row is found before a resume
  // hands it to a kernel (NULL for checkpoints stored before this migration: those are checked as JSON)
  `
  ALTER TABLE checkpoints ADD COLUMN sha256 TEXT;
  `
]
