/**
 * A minimal terminal emulator for tests: enough of VT100/xterm (cursor up/down/column, erase in
 * line/display, carriage return, line feed, autowrap; colours and private modes ignored) to turn
 * what Ink writes to a pseudo-terminal into the screen a user sees. Unbounded height: nothing
 * scrolls away, so the whole session can be read back.
 */
export const renderScreen = (data: string, columns: number): string[] => {
  const lines: string[][] = [[]]
  let row = 0
  let col = 0
  const line = () => (lines[row] ??= [])
  const put = (ch: string) => {
    if (col >= columns) {
      row += 1
      col = 0
    }
    while (lines.length <= row) lines.push([])
    const l = line()
    while (l.length < col) l.push(" ")
    l[col] = ch
    col += 1
  }
  let i = 0
  while (i < data.length) {
    const ch = data[i]!
    if (ch === "\u001b") {
      const csi = /^\u001b\[([?>=]?)([0-9;]*)([ -/]*)([@-~])/.exec(data.slice(i, i + 32))
      if (csi) {
        const [all, priv, params, , final] = csi
        const n = params ? parseInt(params.split(";")[0] || "1", 10) : 1
        if (!priv) {
          if (final === "A") row = Math.max(0, row - n)
          else if (final === "B") row += n
          else if (final === "C") col += n
          else if (final === "D") col = Math.max(0, col - n)
          else if (final === "G") col = Math.max(0, (params ? n : 1) - 1)
          else if (final === "K") {
            const mode = params ? parseInt(params, 10) : 0
            const l = line()
            if (mode === 2) l.length = 0
            else if (mode === 0) l.length = Math.min(l.length, col)
            else for (let k = 0; k < Math.min(col + 1, l.length); k++) l[k] = " "
          } else if (final === "J") {
            const mode = params ? parseInt(params, 10) : 0
            if (mode === 2 || mode === 3) {
              lines.length = 0
              lines.push([])
              row = 0
              col = 0
            } else if (mode === 0) {
              line().length = Math.min(line().length, col)
              lines.length = row + 1
            }
          } else if (final === "H") {
            const [r, c] = (params || "1;1").split(";").map((x) => parseInt(x || "1", 10))
            row = (r ?? 1) - 1
            col = (c ?? 1) - 1
          }
        }
        i += all.length
        continue
      }
      const osc = /^\u001b\][^\u0007]*(\u0007|\u001b\\)/.exec(data.slice(i, i + 256))
      i += osc ? osc[0].length : 2
      continue
    }
    if (ch === "\r") col = 0
    else if (ch === "\n") {
      row += 1
      col = 0
      while (lines.length <= row) lines.push([])
    } else if (ch === "\b") col = Math.max(0, col - 1)
    else if (ch >= " " || ch === "\t") put(ch)
    i += 1
  }
  const out = lines.map((l) => l.join("").replace(/\s+$/, ""))
  while (out.length && out[out.length - 1] === "") out.pop()
  return out
}
