/**
 * A Python step's folder under its run (`<run>/steps/<step>/`): the files the kernel and the
 * engine share during a call. The checkpoint's truth is the store; the file is its working copy,
 * so a resumed step gets its checkpoint back even when the folder is gone (a fresh notebook).
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import type { RunStore } from "../store/RunStore.js"

/** What the kernel call is told (CallOptions fields). */
export interface StepFiles {
  /** JSON lines the kernel appends (progress, partial results, checkpoints) */
  readonly eventsPath: string
  readonly checkpointPath: string
  /** appears when the run is asked to stop */
  readonly stopPath: string
}

export const stepDir = (runDir: string, stepId: string): string => join(runDir, "steps", stepId.replace(/[^\w.=,-]/g, "_"))

export const stepFiles = (dir: string): StepFiles => ({
  eventsPath: join(dir, "events.jsonl"),
  checkpointPath: join(dir, "checkpoint.json"),
  stopPath: join(dir, "stop")
})

/** Before an attempt: no stop file left from a stopped one, and the stored checkpoint (or none) in place. */
export const resetStepFolder = (dir: string, files: StepFiles, stored: Buffer | undefined): void => {
  mkdirSync(dir, { recursive: true })
  rmSync(files.stopPath, { force: true })
  if (stored !== undefined) writeFileSync(files.checkpointPath, stored)
  else rmSync(files.checkpointPath, { force: true })
}

/**
 * Store the checkpoint file the kernel wrote, if there is one. Answers why it could not be stored
 * (the caller warns: a resume would start from an older checkpoint), or undefined.
 */
export const storeCheckpoint = (db: RunStore, runId: string, stepId: string, files: StepFiles, t: number): string | undefined => {
  let bytes: Buffer
  try {
    bytes = readFileSync(files.checkpointPath)
  } catch (error) {
    // none yet: the kernel writes it atomically, so a missing file is no checkpoint, not a lost one
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined
    return `reading ${files.checkpointPath}: ${(error as Error).message}`
  }
  try {
    db.saveCheckpoint(runId, stepId, bytes, t)
    return undefined
  } catch (error) {
    return error instanceof Error ? error.message : String(error)
  }
}
