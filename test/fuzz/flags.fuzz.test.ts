/**
 * Property-based tests (fast-check) of the CLI's one option parser (src/cli/flags.ts), over every
 * command's declared options: any argv ends in typed values or one line saying what is wrong,
 * never an exception; accepted values have their declared types.
 */
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { table } from "../../src/cli/commands/index.js"
import { parseFlags, type FlagsSpec } from "../../src/cli/flags.js"
import { fuzzOptions } from "./options.js"

const specs = Object.values(table) as ReadonlyArray<FlagsSpec>

const argFor = (spec: FlagsSpec) => {
  const names = Object.keys(spec.options)
  const known = names.length > 0 ? fc.constantFrom(...names.map((n) => `--${n}`)) : fc.constant("--json")
  return fc.oneof(
    known,
    known.chain((flag) => fc.string({ maxLength: 8 }).map((v) => `${flag}=${v}`)),
    fc.constantFrom("--", "-", "-1", "--x", "--=", "---json", "5", "2.5", "-n", "run-1", ""),
    fc.string({ maxLength: 12 }),
    fc.string({ unit: "binary", maxLength: 6 })
  )
}

describe("fuzzing the CLI option parser", () => {
  it("any argv of any command ends in values or one line, never an exception", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...specs).chain((spec) => fc.tuple(fc.constant(spec), fc.array(argFor(spec), { maxLength: 8 }))),
        ([spec, argv]) => {
          const result = parseFlags(spec, argv)
          if ("error" in result) {
            expect(typeof result.error).toBe("string")
            expect(result.error).not.toContain("\n")
            expect(result.error.length).toBeLessThan(600)
          } else {
            // a variadic command (compare RUN RUN...) takes any number of positionals
            if (spec.variadic !== true) expect(result.positionals.length).toBeLessThanOrEqual(spec.positionals.length)
            for (const [name, option] of Object.entries(spec.options)) {
              const v = (result.values as Record<string, unknown>)[name]
              if (option.type === "boolean") expect(typeof v).toBe("boolean")
              if (option.type === "number" && v !== undefined) expect(Number.isFinite(v)).toBe(true)
              if (option.type === "string" && option.multiple === true) expect(Array.isArray(v)).toBe(true)
            }
          }
        }
      ),
      fuzzOptions()
    )
  })
})
