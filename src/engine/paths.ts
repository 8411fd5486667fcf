/**
 * Dotted paths inside a step's `with` (the kernel definition's `models` and `corpora` lists),
 * read and written without mutating the original object.
 */

export const getPath = (root: unknown, path: string): unknown => {
  let node = root
  for (const key of path.split(".")) {
    if (node === null || typeof node !== "object") return undefined
    node = (node as Record<string, unknown>)[key]
  }
  return node
}

/** A copy of `root` with `value` at `path` (intermediate objects are created, then copied). */
export const setPath = (root: Record<string, unknown>, path: string, value: unknown): Record<string, unknown> => {
  const [head, ...rest] = path.split(".")
  if (head === undefined) return root
  if (rest.length === 0) return { ...root, [head]: value }
  const child = root[head]
  const next = child !== null && typeof child === "object" && !Array.isArray(child) ? (child as Record<string, unknown>) : {}
  return { ...root, [head]: setPath(next, rest.join("."), value) }
}
