/**
 * The report as one self-contained HTML file (`polyquant report RUN --html`): the document that
 * report.md is rendered from (write.ts's blocks), every plot inline (its SVG, else its PNG as a
 * data URI), every table sortable by a click on its header, and the workflow file's text. No
 * external file, no network: the page's Content-Security-Policy allows nothing but itself.
 */
import { createHash } from "node:crypto"
import { readFileSync, statSync } from "node:fs"
import { slug } from "./markdown.js"
import type { Block, Cell, Inline, PlotFile } from "./types.js"

const ENTITIES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }

/** Text for an element's content or a quoted attribute value. */
export const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => ENTITIES[c]!)

/** A drawn plot as the page holds it: SVG markup, else a base64 PNG, else why neither could be read. */
export type InlinePlot = { readonly svg: string } | { readonly pngBase64: string } | { readonly problem: string }

/** The workflow file as it reads now, or why it cannot be read. */
export interface WorkflowSource {
  readonly file: string
  readonly text?: string
  readonly problem?: string
  /** modified after the run started: what ran may differ */
  readonly changedSinceRun?: boolean
}

export interface HtmlReport {
  readonly title: string
  readonly blocks: ReadonlyArray<Block>
  /** the drawn plots by plot name; a plot without an entry is shown as not drawn */
  readonly plots: ReadonlyMap<string, InlinePlot>
  readonly workflow?: WorkflowSource
  /** why plots are missing, when drawing failed */
  readonly plotError?: string
}

const MAX_WORKFLOW_BYTES = 1 << 20

/** Read the workflow file (relative paths from the current folder, as `polyquant run` was given it). */
export const readWorkflowSource = (file: string, runStartedAt: number): WorkflowSource => {
  try {
    const stat = statSync(file)
    if (!stat.isFile()) return { file, problem: "not a file" }
    if (stat.size > MAX_WORKFLOW_BYTES) return { file, problem: `${stat.size} bytes, too large to include` }
    return { file, text: readFileSync(file, "utf8"), changedSinceRun: stat.mtimeMs > runStartedAt }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    return { file, problem: code === "ENOENT" ? "no such file from this folder" : (e as Error).message }
  }
}

/** Read each drawn plot's SVG (or, failing that, its PNG) for inlining. */
export const readPlotFiles = (files: ReadonlyArray<PlotFile>): Map<string, InlinePlot> => {
  const out = new Map<string, InlinePlot>()
  for (const f of files) {
    let plot: InlinePlot
    try {
      const svg = readFileSync(f.svg, "utf8")
      if (!/<svg[\s>]/.test(svg)) throw new Error(`${f.svg} holds no <svg> element`)
      plot = { svg }
    } catch (svgError) {
      try {
        plot = { pngBase64: readFileSync(f.png).toString("base64") }
      } catch {
        plot = { problem: (svgError as Error).message }
      }
    }
    out.set(f.name, plot)
  }
  return out
}

/**
 * An SVG file's markup for inlining into the page: without the XML prolog, doctype, comments and
 * metadata, and with its ids (and the references to them) prefixed, so that two plots' ids never
 * collide in one document.
 */
