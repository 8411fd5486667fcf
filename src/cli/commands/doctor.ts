/** `polyquant doctor`: placeholder wiring until the runtime lands (issue #2 replaces it). */
export const run = async (): Promise<number> => {
  process.stdout.write(`node ${process.versions.node}\n`)
  return 0
}
