/**
 * Every kernel, by name. Each kernel's definition lives in its own file; this table is the only
 * place that lists them (python/polyquant/kernels/__init__.py maps the same names to modules, and
 * test/kernels/contracts.test.ts checks that the two lists agree).
 *
 * Three groups: the kernels a workflow can `use` (what the JSON Schema, the DSL, the editor
 * completion and the "known kernels" list show); the CLI's own (`environment`, `report-plots`);
 * and the test kernels (echo, sleep, crash, ...), which exist for the engine's and the bridge's
 * tests and are registered only in a process started with POLYQUANT_TEST_KERNELS=1.
 */
import type { KernelDefinition } from "./define.js"
import { internalKernels } from "./internal.js"
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
import { allocate } from "./allocate.js"

// `as const satisfies`: keeps each kernel's literal name and zod types for the typed DSL (src/workflow/dsl.ts).
export const kernels = [
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
  allocate,
  fixture
] as const satisfies ReadonlyArray<KernelDefinition>

/** The switch that registers the test kernels (set by vitest.config.ts and python/tests/conftest.py). */
export const TEST_KERNELS_ENV = "POLYQUANT_TEST_KERNELS"

const testKernelsOn = (): boolean => process.env[TEST_KERNELS_ENV] === "1"

/** The kernels a workflow step can `use` in this process. */
const usable = (): ReadonlyArray<KernelDefinition> => (testKernelsOn() ? [...testingKernels, ...kernels] : kernels)

/** Every kernel with a Python module, whatever the process: each one has a contract file. */
export const allKernels: ReadonlyArray<KernelDefinition> = [...kernels, ...internalKernels, ...testingKernels]

export const kernelNames = (): string[] => usable().map((k) => k.name)

export const findKernel = (name: string): KernelDefinition | undefined => usable().find((k) => k.name === name)
