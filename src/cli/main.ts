/** polyquant's entry point: find the command and hand it the arguments. */
import { commands } from "./commands/index.js"
import { ExitCode } from "./command.js"

const help = (): string =>
  [
    "polyquant — does quantizing this model hurt some languages more than others?",
    "",
    "Usage: polyquant <command> [options]",
    "",
    ...commands.map((c) => `  ${c.name.padEnd(10)} ${c.summary}`),
    "",
    "Run `polyquant <command> --help` for a command's options."
  ].join("\n")

const main = async (argv: ReadonlyArray<string>): Promise<number> => {
  const [name, ...rest] = argv
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    process.stdout.write(help() + "\n")
    return name === undefined ? ExitCode.invalidInput : ExitCode.ok
  }
  if (name === "--version") {
    process.stdout.write("0.1.0\n")
    return ExitCode.ok
  }
  const command = commands.find((c) => c.name === name)
  if (command === undefined) {
    process.stderr.write(`polyquant: unknown command '${name}'\n\n${help()}\n`)
    return ExitCode.invalidInput
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    const { optionsHelp } = await import("./flags.js")
    const options = optionsHelp(command)
    process.stdout.write(`${command.summary}\n\nUsage: ${command.usage}\n${options.length > 0 ? `\nOptions:\n${options.join("\n")}\n` : ""}`)
    return ExitCode.ok
  }
  const module = await command.load()
  return module.run(rest)
}

// `polyquant runs | head` closes the pipe early: the reader is done, which is not an error
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code === "EPIPE") process.exit(0)
  throw error
})

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (error: unknown) => {
    process.stderr.write(`polyquant: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
    process.exitCode = ExitCode.stepFailed
  }
)
