import Database from "better-sqlite3"

/** Every row a resume or a claim could touch, as the database holds it: for "nothing was written" checks. */
export const runRows = (path: string, runId: string): unknown => {
  const db = new Database(path, { readonly: true })
  try {
    return {
      run: db.prepare(`SELECT * FROM runs WHERE id = ?`).get(runId),
      steps: db.prepare(`SELECT * FROM steps WHERE run_id = ? ORDER BY rowid`).all(runId),
      events: db.prepare(`SELECT * FROM events WHERE run_id = ? ORDER BY id`).all(runId)
    }
  } finally {
    db.close()
  }
}
