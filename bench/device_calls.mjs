#!/usr/bin/env node
/**
 * Export a run store's succeeded kernel calls for bench/device_check.py: a JSON list of
 * {run, step, kernel, params, output}, params as the engine handed them to Python (the last
 * attempt's), output as stored. Also writes paths.json beside it: the path prefixes of this
 * machine (repository, fixture cache) that the device side maps to its own.
 *
 *   node bench/device_calls.mjs STORE.db OUT_DIR
 *
 * Custom TypeScript steps (`uses: ts:…`) and steps answered from the cache have no Python call
 * of their own and are left out.
 */
import Database from "better-sqlite3"
import { mkdirSync, writeFileSync } from "node:fs"
import { homedir } from "node:os"
import { join, resolve } from "node:path"

const [storePath, outDir] = process.argv.slice(2)
if (!storePath || !outDir) {
  console.error("usage: node bench/device_calls.mjs STORE.db OUT_DIR")
  process.exit(2)
}
const db = new Database(storePath, { readonly: true, fileMustExist: true })
const rows = db
  .prepare(
    `SELECT s.run_id AS run, s.step_id AS step, s.uses AS kernel, s.outputs_json AS output,
            (SELECT a.params_json FROM attempts a WHERE a.run_id = s.run_id AND a.step_id = s.step_id
              AND a.params_json IS NOT NULL ORDER BY a.attempt DESC LIMIT 1) AS params
       FROM steps s JOIN runs r ON r.id = s.run_id
      WHERE s.status = 'succeeded' AND s.uses NOT LIKE 'ts:%'
      ORDER BY s.started_at`
  )
  .all()
const calls = rows
  .filter((r) => r.params !== null && r.output !== null)
  .map((r) => ({ run: r.run, step: r.step, kernel: r.kernel, params: JSON.parse(r.params), output: JSON.parse(r.output) }))
mkdirSync(outDir, { recursive: true })
writeFileSync(join(outDir, "calls.json"), JSON.stringify(calls))
const cache = process.env.POLYQUANT_CACHE ?? join(homedir(), ".cache", "polyquant")
writeFileSync(join(outDir, "paths.json"), JSON.stringify({ root: resolve("."), cache: resolve(cache) }))
console.log(`${calls.length} calls from ${storePath} → ${join(outDir, "calls.json")}`)
