/** `polyquant corpus`: print a corpus as the Python kernels receive it (JSON), or a summary. */
import { CorpusSpec } from "../../kernels/common.js"
import { resolveCorpus } from "../../corpus/resolve.js"
import { ExitCode } from "../command.js"
import { parseFlagsOrReport } from "../flags.js"
import { table } from "./index.js"

export const run = async (args: ReadonlyArray<string>): Promise<number> => {
  const parsed = parseFlagsOrReport(table.corpus, args)
  if (parsed === undefined) return ExitCode.invalidInput
  const { values } = parsed
  const spec = CorpusSpec.safeParse({
    source: "udhr",
    split: values.split,
    ...(values.languages ? { languages: values.languages.split(",").map((l) => l.trim()) } : {})
  })
  if (!spec.success) {
    process.stderr.write(`polyquant corpus: ${spec.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}\n`)
    return 2
  }
  let corpus
  try {
    corpus = resolveCorpus(spec.data)
  } catch (error) {
    process.stderr.write(`polyquant corpus: ${(error as Error).message}\n`)
    return 2
  }
  if (values.json) {
    process.stdout.write(JSON.stringify(corpus) + "\n")
    return 0
  }
  for (const [language, docs] of Object.entries(corpus.languages)) {
    const bytes = docs.reduce((n, d) => n + Buffer.byteLength(d, "utf8"), 0)
    process.stdout.write(`${language.padEnd(6)} ${String(docs.length).padStart(3)} documents ${String(bytes).padStart(7)} bytes\n`)
  }
  process.stdout.write(`digest ${corpus.digest}\n`)
  return 0
}
