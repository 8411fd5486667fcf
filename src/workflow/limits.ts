/**
 * Bounds on what a workflow may make polyquant do before anything runs, so that a careless or
 * hostile file ends in a clear error in bounded time and memory instead of a hang: its size, how
 * far YAML aliases may expand, and how many instances a matrix may make. Each limit can be raised
 * for a workflow that really needs more, through the environment variable the error names.
 */

export interface Limit {
  readonly env: string
  readonly fallback: number
}

/** A workflow file's bytes: the seed's largest workflow is a few KB. */
export const WORKFLOW_BYTES: Limit = { env: "POLYQUANT_MAX_WORKFLOW_BYTES", fallback: 1 << 20 }

/** Alias uses YAML may expand (the `yaml` library's own guard against alias bombs). */
export const YAML_ALIASES: Limit = { env: "POLYQUANT_MAX_YAML_ALIASES", fallback: 100 }

/** Instances one matrix may make: KAGGLE-001's sweep has 32. */
export const MATRIX_INSTANCES: Limit = { env: "POLYQUANT_MAX_MATRIX_INSTANCES", fallback: 4096 }

/** Steps (after matrix expansion) in a workflow. */
export const WORKFLOW_STEPS: Limit = { env: "POLYQUANT_MAX_STEPS", fallback: 10_000 }

/** The limit in force: the environment's value when it is a positive integer, else the default. */
export const limitOf = (limit: Limit, env: NodeJS.ProcessEnv = process.env): number => {
  const raw = env[limit.env]?.trim()
  const value = raw === undefined || raw === "" ? NaN : Number(raw)
  return Number.isSafeInteger(value) && value > 0 ? value : limit.fallback
}

/** Whether `actual` is within the limit in force. */
export const withinLimit = (limit: Limit, actual: number, env: NodeJS.ProcessEnv = process.env): boolean => actual <= limitOf(limit, env)

/** "above the limit of N (raise it with ENV=<n>)", the tail of every limit's message. */
export const overLimit = (limit: Limit, env: NodeJS.ProcessEnv = process.env): string => `above the limit of ${limitOf(limit, env)} (raise it with ${limit.env}=<n>)`
