/**
 * Every kernel a workflow can `use`, by name. Each kernel's definition lives in its own file;
 * this table is the only place that lists them (the Python twin is python/polyquant/kernels/__init__.py).
 */
import type { KernelDefinition } from "./define.js"
import { testingKernels } from "./testing.js"
import { quantize } from "./quantize.js"
import { disparity } from "./disparity.js"
import { layerSweep } from "./layer-sweep.js"
import { loadQuantized } from "./load-quantized.js"
import { attentionHeads } from "./attention-heads.js"
import { layerImportance } from "./layer-importance.js"
import { taskEval } from "./task-eval.js"
import { correlation } from "./correlation.js"
import { perplexity } from "./perplexity.js"
import { tokenizerStats } from "./tokenizer-stats.js"
import { fixture } from "./fixture.js"

// `as const satisfies`: keeps each kernel's literal name and zod types for the typed DSL (src/workflow/dsl.ts).
export const kernels = [
  ...testingKernels,
  quantize,
  disparity,
  layerSweep,
  loadQuantized,
  attentionHeads,
  layerImportance,
  taskEval,
  correlation,
  perplexity,
  tokenizerStats,
  fixture
] as const satisfies ReadonlyArray<KernelDefinition>

export const kernelNames = (): string[] => kernels.map((k) => k.name)

export const findKernel = (name: string): KernelDefinition | undefined => (kernels as ReadonlyArray<KernelDefinition>).find((k) => k.name === name)
