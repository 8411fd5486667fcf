/**
 * Content-addressed files under `<store>/artifacts/`: a file's name is the sha256 of its bytes
 * (`ab/abcdef…`). Writes go to a temporary file in the same folder, are fsynced, then renamed,
 * so a crash leaves either no file or a whole one; a name that exists is complete by construction.
 */
import { createHash, randomBytes } from "node:crypto"
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs"
import { join } from "node:path"

export interface StoredArtifact {
  readonly sha256: string
  readonly path: string
  readonly bytes: number
}

export class ArtifactStore {
  constructor(readonly dir: string) {}

  pathOf(sha256: string): string {
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw new Error(`not a sha256 digest: '${sha256}'`)
    return join(this.dir, sha256.slice(0, 2), sha256)
  }

  has(sha256: string): boolean {
    return existsSync(this.pathOf(sha256))
  }

  /** Store bytes; returns their digest and path. Storing the same bytes twice writes once. */
  put(data: Buffer | string): StoredArtifact {
    const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data
    const sha256 = createHash("sha256").update(bytes).digest("hex")
    const path = this.pathOf(sha256)
    if (existsSync(path)) return { sha256, path, bytes: bytes.length }
    const folder = join(this.dir, sha256.slice(0, 2))
    mkdirSync(folder, { recursive: true })
    const tmp = join(folder, `.tmp-${process.pid}-${randomBytes(6).toString("hex")}`)
    try {
      const fd = openSync(tmp, "w")
      try {
        writeSync(fd, bytes)
        fsyncSync(fd)
      } finally {
        closeSync(fd)
      }
      renameSync(tmp, path)
      const dirFd = openSync(folder, "r")
      try {
        fsyncSync(dirFd) // the rename itself survives a power cut
      } finally {
        closeSync(dirFd)
      }
    } catch (error) {
      rmSync(tmp, { force: true })
      throw error
    }
    return { sha256, path, bytes: bytes.length }
  }

  /** Read an artifact back, checking that its bytes still hash to its name. */
  get(sha256: string): Buffer {
    const bytes = readFileSync(this.pathOf(sha256))
    const actual = createHash("sha256").update(bytes).digest("hex")
    if (actual !== sha256) throw new Error(`artifact ${sha256} is corrupt (its bytes hash to ${actual})`)
    return bytes
  }
}
