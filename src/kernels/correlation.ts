/**
 * `correlation` (KAGGLE-003): Pearson (with Fisher-z 95% CI) and Spearman, with p-values, between
 * two measures over languages and configurations (python/polyquant/kernels/correlation.py).
 * Inputs usually come from earlier steps through `${{ steps.<id>.outputs.… }}`; maps of objects
 * (per-language outputs) are read with `x_field` / `y_field`.
 */
import { z } from "zod"
import { defineKernel } from "./define.js"

const Num = z.number().nullable()
const Values = z.union([z.array(z.number()), z.record(z.string(), z.unknown())])

export const Correlation = z.strictObject({
  n: z.number().int(),
  p_method: z.string().nullable().describe("how both p-values were computed: exact permutation over all n! pairings (n ≤ 8), or seeded random pairings"),
  pearson: z.strictObject({ r: Num, p: Num, ci: z.tuple([Num, Num]) }),
  spearman: z.strictObject({ rho: Num, p: Num }),
  fit: z.strictObject({ intercept: Num, slope: Num }).describe("least squares y = intercept + slope·x"),
  pairs: z.array(z.strictObject({ label: z.string(), x: z.number(), y: z.number() })),
  x_name: z.string(),
  y_name: z.string()
})

export const correlation = defineKernel({
  name: "correlation",
  version: "2",
  description: "Pearson and Spearman (with p-values) between two measures, e.g. perplexity degradation vs accuracy drop",
  with: z
    .strictObject({
      pairs: z.array(z.strictObject({ label: z.string().optional(), x: z.number(), y: z.number() })).min(3).optional(),
      x: Values.optional().describe("numbers, or a map label → number (or → object, with x_field)"),
      y: Values.optional(),
      x_field: z.string().optional().describe("dotted path of the number inside each entry of a map x, e.g. d.value"),
      y_field: z.string().optional().describe("e.g. drop"),
      labels: z.array(z.string()).optional().describe("labels of list x/y"),
      x_name: z.string().default("x").describe("the x axis's name in reports"),
      y_name: z.string().default("y")
    })
    .refine((w) => (w.pairs !== undefined) !== (w.x !== undefined && w.y !== undefined), "give either `pairs` or both `x` and `y`"),
  outputs: Correlation,
  models: [],
  corpora: [],
  checkpoints: false,
  gpu: false
})
