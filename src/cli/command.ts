/**
 * A CLI command: its name, one line of help, its usage, and a lazily imported implementation,
 * so that `polyquant --help` and `validate` never load the engine, Ink or Python.
 */
export interface CommandModule {
  /** runs the command; resolves to the process exit code (0 ok, 1 a step failed, 2 invalid input, 130 interrupted) */
  run(args: ReadonlyArray<string>): Promise<number>
}

export interface Command {
  readonly name: string
  readonly summary: string
  readonly usage: string
  readonly load: () => Promise<CommandModule>
}

export const ExitCode = { ok: 0, stepFailed: 1, invalidInput: 2, interrupted: 130 } as const

/**
 * Run a command's option parser (`util.parseArgs`); a bad option is reported as
 * `polyquant <command>: <why>` and gives undefined, so that the command returns exit code 2.
 */
export const parseOrReport = <T>(command: string, parse: () => T): T | undefined => {
  try {
    return parse()
  } catch (error) {
    process.stderr.write(`polyquant ${command}: ${(error as Error).message}\n`)
    return undefined
  }
}
