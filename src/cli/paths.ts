/**
 * Why a path given on the command line cannot be written, in the user's terms: which part of it
 * is a file, or which folder lacks write permission. Checked before writing, so that `--out`
 * under a file is one line and exit 2, not a stack trace from the file system.
 */
import { accessSync, constants, statSync, type Stats } from "node:fs"
import { dirname } from "node:path"

const stat = (path: string): Stats | undefined => {
  try {
    return statSync(path)
  } catch {
    return undefined // ENOENT, or ENOTDIR: a part above it is a file
  }
}

/** Whether this process may write `path` (a file or a folder). */
export const writable = (path: string): boolean => {
  try {
    accessSync(path, constants.W_OK)
    return true
  } catch {
    return false
  }
}

/**
 * Why `target` cannot be written as a file, or made (with its missing parents) into a folder:
 * `x/notes.txt is a file, not a folder`, `no write permission on the folder out`; undefined when
 * nothing says so before trying.
 */
export const writeProblem = (target: string, kind: "file" | "folder"): string | undefined => {
  const own = stat(target)
  if (own !== undefined) {
    if (kind === "folder" && !own.isDirectory()) return `${target} is a file, not a folder`
    if (kind === "file" && own.isDirectory()) return `${target} is a folder, not a file`
    return writable(target) ? undefined : `no write permission on the ${kind} ${target}`
  }
  // the nearest part of the path that exists must be a folder we may write into
  let part = target
  for (;;) {
    const parent = dirname(part)
    if (parent === part) return undefined
    part = parent
    const found = stat(part)
    if (found === undefined) continue
    if (!found.isDirectory()) return `${part} is a file, not a folder`
    return writable(part) ? undefined : `no write permission on the folder ${part}`
  }
}

/** An error from writing `target`, as one line: the file system's code in words where it has one. */
export const writeErrorReason = (target: string, kind: "file" | "folder", error: unknown): string => {
  const e = error as NodeJS.ErrnoException
  switch (e?.code) {
    case "EACCES":
    case "EPERM":
      return `no write permission (${e.code})`
    case "EROFS":
      return "the file system is read-only (EROFS)"
    case "ENOSPC":
      return "no space left on the device (ENOSPC)"
    case "ENOTDIR":
    case "EEXIST":
    case "EISDIR":
      return writeProblem(target, kind) ?? e.message
    default:
      return error instanceof Error ? error.message : String(error)
  }
}
