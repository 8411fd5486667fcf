/**
 * A kernel's contract with Python, generated from its zod definition so that it lives once:
 * `params`, the JSON Schema of what the Python kernel receives (the `with` schema as written, with
 * its defaults, where each corpus path holds the documents the engine read and each model path may
 * carry the engine's fingerprint), and `outputs`, the JSON Schema of what it returns. Python fills
 * defaults and checks parameters with `params` (python/polyquant/kernels/contract.py), for workflow
 * steps and for scripts calling `api.run_direct` alike, and keeps no defaults or version of its own.
 *
 * `npm run build` writes one file per kernel into python/polyquant/kernels/contracts/; a test
 * fails when a committed file differs from what the zod definitions give.
 */
import { z } from "zod"
import { ResolvedCorpus, ResolvedModel } from "./common.js"
import type { KernelDefinition } from "./define.js"

type JsonSchema = Record<string, unknown>

export interface KernelContract {
  readonly kernel: string
  /** part of the cache key (prepare.ts): bump it in the TS definition when results change */
  readonly version: string
  readonly description: string
  readonly params: JsonSchema
  readonly outputs: JsonSchema
}

const toJson = (schema: z.ZodType, io: "input" | "output"): JsonSchema => {
  const json = z.toJSONSchema(schema, { io, unrepresentable: "any" }) as JsonSchema
  delete json["$schema"]
  return json
}

/** The object schema at a dotted path (through `anyOf` branches, as a nullable object has). */
const objectAt = (root: JsonSchema, parentPath: ReadonlyArray<string>): JsonSchema | undefined => {
  let node: JsonSchema | undefined = root
  for (const key of parentPath) {
    node = propertiesOf(node)?.[key] as JsonSchema | undefined
    if (node === undefined) return undefined
  }
  return propertiesOf(node) === undefined ? undefined : withProperties(node)
}

const withProperties = (node: JsonSchema): JsonSchema | undefined => {
  if (node["properties"] !== undefined) return node
  for (const branch of (node["anyOf"] as JsonSchema[] | undefined) ?? []) {
    const found = withProperties(branch)
    if (found !== undefined) return found
  }
  return undefined
}

const propertiesOf = (node: JsonSchema | undefined): Record<string, unknown> | undefined =>
  node === undefined ? undefined : (withProperties(node)?.["properties"] as Record<string, unknown> | undefined)

/**
 * Put `replacement` at `path`. A value the `with` schema defaults (a corpus with `prefault`) is
 * always filled by the engine, so Python requires it.
 */
const replaceAt = (root: JsonSchema, path: string, replacement: JsonSchema, kernel: string): void => {
  const keys = path.split(".")
  const last = keys.pop() as string
  const parent = objectAt(root, keys)
  const properties = parent?.["properties"] as Record<string, JsonSchema> | undefined
  const current = properties?.[last]
  if (parent === undefined || properties === undefined || current === undefined) throw new Error(`kernel ${kernel}: path ${path} is not in its \`with\` schema`)
  properties[last] = replacement
  if ("default" in current) {
    const required = (parent["required"] as string[] | undefined) ?? []
    if (!required.includes(last)) parent["required"] = [...required, last]
  }
}

export const contractOf = (kernel: KernelDefinition): KernelContract => {
  const params = toJson(kernel.with, "input")
  for (const path of kernel.corpora) replaceAt(params, path, toJson(ResolvedCorpus, "output"), kernel.name)
  for (const path of kernel.models) replaceAt(params, path, toJson(ResolvedModel, "input"), kernel.name)
  return { kernel: kernel.name, version: kernel.version, description: kernel.description, params, outputs: toJson(kernel.outputs, "output") }
}

/** The file a contract is written to, relative to python/polyquant/kernels/contracts/. */
export const contractFile = (name: string): string => `${name}.json`

export const contractText = (contract: KernelContract): string => `${JSON.stringify(contract, null, 2)}\n`

/** Where the contracts live: inside the Python package, so that `pip install python/` carries them. */
export const CONTRACTS_DIR = ["python", "polyquant", "kernels", "contracts"] as const
