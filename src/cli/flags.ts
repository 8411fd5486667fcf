/**
 * The one option parser of the CLI. Every command declares its options in the command table
 * (src/cli/commands/index.ts): a name, a type (string, boolean, number), whether it may repeat, a
 * line of help. `parseFlags` turns argv into typed values or one line that says what is wrong:
 *
 *   unknown option '--foo' (options: --json, --store)
 *   --limit must be a positive integer, got '-1'
 *   --store needs a value (--store PATH)
 *   unexpected argument 'b' (usage: polyquant show RUN [--json] [--store PATH])
 *
 * Rules: `--name value` or `--name=value`; a value may start with one dash (`--limit -1`), not
 * with two (`--out --json` is a missing value; write `--out=--json` for such a file); booleans
 * take no value; a value option that does not repeat may be given once; `--` ends the options.
 * It never throws and imports nothing, so that `--help` and `validate` stay light.
 */

export type OptionSpec =
  | { readonly type: "boolean"; readonly description: string }
  | {
      readonly type: "string"
      readonly description: string
      /** the placeholder in help and messages: `--store PATH` */
      readonly value: string
      /** may be given more than once; the values come as an array */
      readonly multiple?: boolean
      readonly default?: string
    }
  | {
      readonly type: "number"
      readonly description: string
      readonly value: string
      /** whole numbers only */
      readonly integer?: boolean
      /** the smallest value allowed */
      readonly min?: number
      readonly default?: number
    }

/** What the parser needs to know about a command: its name, usage, options and positionals. */
export interface FlagsSpec {
  readonly name: string
  readonly usage: string
  readonly options: { readonly [name: string]: OptionSpec }
  /** the positional arguments' names, in order: at most this many are accepted */
  readonly positionals: ReadonlyArray<string>
  /** the last positional may repeat (`compare RUN RUN...`): then any number are accepted */
  readonly variadic?: boolean
}

type ValueOf<O extends OptionSpec> = O extends { readonly type: "boolean" }
  ? boolean
  : O extends { readonly type: "string"; readonly multiple: true }
    ? ReadonlyArray<string>
    : O extends { readonly default: infer D }
      ? D extends string ? string : number
      : O extends { readonly type: "number" }
        ? number | undefined
        : string | undefined

export type FlagValues<Options extends FlagsSpec["options"]> = { readonly [K in keyof Options]: ValueOf<Options[K]> }

export type FlagsResult<S extends FlagsSpec> =
  | { readonly ok: true; readonly values: FlagValues<S["options"]>; readonly positionals: ReadonlyArray<string> }
  | { readonly ok: false; readonly error: string }

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/

/** An argument as a message quotes it: control characters escaped (the message stays one line), long ones cut. */
const quoted = (arg: string): string => {
  const escaped = arg.replace(/[\u0000-\u001f\u007f]/g, (c) => JSON.stringify(c).slice(1, -1))
  return `'${escaped.length > 80 ? `${escaped.slice(0, 79)}…` : escaped}'`
}

/** `a positive integer`, `a number ≥ 0`, ...: what a number option accepts. */
const numberKind = (o: { readonly integer?: boolean; readonly min?: number }): string => {
  if (o.integer === true && o.min === 1) return "a positive integer"
  const noun = o.integer === true ? "an integer" : "a number"
  return o.min === undefined ? noun : `${noun} ≥ ${o.min}`
}

const checkNumber = (name: string, o: Extract<OptionSpec, { type: "number" }>, raw: string): number | string => {
  const n = NUMBER.test(raw) ? Number(raw) : Number.NaN
  const ok = Number.isFinite(n) && (o.integer !== true || Number.isInteger(n)) && (o.min === undefined || n >= o.min)
  return ok ? n : `--${name} must be ${numberKind(o)}, got ${quoted(raw)}`
}

/** `--json, --store`: the options a command takes, for the unknown-option message. */
const optionList = (spec: FlagsSpec): string => {
  const names = Object.keys(spec.options)
  return names.length === 0 ? "it takes none" : `options: ${names.map((n) => `--${n}`).join(", ")}`
}