export const inlineSvg = (svg: string, prefix: string, title: string): string => {
  const body = svg
    .replace(/<\?xml[\s\S]*?\?>/g, "")
    .replace(/<!DOCTYPE[^>[]*(\[[\s\S]*?\])?\s*>/gi, "")
    .replace(/<!--[\s\S]*?-->/g, "")
    .replace(/<metadata[\s\S]*?<\/metadata>/g, "")
    .trim()
  const ids = new Set([...body.matchAll(/\sid="([^"]+)"/g)].map((m) => m[1]!))
  return body
    .replace(/(\sid=")([^"]+)"/g, (_, a: string, id: string) => `${a}${prefix}${id}"`)
    .replace(/((?:xlink:)?href=")#([^"]+)"/g, (m, a: string, id: string) => (ids.has(id) ? `${a}#${prefix}${id}"` : m))
    .replace(/url\(#([^)]+)\)/g, (m, id: string) => (ids.has(id) ? `url(#${prefix}${id})` : m))
    .replace(/<svg\b/, `<svg role="img" aria-label="${escapeHtml(title)}"`)
}

const inline = (x: Inline): string =>
  typeof x === "string" ? escapeHtml(x) : x.map((s) => (typeof s === "string" ? escapeHtml(s) : "code" in s ? `<code>${escapeHtml(s.code)}</code>` : `<strong>${escapeHtml(s.strong)}</strong>`)).join("")

const cell = (c: Cell, right: boolean): string => {
  const text = typeof c === "string" ? c : c.text
  const sort = typeof c === "string" ? "" : ` data-sort="${c.sort === null ? "" : String(c.sort)}"`
  return `<td${right ? ' class="num"' : ""}${sort}>${escapeHtml(text)}</td>`
}

const tableHtml = (b: Extract<Block, { kind: "table" }>): string => {
  const head = b.header.map((h, i) => `<th scope="col"${b.right.includes(i) ? ' class="num"' : ""}><button type="button">${escapeHtml(h)}</button></th>`).join("")
  const rows = b.rows.map((r) => `<tr>${r.map((c, i) => cell(c, b.right.includes(i))).join("")}</tr>`).join("\n")
  return `<div class="table"><table class="sortable">\n<thead><tr>${head}</tr></thead>\n<tbody>\n${rows}\n</tbody>\n</table></div>`
}

const plotHtml = (name: string, title: string, plot: InlinePlot | undefined, plotError: string | undefined): string => {
  const id = `plot-${slug(name)}`
  const caption = `<figcaption>${escapeHtml(title)}</figcaption>`
  if (plot && "svg" in plot) return `<figure class="plot" id="${escapeHtml(id)}">\n${inlineSvg(plot.svg, `${id}-`, title)}\n${caption}</figure>`
  if (plot && "pngBase64" in plot) return `<figure class="plot" id="${escapeHtml(id)}"><img src="data:image/png;base64,${plot.pngBase64}" alt="${escapeHtml(title)}">${caption}</figure>`
  const why = plot && "problem" in plot ? plot.problem : (plotError ?? "no plot renderer given")
  return `<figure class="plot missing" id="${escapeHtml(id)}"><p>Not drawn: ${escapeHtml(why)}</p>${caption}</figure>`
}

/** Sort a table by a click on a header: numerically by each cell's first number when every filled cell starts with one (or by its data-sort), as text otherwise; empty cells and "–" last. */
const SORT_SCRIPT = `(() => {
  "use strict";
  const NUMBER = /^\\s*[+\\-\\u2212]?(?:\\d+(?:\\.\\d*)?|\\.\\d+)(?:e[+\\-]?\\d+)?/i;
  const empty = (t) => t === "" || t === "\\u2013" || t === "-";
  const key = (td) => {
    if (td.hasAttribute("data-sort")) return td.dataset.sort === "" ? null : Number(td.dataset.sort);
    const m = NUMBER.exec(td.textContent);
    return m ? Number(m[0].trim().replace("\\u2212", "-")) : null;
  };
  for (const table of document.querySelectorAll("table.sortable")) {
    const headers = [...table.tHead.rows[0].cells];
    headers.forEach((th, col) => th.addEventListener("click", () => {
      const dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
      for (const h of headers) h.removeAttribute("aria-sort");
      th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
      const body = table.tBodies[0];
      const rows = [...body.rows].map((tr) => {
        const td = tr.cells[col];
        const text = td ? td.textContent.trim() : "";
        return { tr, text, missing: !td || (empty(text) && !(td.dataset.sort ?? "")), num: td ? key(td) : null };
      });
      const numeric = rows.some((r) => !r.missing) && rows.every((r) => r.missing || (r.num !== null && !Number.isNaN(r.num)));
      const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });
      rows.sort((a, b) => {
        if (a.missing || b.missing) return Number(a.missing) - Number(b.missing);
        return dir * (numeric ? a.num - b.num : collator.compare(a.text, b.text));
      });
      for (const r of rows) body.appendChild(r.tr);
    }));
  }
})();`

const STYLE = `
:root { color-scheme: light; --line: #d0d7de; --muted: #57606a; --head: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 72rem; padding: 1.5rem 2rem 4rem; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif; color: #1f2328; background: #fff; }
h1 { font-size: 1.6rem; margin: 0 0 0.75rem; }
h2 { font-size: 1.3rem; margin: 2rem 0 0.5rem; padding-bottom: 0.25rem; border-bottom: 1px solid var(--line); }
h3 { font-size: 1.1rem; margin: 1.5rem 0 0.5rem; }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.9em; }
code { background: var(--head); padding: 0.1em 0.3em; border-radius: 4px; }
pre { background: var(--head); padding: 0.75rem 1rem; overflow: auto; border-radius: 6px; border: 1px solid var(--line); }
pre code { background: none; padding: 0; }
nav.toc { font-size: 0.9rem; columns: 16rem; margin: 1rem 0; padding: 0.5rem 1rem; background: var(--head); border-radius: 6px; }
nav.toc a { display: block; color: #0969da; text-decoration: none; }
nav.toc a.sub { padding-left: 1rem; }
div.table { overflow-x: auto; margin: 0.5rem 0 1rem; }
table { border-collapse: collapse; font-size: 0.9rem; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid var(--line); padding: 0.3rem 0.6rem; text-align: left; vertical-align: top; }
th { background: var(--head); white-space: nowrap; }
th button { all: unset; cursor: pointer; font-weight: 600; }
th button:focus-visible { outline: 2px solid #0969da; }
th[aria-sort=ascending] button::after { content: " \\25B2"; font-size: 0.7em; }
th[aria-sort=descending] button::after { content: " \\25BC"; font-size: 0.7em; }
th.num, td.num { text-align: right; }
tbody tr:nth-child(even) { background: #fafbfc; }
figure.plot { margin: 1rem 0 1.5rem; }
figure.plot svg, figure.plot img { display: block; max-width: 100%; height: auto; }
figure.plot figcaption { color: var(--muted); font-size: 0.9rem; font-style: italic; }
figure.missing p { color: var(--muted); border: 1px dashed var(--line); padding: 1rem; margin: 0; }
details { margin: 0.5rem 0 1rem; }
summary { cursor: pointer; }
p.note { border-left: 4px solid #bf8700; background: #fff8c5; padding: 0.5rem 1rem; }
`

/** Heading ids: the text's slug, unique in the page. */
const idMaker = () => {
  const used = new Map<string, number>()
  return (text: string): string => {
    const base = `s-${slug(text).toLowerCase()}`
    const n = used.get(base) ?? 0
    used.set(base, n + 1)
    return n === 0 ? base : `${base}-${n + 1}`
  }
}

/** The whole page. Pure: the plots and the workflow text are passed in. */
export const renderHtml = (report: HtmlReport): string => {
  const idOf = idMaker()
  const toc: string[] = []
  const body: string[] = []
  let open = 0 // <section>s open: one per heading of level 2 and 3 on the way down
  const close = (level: 2 | 3) => {
    for (; open >= level - 1; open--) body.push("</section>")
  }
  const section = (level: 2 | 3, text: string) => {
    close(level)
    const id = idOf(text)
    toc.push(`<a href="#${escapeHtml(id)}"${level === 3 ? ' class="sub"' : ""}>${escapeHtml(text)}</a>`)
    body.push(`<section id="${escapeHtml(id)}">`, `<h${level}>${escapeHtml(text)}</h${level}>`)
    open++
  }
  for (const b of report.blocks) {
    switch (b.kind) {
      case "heading":
        if (b.level === 1) body.push(`<h1>${escapeHtml(b.text)}</h1>`)
        else section(b.level, b.text)
        break
      case "paragraph":
        body.push(`<p>${b.lines.map(inline).join("<br>\n")}</p>`)
        break
      case "list":
        body.push(`<ul>\n${b.items.map((i) => `<li>${inline(i)}</li>`).join("\n")}\n</ul>`)
        break
      case "table":
        body.push(tableHtml(b))
        break
      case "code":
        body.push(`<pre><code class="language-${escapeHtml(b.language)}">${escapeHtml(b.text)}</code></pre>`)
        break
      case "plot":
        body.push(plotHtml(b.spec.name, b.spec.title, report.plots.get(b.spec.name), report.plotError))
        break
    }
  }
  if (report.workflow) {
    const w = report.workflow
    section(2, "Workflow file")
    if (w.text !== undefined) {
      const lines = w.text.split("\n").length - (w.text.endsWith("\n") ? 1 : 0)
      const when = w.changedSinceRun ? "as it reads now; it was modified after the run started, so what ran may differ" : "as it reads now, unchanged since the run started"
      body.push("<details>", `<summary><code>${escapeHtml(w.file)}</code> (${lines} lines; ${when})</summary>`, `<pre><code class="language-yaml">${escapeHtml(w.text)}</code></pre>`, "</details>")
    } else {
      body.push(`<p>The workflow file <code>${escapeHtml(w.file)}</code> could not be read: ${escapeHtml(w.problem ?? "unknown reason")}.</p>`)
    }
  }
  close(2)
  if (report.plotError !== undefined) body.push(`<p class="note">Plots could not be drawn: ${escapeHtml(report.plotError)}</p>`)
  const h1 = body.findIndex((l) => l.startsWith("<h1>"))
  // the contents after the run's summary (the title and its list)
  const at = h1 >= 0 && body[h1 + 1]?.startsWith("<ul>") ? h1 + 2 : h1 + 1
  if (toc.length) body.splice(at, 0, `<nav class="toc" aria-label="contents">\n${toc.join("\n")}\n</nav>`)
  const scriptHash = createHash("sha256").update(SORT_SCRIPT).digest("base64")
  const csp = `default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'sha256-${scriptHash}'`
  return [
    "<!doctype html>",
    '<html lang="en">',
    "<head>",
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<meta http-equiv="Content-Security-Policy" content="${csp}">`,
    '<meta name="generator" content="polyquant report --html">',
    '<link rel="icon" href="data:,">',
    `<title>${escapeHtml(report.title)}</title>`,
    `<style>${STYLE}</style>`,
    "</head>",
    "<body>",
    "<main>",
    ...body,
    "</main>",
    `<script>${SORT_SCRIPT}</script>`,
    "</body>",
    "</html>",
    ""
  ].join("\n")
}
