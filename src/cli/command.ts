/**
 * A CLI command: its name, one line of help, its usage, its options and positionals (parsed by
 * src/cli/flags.ts), and a lazily imported implementation, so that `polyquant --help` and
 * `validate` never load the engine, Ink or Python.
 */
import type { FlagsSpec } from "./flags.js"

export interface CommandModule {
  /** runs the command; resolves to the process exit code (0 ok, 1 a step failed, 2 invalid input, 130 interrupted) */
  run(args: ReadonlyArray<string>): Promise<number>
}

export interface Command extends FlagsSpec {
  readonly summary: string
  readonly load: () => Promise<CommandModule>
}

export const ExitCode = { ok: 0, stepFailed: 1, invalidInput: 2, interrupted: 130 } as const