/** Parse `argv` (the arguments after the command's name) against the command's declared options. */
export const parseFlags = <S extends FlagsSpec>(spec: S, argv: ReadonlyArray<string>): FlagsResult<S> => {
  const values: Record<string, unknown> = {}
  const given = new Map<string, string>()
  const positionals: string[] = []
  const fail = (error: string): FlagsResult<S> => ({ ok: false, error })
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === "--") {
      positionals.push(...argv.slice(i + 1))
      break
    }
    if (!arg.startsWith("-") || arg === "-") {
      positionals.push(arg)
      continue
    }
    const eq = arg.indexOf("=")
    const name = arg.startsWith("--") ? arg.slice(2, eq === -1 ? undefined : eq) : ""
    const option = Object.hasOwn(spec.options, name) ? spec.options[name] : undefined
    if (option === undefined) return fail(`unknown option ${quoted(eq === -1 || !arg.startsWith("--") ? arg : arg.slice(0, eq))} (${optionList(spec)})`)
    if (option.type === "boolean") {
      if (eq !== -1) return fail(`--${name} takes no value, got ${quoted(arg)}`)
      values[name] = true
      continue
    }
    let raw: string | undefined
    if (eq !== -1) raw = arg.slice(eq + 1)
    else {
      const next = argv[i + 1]
      if (next !== undefined && !next.startsWith("--")) {
        raw = next
        i++
      }
    }
    if (raw === undefined || raw === "") return fail(`--${name} needs a value (--${name} ${option.value})`)
    if (option.type === "string" && option.multiple === true) {
      values[name] = [...((values[name] as string[] | undefined) ?? []), raw]
      continue
    }
    const before = given.get(name)
    if (before !== undefined) return fail(`--${name} given twice (${quoted(before)} and ${quoted(raw)}); give it once`)
    given.set(name, raw)
    if (option.type === "number") {
      const n = checkNumber(name, option, raw)
      if (typeof n === "string") return fail(n)
      values[name] = n
    } else values[name] = raw
  }
  if (spec.variadic !== true && positionals.length > spec.positionals.length) {
    const extra = positionals[spec.positionals.length]!
    return fail(`unexpected argument ${quoted(extra)} (usage: ${spec.usage})`)
  }
  for (const [name, option] of Object.entries(spec.options)) {
    if (name in values) continue
    if (option.type === "boolean") values[name] = false
    else if (option.type === "string" && option.multiple === true) values[name] = []
    else if (option.default !== undefined) values[name] = option.default
  }
  return { ok: true, values: values as FlagValues<S["options"]>, positionals }
}

/**
 * `parseFlags`, printing a bad command line as `polyquant <command>: <why>` (one line on stderr,
 * or through `write`); undefined then, and the command returns exit code 2.
 */
export const parseFlagsOrReport = <S extends FlagsSpec>(
  spec: S,
  argv: ReadonlyArray<string>,
  write: (line: string) => void = (line) => process.stderr.write(`${line}\n`)
): Extract<FlagsResult<S>, { ok: true }> | undefined => {
  const result = parseFlags(spec, argv)
  if (result.ok) return result
  write(`polyquant ${spec.name}: ${result.error}`)
  return undefined
}

/** The options part of `polyquant <command> --help`: one line each, with its placeholder. */
export const optionsHelp = (spec: FlagsSpec): ReadonlyArray<string> => {
  const rows = Object.entries(spec.options).map(([name, o]) => {
    const left = `--${name}${o.type === "boolean" ? "" : ` ${o.value}`}`
    const repeat = o.type === "string" && o.multiple === true ? " (repeatable)" : ""
    return [left, `${o.description}${repeat}`] as const
  })
  const width = Math.max(0, ...rows.map(([left]) => left.length))
  return rows.map(([left, text]) => `  ${left.padEnd(width)}  ${text}`)
}
