/** Minimal structural checks of plot files: a well-formed SVG tree and a PNG header. */
import { readFileSync } from "node:fs"

const decode = (s: string) =>
  s.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&#x([0-9a-f]+);/gi, (_, h) => String.fromCodePoint(parseInt(h, 16))).replace(/&amp;/g, "&")

/** Parse the SVG's element structure (tags must nest and close); return the root tag and all text. */
export const parseSvg = (path: string): { root: string; texts: string[] } => {
  const xml = readFileSync(path, "utf8")
  const body = xml.replace(/<\?xml[\s\S]*?\?>/, "").replace(/<!DOCTYPE[\s\S]*?>/, "").replace(/<!--[\s\S]*?-->/g, "").replace(/<!\[CDATA\[[\s\S]*?\]\]>/g, "")
  const stack: string[] = []
  let root: string | undefined
  const texts: string[] = []
  let textBuf: string | undefined
  const re = /<(\/?)([A-Za-z_][\w:.-]*)((?:\s+[\w:.-]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>|([^<]+)/g
  let m: RegExpExecArray | null
  let consumed = 0
  while ((m = re.exec(body)) !== null) {
    if (m.index !== consumed) throw new Error(`malformed SVG near offset ${consumed}: ${body.slice(consumed, consumed + 40)}`)
    consumed = re.lastIndex
    if (m[5] !== undefined) {
      if (textBuf !== undefined) textBuf += m[5]
      else if (stack.length === 0 && m[5].trim()) throw new Error("text outside the root element")
      continue
    }
    const [, close, name, , selfClose] = m
    if (close) {
      const open = stack.pop()
      if (open !== name) throw new Error(`</${name}> closes <${open}>`)
      if (name === "text" && textBuf !== undefined) {
        texts.push(decode(textBuf))
        textBuf = undefined
      }
    } else {
      if (stack.length === 0) {
        if (root !== undefined) throw new Error("two root elements")
        root = name!
      }
      if (!selfClose) stack.push(name!)
      if (name === "text" && !selfClose) textBuf = ""
    }
  }
  if (consumed !== body.length) throw new Error("trailing garbage in SVG")
  if (stack.length) throw new Error(`unclosed <${stack.join("> <")}>`)
  return { root: root ?? "", texts }
}

/** The PNG signature and the IHDR chunk's width and height. */
export const pngSize = (path: string): { width: number; height: number } => {
  const b = readFileSync(path)
  if (!b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) throw new Error(`${path}: not a PNG signature`)
  if (b.readUInt32BE(8) !== 13 || b.toString("ascii", 12, 16) !== "IHDR") throw new Error(`${path}: first chunk is not IHDR`)
  return { width: b.readUInt32BE(16), height: b.readUInt32BE(20) }
}
