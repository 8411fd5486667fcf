/**
 * Write each kernel's contract (src/kernels/contract.ts) into python/polyquant/kernels/contracts/,
 * from the compiled definitions in dist/: `npm run build` runs it after tsc. Files of kernels that
 * no longer exist are removed. test/kernels/contracts.test.ts fails when the files are stale.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { allKernels } from "../dist/kernels/catalog.js"
import { CONTRACTS_DIR, contractFile, contractOf, contractText } from "../dist/kernels/contract.js"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")
const dir = join(root, ...CONTRACTS_DIR)
mkdirSync(dir, { recursive: true })
const wanted = new Map(allKernels.map((k) => [contractFile(k.name), contractText(contractOf(k))]))
for (const name of readdirSync(dir)) if (name.endsWith(".json") && !wanted.has(name)) rmSync(join(dir, name))
let written = 0
for (const [name, text] of wanted) {
  const path = join(dir, name)
  let old
  try {
    old = readFileSync(path, "utf8")
  } catch {
    old = undefined
  }
  if (old !== text) {
    writeFileSync(path, text)
    written += 1
  }
}
if (written > 0) console.log(`wrote ${written} kernel contract(s) into ${CONTRACTS_DIR.join("/")}`)
