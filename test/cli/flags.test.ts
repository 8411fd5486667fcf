/**
 * The option parser on its own (src/cli/flags.ts): what it yields for good command lines
 * (defaults, repeats, `=` and `--`), and that a bad one is one line whatever the argument holds.
 * The CLI's own messages, command by command, are in bad-flags.test.ts.
 */
import { describe, expect, it } from "vitest"
import { table } from "../../src/cli/commands/index.js"
import { optionsHelp, parseFlags, parseFlagsOrReport } from "../../src/cli/flags.js"

describe("parseFlags", () => {
  it("fills defaults: booleans false, repeatable options empty, declared defaults, else undefined", () => {
    expect(parseFlags(table.runs, [])).toEqual({ ok: true, values: { limit: 20, json: false }, positionals: [] })
    expect(parseFlags(table.run, ["wf.yaml"])).toEqual({
      ok: true,
      values: { set: [], force: false, plain: false, json: false, "no-report": false },
      positionals: ["wf.yaml"]
    })
  })

  it("takes `--name value` and `--name=value`, numbers as numbers, repeats in order, and positionals after `--`", () => {
    const r = parseFlags(table.plan, ["--set", "a=1", "wf.yaml", "--set=b=--x", "--json", "--store=s.db"])
    expect(r).toEqual({ ok: true, values: { set: ["a=1", "b=--x"], json: true, store: "s.db" }, positionals: ["wf.yaml"] })
    expect(parseFlags(table.replay, ["e.jsonl", "--speed", "0.5"])).toMatchObject({ ok: true, values: { speed: 0.5 } })
    expect(parseFlags(table.show, ["--", "--json"])).toMatchObject({ ok: true, values: { json: false }, positionals: ["--json"] })
    expect(parseFlags(table.validate, ["-"])).toMatchObject({ ok: true, positionals: ["-"] })
  })

  it("a bad argument is quoted on one line: control characters escaped, long ones cut", () => {
    expect(parseFlags(table.runs, ["--limit", "1\n2"])).toEqual({ ok: false, error: "--limit must be a positive integer, got '1\\n2'" })
    const long = parseFlags(table.show, ["a", "b".repeat(500)])
    expect(long.ok ? "" : long.error).toBe(`unexpected argument '${"b".repeat(79)}…' (usage: polyquant show RUN [--json] [--store PATH])`)
    // option names that are also names on Object.prototype are unknown, not found there
    expect(parseFlags(table.show, ["--constructor"])).toEqual({ ok: false, error: "unknown option '--constructor' (options: --json, --store)" })
  })

  it("reports through the given writer as `polyquant <command>: <why>`", () => {
    const lines: string[] = []
    expect(parseFlagsOrReport(table.fixture, ["--name"], (l) => lines.push(l))).toBeUndefined()
    expect(lines).toEqual(["polyquant fixture: --name needs a value (--name tiny-llama|tiny-gpt2)"])
  })
})

describe("optionsHelp", () => {
  it("lists each option with its placeholder, aligned, and marks repeatable ones", () => {
    expect(optionsHelp(table.validate)).toEqual(["  --set path=value  override a value of the workflow (repeatable)"])
    expect(optionsHelp(table.runs)).toEqual([
      "  --limit N     how many runs to list (default 20)",
      "  --json        the runs as JSON",
      "  --store PATH  the run store (default .polyquant/polyquant.db)"
    ])
  })
})
