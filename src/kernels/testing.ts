/**
 * The test kernels (python/tests/engine_kernels.py): no model, no torch. They exercise the
 * bridge, the engine and the workflow language (echo, sleep, crash, fail, count with checkpoints).
 * They are registered only in a process started with POLYQUANT_TEST_KERNELS=1 (src/kernels/catalog.ts):
 * not in the JSON Schema, the DSL, the editor completion or the "known kernels" list.
 */
import { z } from "zod"
import { CorpusSpec, ModelSpec, Protect, QuantConfig } from "./common.js"
import { defineKernel } from "./define.js"

export const testEcho = defineKernel({
  name: "test-echo",
  version: "1",
  description: "returns its parameters (and the worker's pid); writes to stdout and stderr",
  // any other key is echoed too: the bridge's tests send what they like
  with: z.looseObject({
    message: z.string().optional(),
    value: z.number().optional(),
    values: z.array(z.number()).optional(),
    model: ModelSpec.optional(),
    corpus: CorpusSpec.optional(),
    quant: QuantConfig.optional(),
    protect: Protect.optional()
  }),
  outputs: z.strictObject({
    echo: z.record(z.string(), z.unknown()).describe("the parameters Python received"),
    pid: z.number().int()
  }),
  models: ["model"],
  corpora: ["corpus", "quant.calibration.corpus"],
  checkpoints: false,
  gpu: false
})

export const testSleep = defineKernel({
  name: "test-sleep",
  version: "1",
  description: "sleeps, reporting progress in ticks, and stops when asked",
  with: z.strictObject({ seconds: z.number().nonnegative().default(1) }),
  outputs: z.strictObject({ slept: z.number() }),
  models: [],
  corpora: [],
  checkpoints: false,
  gpu: false
})

export const testCrash = defineKernel({
  name: "test-crash",
  version: "1",
  description: "kills the worker (os._exit, SIGSEGV or SIGKILL)",
  with: z.strictObject({ how: z.enum(["exit", "segfault", "kill"]).default("exit"), code: z.number().int().default(3) }),
  outputs: z.strictObject({}),
  models: [],
  corpora: [],
  checkpoints: false,
  gpu: false
})

export const testFail = defineKernel({
  name: "test-fail",
  version: "1",
  description: "raises a chosen error: a PolyquantError, an OutOfMemoryError (retryable) or a plain ValueError",
  with: z.strictObject({ error: z.enum(["polyquant", "oom", "value"]).default("polyquant"), message: z.string().default("a kernel error") }),
  outputs: z.strictObject({}),
  models: [],
  corpora: [],
  checkpoints: false,
  gpu: false
})

export const testCount = defineKernel({
  name: "test-count",
  version: "1",
  description: "counts to `to` (values i²), checkpointing every `checkpoint_every` items; resumes from its checkpoint",
  with: z.strictObject({
    to: z.number().int().nonnegative().default(10),
    tick: z.number().nonnegative().default(0.05).describe("seconds per item"),
    checkpoint_every: z.number().int().positive().default(2)
  }),
  outputs: z.strictObject({ values: z.array(z.number().int()), resumed_from: z.number().int() }),
  models: [],
  corpora: [],
  checkpoints: true,
  gpu: false
})

export const testingKernels = [testEcho, testSleep, testCrash, testFail, testCount] as const
