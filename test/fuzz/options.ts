/**
 * How many cases the fuzz tests run, and from which seed: `npm test` runs a fixed seed (the same
 * cases every time, so a failure is reproducible), `npm run fuzz` many more from a fresh seed.
 * fast-check prints the seed and the shrunk counterexample when a property fails; replay it with
 * POLYQUANT_FUZZ_SEED=<seed>.
 */
import type { Parameters } from "fast-check"

export const fuzzOptions = <T>(): Parameters<T> => {
  const runs = Number(process.env["POLYQUANT_FUZZ_RUNS"] ?? "") || 150
  const seed = process.env["POLYQUANT_FUZZ_SEED"] !== undefined ? Number(process.env["POLYQUANT_FUZZ_SEED"]) : process.env["POLYQUANT_FUZZ_RUNS"] !== undefined ? Date.now() : 20261202
  return { numRuns: runs, seed, endOnFailure: true }
}
