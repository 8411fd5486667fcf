/**
 * How a kernel is described to TypeScript: its `with` schema (validated when a workflow loads),
 * its output schema (which types `if:` conditions and checks Python's results), and what the
 * engine must prepare for it. The Python side lives in python/polyquant/kernels/<name>.py.
 */
import type { z } from "zod"

export interface KernelDefinition<W extends z.ZodType = z.ZodType, O extends z.ZodType = z.ZodType> {
  /** the `uses:` name */
  readonly name: string
  /** bump when results change: part of the cache key */
  readonly version: string
  readonly description: string
  readonly with: W
  readonly outputs: O
  /** dotted paths inside `with` that hold a ModelSpec; the engine fills them from `defaults.model` */
  readonly models: ReadonlyArray<string>
  /** dotted paths inside `with` that hold a CorpusSpec; the engine loads them into documents */
  readonly corpora: ReadonlyArray<string>
  /**
   * dotted paths inside `with` that hold a file path, or a record of them (language → path): the
   * engine makes them absolute from the workflow's folder and puts their content digest in the cache key
   */
  readonly files?: ReadonlyArray<string>
  /** writes in-step checkpoints and resumes from them */
  readonly checkpoints: boolean
  /** runs on the accelerator, so its wall time is charged to the platform's GPU budget */
  readonly gpu: boolean
  /** runs in TypeScript, not Python (custom DSL steps, comparisons) */
  readonly local?: boolean
}

/** Keeps the literal `name` in the type, so that the DSL offers `step.<name>(...)` with this kernel's `with` type. */
export const defineKernel = <const N extends string, W extends z.ZodType, O extends z.ZodType>(
  def: KernelDefinition<W, O> & { readonly name: N }
): KernelDefinition<W, O> & { readonly name: N } => def
