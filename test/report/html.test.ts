/**
 * report.html (`polyquant report RUN --html`): the renderer's output checked as text (escaping,
 * plots inline, nothing referenced outside the file, the sort script allowed by the page's CSP),
 * then the written file opened in headless Chromium (playwright-core driving /usr/bin/chromium):
 * no errors, every plot visible, tables sorted by a click, a screenshot that is not blank.
 */
import { createHash } from "node:crypto"
import { existsSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import type { Browser, Page } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest"
import { buildReport, pythonPlotRenderer, writeReport } from "../../src/report/index.js"
import { escapeHtml, inlineSvg, readWorkflowSource, renderHtml } from "../../src/report/html.js"
import { slug } from "../../src/report/markdown.js"
import type { PlotFile, PlotRenderer, PlotSpec, ReportInput } from "../../src/report/types.js"
import { reportInput, storeFixture } from "./fixtures.js"
import { decodePng, encodePng } from "./png.js"

const tmp = mkdtempSync(join(tmpdir(), "pq-report-html-"))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

const xml = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")

/**
 * Real SVG files as matplotlib lays them out: an XML prolog, a doctype with a URL, metadata, and
 * the same ids in every file (a clip path and a background the plot refers to), which the page
 * must keep apart. The PNG beside it is a real one, a single colour per plot.
 */
const fakeSvg = (spec: PlotSpec, i: number): string => `<?xml version="1.0" encoding="utf-8" standalone="no"?>
<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN"
  "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">
<svg xmlns:xlink="http://www.w3.org/1999/xlink" width="360pt" height="240pt" viewBox="0 0 360 240" xmlns="http://www.w3.org/2000/svg" version="1.1">
 <metadata><rdf:RDF xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><dc:type rdf:resource="http://purl.org/dc/dcmitype/StillImage"/></rdf:RDF></metadata>
 <!-- drawn for ${xml(spec.name)} -->
 <defs><clipPath id="clip-area"><rect x="40" y="30" width="300" height="170"/></clipPath><rect id="bar" width="40" height="120"/></defs>
 <rect width="360" height="240" fill="#ffffff"/>
 <g clip-path="url(#clip-area)" fill="hsl(${(i * 67) % 360}, 70%, 45%)">
  <use xlink:href="#bar" x="60" y="80"/><use href="#bar" x="140" y="60"/><use xlink:href="#bar" x="220" y="100"/>
 </g>
 <text x="180" y="18" text-anchor="middle">${xml(spec.title)}</text>
 <text x="180" y="230" text-anchor="middle">${xml(spec.xlabel)}</text>
 <text x="12" y="120" transform="rotate(-90 12 120)" text-anchor="middle">${xml(spec.ylabel)}</text>
</svg>
`

const fakePlots =
  (options: { pngOnly?: ReadonlyArray<string> } = {}): PlotRenderer =>
  (specs, outDir) =>
    Promise.resolve(
      specs.map((spec, i): PlotFile => {
        const svg = join(outDir, `${spec.name}.svg`)
        const png = join(outDir, `${spec.name}.png`)
        if (!options.pngOnly?.includes(spec.name)) writeFileSync(svg, fakeSvg(spec, i))
        writeFileSync(png, encodePng(48, 32, (x, y) => [(x * 5) & 255, (y * 8) & 255, 40 * i]))
        return { name: spec.name, title: spec.title, svg, png }
      })
    )

/** The text between an element's opening tag with this id and its closing tag (no nesting of the same tag). */
const elementById = (html: string, tag: string, id: string): string | undefined => {
  const start = html.indexOf(`<${tag} class="plot" id="${id}">`)
  if (start < 0) return undefined
  return html.slice(start, html.indexOf(`</${tag}>`, start) + tag.length + 3)
}

const scriptOf = (html: string): string => /<script>([\s\S]*?)<\/script>/.exec(html)![1]!

describe("report.html, as written by writeReport with html: true", () => {
  const input = reportInput()
  const built = buildReport(input)
  let html = ""
  let written: Awaited<ReturnType<typeof writeReport>>

  beforeAll(async () => {
    written = await writeReport(input, { outDir: join(tmp, "unit"), plots: fakePlots(), html: true })
    html = readFileSync(written.html!, "utf8")
  })

  it("is written beside report.md, which stays the Markdown it is without --html", () => {
    expect(written.html).toBe(join(tmp, "unit", "report.html"))
    expect(written.plotError).toBeUndefined()
    expect(readFileSync(written.path, "utf8")).toBe(built.markdown)
    expect(html.startsWith("<!doctype html>\n")).toBe(true)
    expect(html).toContain("<title>week1-validation: run r-20261126-week1</title>")
    expect(html).toMatch(/<style>[\s\S]*table[\s\S]*<\/style>/)
  })

  it("holds every plot inline as SVG, with its title, its ids prefixed so that no two plots collide", () => {
    expect(built.plots.length).toBe(6)
    expect(html.split('<figure class="plot"').length - 1).toBe(built.plots.length)
    for (const spec of built.plots) {
      const figure = elementById(html, "figure", `plot-${slug(spec.name)}`)
      expect(figure, spec.name).toBeDefined()
      expect(figure).toMatch(/<svg role="img" aria-label="[^"]+" xmlns:xlink=/)
      expect(figure).toContain(`>${escapeHtml(spec.title)}</text>`)
      expect(figure).toContain(`<figcaption>${escapeHtml(spec.title)}</figcaption>`)
      // the plot's own references point at its own, prefixed ids
      const prefix = `plot-${slug(spec.name)}-`
      expect(figure).toContain(`<clipPath id="${prefix}clip-area">`)
      expect(figure).toContain(`clip-path="url(#${prefix}clip-area)"`)
      expect(figure).toContain(`<use xlink:href="#${prefix}bar"`)
      expect(figure).toContain(`<use href="#${prefix}bar"`)
    }
    const ids = [...html.matchAll(/\sid="([^"]+)"/g)].map((m) => m[1])
    expect(ids.length).toBeGreaterThan(3 * built.plots.length)
    expect(ids.filter((id, i) => ids.indexOf(id) !== i)).toEqual([])
  })

  it("refers to no other file and no URL: every src is a data URI, every href an anchor in the page", () => {
    const refs = [...html.matchAll(/\s(src|href|xlink:href|action|poster)\s*=\s*"([^"]*)"/gi)].map((m) => `${m[1]}=${m[2]}`)
    expect(refs.length).toBeGreaterThan(10)
    expect(refs.filter((r) => !/^(?:src|href|xlink:href)=(?:#|data:)/.test(r))).toEqual([])
    expect(html).not.toMatch(/src="http|href="http|url\((?!#)|@import|<link rel="stylesheet"/)
    // what matplotlib puts around the drawing is gone: the doctype's DTD URL, metadata, comments
    expect(html).not.toContain("svg11.dtd")
    expect(html).not.toContain("<?xml")
    expect(html).not.toContain("<metadata")
    expect(html).not.toContain("<!--")
    expect(html).not.toMatch(/\.(svg|png)"/)
    const csp = /<meta http-equiv="Content-Security-Policy" content="([^"]+)">/.exec(html)?.[1]
    expect(csp).toMatch(/^default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'sha256-[A-Za-z0-9+/]+=*'$/)
  })

  it("renders every table of the report as a sortable HTML table, with the sort script the CSP allows", () => {
    const tables = built.blocks.filter((b) => b.kind === "table")
    expect(tables.length).toBeGreaterThan(8)
    expect(html.split('<table class="sortable">').length - 1).toBe(tables.length)
    for (const t of tables) {
      const head = t.header.map((h, i) => `<th scope="col"${t.right.includes(i) ? ' class="num"' : ""}><button type="button">${escapeHtml(h)}</button></th>`).join("")
      expect(html).toContain(`<thead><tr>${head}</tr></thead>`)
    }
    expect(html).toContain('<td class="num">+12.60% [+8.00%, +17.00%]</td>')
    // durations carry their length, so that 300ms sorts before 6.8s
    expect(html).toContain('<td class="num" data-sort="300">300ms</td>')
    expect(html).toContain('<td class="num" data-sort="12000">12.0s</td>')
    const script = scriptOf(html)
    expect(script).toContain('querySelectorAll("table.sortable")')
    expect(script).toContain('addEventListener("click"')
    const hash = createHash("sha256").update(script).digest("base64")
    expect(html).toContain(`script-src 'sha256-${hash}'`)
  })

  it("has the run's facts, each step's protocol and a contents list linking to every section", () => {
    expect(html).toContain("<li>Status: <strong>succeeded</strong> on local</li>")
    expect(html).toContain("<li>Workflow: week1-validation (<code>workflows/quickstart.yaml</code>)</li>")
    expect(html).toContain("<p>Kernel <code>perplexity</code>, succeeded in")
    expect(html).toContain("Protocol: name=rolling, context=256.")
    expect(html).toContain("<li><strong>Disparity index</strong> (mean non-reference d / d_en): 1.420 [1.100, 1.810]</li>")
    const toc = /<nav class="toc" aria-label="contents">([\s\S]*?)<\/nav>/.exec(html)?.[1] ?? ""
    const targets = [...toc.matchAll(/href="#([^"]+)"/g)].map((m) => m[1]!)
    expect(targets).toContain("s-colab_001")
    expect(targets).toContain("s-workflow-file")
    for (const id of targets) expect(html, id).toContain(`<section id="${id}">`)
    expect(html.split("<section ").length).toBe(html.split("</section>").length)
  })

  it("includes the workflow file's text, as it reads now, in a collapsed <details>", () => {
    const yaml = readFileSync("workflows/quickstart.yaml", "utf8")
    expect(html).toContain(`<details>\n<summary><code>workflows/quickstart.yaml</code> (${yaml.trimEnd().split("\n").length} lines;`)
    expect(html).toContain(`<pre><code class="language-yaml">${escapeHtml(yaml)}</code></pre>`)
  })
})

describe("report.html: escaping, fallbacks and the CLI", () => {
  it("escapes the workflow's name, step ids, error messages and the workflow text", async () => {
    const base = reportInput()
    const file = join(tmp, `wf <"&'>.yaml`)
    writeFileSync(file, 'name: "</code></pre><script>alert(1)</script>"\n')
    const hostile: ReportInput = {
      ...base,
      workflow: { name: `<script>alert("x")</script> & 'q'`, file },
      steps: [
        ...base.steps,
        { id: `odd<b>"&'`, uses: "perplexity", status: "failed", durationMs: 5, error: { type: "CorpusError", message: `bad <img src=x onerror=alert(1)> & "quotes"\nsecond line` } }
      ]
    }
    const out = join(tmp, "hostile")
    const written = await writeReport(hostile, { outDir: out, plots: fakePlots(), html: true })
    const html = readFileSync(written.html!, "utf8")
    expect(html).toContain("<title>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;q&#39;: run r-20261126-week1</title>")
    expect(html).toContain("<h3>odd&lt;b&gt;&quot;&amp;&#39;</h3>")
    expect(html).toContain("CorpusError: bad &lt;img src=x onerror=alert(1)&gt; &amp; &quot;quotes&quot;</td>")
    expect(html).toContain(`<code>${escapeHtml(file)}</code>`)
    expect(html).toContain("name: &quot;&lt;/code&gt;&lt;/pre&gt;&lt;script&gt;alert(1)&lt;/script&gt;&quot;")
    expect(html).not.toContain("<img src=x")
    expect(html).not.toContain("<script>alert")
    expect(html).not.toContain("<b>")
    expect(html.split("<script>").length).toBe(2) // the sort script only
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe("&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;")
  })

  it("says when the workflow file changed after the run started, and when it cannot be read", () => {
    const file = join(tmp, "changed.yaml")
    writeFileSync(file, "name: x\n")
    const at = Date.parse("2026-06-01T00:00:00Z")
    utimesSync(file, new Date(at), new Date(at))
    const page = (startedAt: number, wf = file) => renderHtml({ title: "t", blocks: [], plots: new Map(), workflow: readWorkflowSource(wf, startedAt) })
    expect(page(at + 60_000)).toContain("(1 lines; as it reads now, unchanged since the run started)")
    expect(page(at - 60_000)).toContain("(1 lines; as it reads now; it was modified after the run started, so what ran may differ)")
    expect(page(at, join(tmp, "gone.yaml"))).toContain(`<p>The workflow file <code>${escapeHtml(join(tmp, "gone.yaml"))}</code> could not be read: no such file from this folder.</p>`)
  })

  it("falls back to the PNG as a data URI when a plot's SVG cannot be read", async () => {
    const input = reportInput()
    const specs = buildReport(input).plots
    const name = specs[1]!.name
    const written = await writeReport(input, { outDir: join(tmp, "png"), plots: fakePlots({ pngOnly: [name] }), html: true })
    const html = readFileSync(written.html!, "utf8")
    const figure = elementById(html, "figure", `plot-${slug(name)}`)!
    const b64 = /<img src="data:image\/png;base64,([A-Za-z0-9+/=]+)" alt="([^"]*)">/.exec(figure)
    expect(b64?.[2]).toBe(escapeHtml(specs[1]!.title))
    expect(Buffer.from(b64![1]!, "base64").equals(readFileSync(join(tmp, "png", `${name}.png`)))).toBe(true)
    expect(decodePng(Buffer.from(b64![1]!, "base64")).width).toBe(48)
    expect(html.split("<svg ").length - 1).toBe(specs.length - 1)
  })

  it("shows each plot as not drawn, with the reason, when the plots could not be drawn", async () => {
    const failing: PlotRenderer = () => Promise.reject(new Error("no Python at /nowhere/python <3.10>"))
    const written = await writeReport(reportInput(), { outDir: join(tmp, "failed"), plots: failing, html: true })
    const html = readFileSync(written.html!, "utf8")
    expect(html.split('<figure class="plot missing"').length - 1).toBe(6)
    expect(html).toContain("<p>Not drawn: no Python at /nowhere/python &lt;3.10&gt;</p>")
    expect(html).toContain('<p class="note">Plots could not be drawn: no Python at /nowhere/python &lt;3.10&gt;</p>')
    expect(html).not.toContain("<svg")
  })

  it("polyquant report --html prints report.md's path, then report.html's", async () => {
    const db = join(tmp, "cli", "polyquant.db")
    storeFixture(db).close()
    const out = join(tmp, "cli-out")
    const lines: string[] = []
    const write = vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => (lines.push(String(chunk)), true))
    let code: number
    try {
      const { run } = await import("../../src/cli/commands/report.js")
      code = await run(["r-20261126-week1", "--store", db, "--out", out, "--no-plots", "--html"])
    } finally {
      write.mockRestore()
    }
    expect(code).toBe(0)
    expect(lines.join("")).toBe(`${join(out, "report.md")}\n${join(out, "report.html")}\n`)
    const html = readFileSync(join(out, "report.html"), "utf8")
    expect(html).toContain("<h1>week1-validation: run r-20261126-week1</h1>")
    expect(html).toContain("Not drawn: no plot renderer given")
  })

  it("strips an SVG file to its drawing and prefixes every id and reference to one", () => {
    const svg = `<?xml version="1.0"?>\n<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">\n<svg xmlns="http://www.w3.org/2000/svg"><defs><path id="a"/></defs><use xlink:href="#a"/><use href="#elsewhere"/><g clip-path="url(#a)"/></svg>\n`
    expect(inlineSvg(svg, "p-", "T & <u>")).toBe(
      '<svg role="img" aria-label="T &amp; &lt;u&gt;" xmlns="http://www.w3.org/2000/svg"><defs><path id="p-a"/></defs><use xlink:href="#p-a"/><use href="#elsewhere"/><g clip-path="url(#p-a)"/></svg>'
    )
  })
})

// ---- the written file in a real browser ----

const CHROMIUM = "/usr/bin/chromium"
const ci = (process.env["CI"] ?? "") !== ""

describe("report.html in headless Chromium (playwright-core)", () => {
  if (!existsSync(CHROMIUM)) {
    if (ci) {
      it(`needs Chromium at ${CHROMIUM}: CI is set, so a missing browser fails rather than skips`, () => {
        throw new Error(`no Chromium at ${CHROMIUM}: install it (apt-get install -y chromium; .ci/run does) or unset CI to skip the browser tests`)
      })
    } else {
      it.skip(`skipped: no Chromium at ${CHROMIUM} (apt-get install -y chromium); with CI set this fails instead`, () => undefined)
    }
    return
  }

  let browser: Browser
  let page: Page
  let specs: ReadonlyArray<PlotSpec>
  const consoleErrors: string[] = []
  const pageErrors: string[] = []
  const requests: string[] = []
  let url = ""

  beforeAll(async () => {
    // the plots as matplotlib draws them (the report-plots kernel), as `polyquant report --html` inlines them
    const written = await writeReport(reportInput(), { outDir: join(tmp, "browser"), plots: pythonPlotRenderer(), html: true })
    expect(written.plotError).toBeUndefined()
    specs = buildReport(reportInput()).plots
    url = pathToFileURL(written.html!).href
    const { chromium } = await import("playwright-core")
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true })
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
    page.on("console", (m) => {
      if (m.type() === "error" || m.type() === "warning") consoleErrors.push(`${m.type()}: ${m.text()}`)
    })
    page.on("pageerror", (e) => pageErrors.push(e.message))
    page.on("request", (r) => requests.push(r.url()))
    await page.goto(url, { waitUntil: "load" })
  }, 180_000)

  afterAll(async () => {
    await browser?.close()
  })

  it("loads with no console error or warning, no page error, and requests nothing but itself", () => {
    expect(consoleErrors).toEqual([])
    expect(pageErrors).toEqual([])
    expect(requests).toEqual([url])
  })

  it("shows every plot: rendered at a real size, inside the viewport once scrolled to, and not blank", async () => {
    const plots = page.locator("figure.plot > svg, figure.plot > img")
    expect(await plots.count()).toBe(specs.length)
    const viewport = page.viewportSize()!
    for (let i = 0; i < specs.length; i++) {
      const plot = plots.nth(i)
      await plot.scrollIntoViewIfNeeded()
      expect(await plot.isVisible(), specs[i]!.name).toBe(true)
      const box = (await plot.boundingBox())!
      expect(box.width, specs[i]!.name).toBeGreaterThan(300)
      expect(box.height, specs[i]!.name).toBeGreaterThan(200)
      // boundingBox is relative to the viewport: the plot overlaps it
      expect(box.y < viewport.height && box.y + box.height > 0 && box.x < viewport.width && box.x + box.width > 0, specs[i]!.name).toBe(true)
      const shot = decodePng(await plot.screenshot())
      expect(inkedShare(shot), specs[i]!.name).toBeGreaterThan(0.02)
      expect(distinctColours(shot), specs[i]!.name).toBeGreaterThan(20)
    }
  })

  /** The texts of column `col` of the table under the section with this id. */
  const column = (sectionId: string, col: number) =>
    page.locator(`#${sectionId} table`).first().locator("tbody tr").evaluateAll((rows, c) => rows.map((r) => (r as HTMLTableRowElement).cells[c]!.textContent ?? ""), col)
  const header = (sectionId: string, text: string) => page.locator(`#${sectionId} table`).first().locator("th", { hasText: text }).first()
  const firstNumbers = (cells: string[]) => cells.map((c) => Number.parseFloat(c))
  const ascending = (xs: number[]) => xs.every((x, i) => i === 0 || xs[i - 1]! <= x)

  it("sorts a table by a click on its header: CI cells by their first number, up then down", async () => {
    const before = await column("s-colab_001", 3)
    expect(before[0]).toBe("+12.60% [+8.00%, +17.00%]")
    expect(ascending(firstNumbers(before).map((x) => -x))).toBe(false) // not already in either order
    expect(ascending(firstNumbers(before))).toBe(false)
    const languagesBefore = await column("s-colab_001", 0)
    const th = header("s-colab_001", "d [95% CI]")
    await th.click()
    const up = await column("s-colab_001", 3)
    expect(ascending(firstNumbers(up))).toBe(true)
    expect([...up].sort()).toEqual([...before].sort()) // the same rows, reordered
    expect(await th.getAttribute("aria-sort")).toBe("ascending")
    // whole rows move: each language keeps its own d
    const languagesUp = await column("s-colab_001", 0)
    for (const [i, lang] of languagesUp.entries()) expect(up[i]).toBe(before[languagesBefore.indexOf(lang)])
    await th.click()
    const down = await column("s-colab_001", 3)
    expect(down).toEqual([...up].reverse())
    expect(await th.getAttribute("aria-sort")).toBe("descending")
  })

  it("sorts negative numbers by value, and puts empty cells (–) last in both directions", async () => {
    const dp = header("s-colab_001", "Δp")
    await dp.click()
    const values = firstNumbers(await column("s-colab_001", 6))
    expect(values.every((x) => x < 0)).toBe(true)
    expect(ascending(values)).toBe(true) // -0.0195 first: by value, not by the digits after the sign
    // ρ between criteria: 0.800, -1.000 and one undefined (–)
    const rhoTable = page.locator("#s-importance table").nth(1)
    const rho = () => rhoTable.locator("tbody tr").evaluateAll((rows) => rows.map((r) => (r as HTMLTableRowElement).cells[2]!.textContent))
    const th = rhoTable.locator("th", { hasText: "ρ" }).first()
    await th.click()
    expect(await rho()).toEqual(["-1.000", "0.800", "–"])
    await th.click()
    expect(await rho()).toEqual(["0.800", "-1.000", "–"])
  })

  it("sorts durations by their length, not their text, and names as text", async () => {
    await header("s-steps", "duration").click()
    const durations = await column("s-steps", 3)
    const ms = (d: string) => (d.endsWith("ms") ? Number.parseFloat(d) : Number.parseFloat(d) * 1000)
    expect(ascending(durations.map(ms))).toBe(true)
    expect(durations.indexOf("300ms")).toBeLessThan(durations.indexOf("12.0s"))
    await header("s-steps", "step").click()
    const steps = await column("s-steps", 0)
    expect(steps).toEqual([...steps].sort((a, b) => a.localeCompare(b)))
  })

  it("opens the workflow file's text on a click", async () => {
    const details = page.locator("#s-workflow-file details")
    const pre = details.locator("pre")
    expect(await pre.isVisible()).toBe(false)
    await details.locator("summary").click()
    expect(await pre.isVisible()).toBe(true)
    expect(await pre.textContent()).toBe(readFileSync("workflows/quickstart.yaml", "utf8"))
  })

  it("makes a full-page screenshot that is not blank", async () => {
    const shot = decodePng(await page.screenshot({ fullPage: true }))
    expect(shot.height).toBeGreaterThan(3000)
    expect(inkedShare(shot)).toBeGreaterThan(0.03)
    expect(distinctColours(shot)).toBeGreaterThan(200)
  })
})

/** The share of pixels that are not (near) white. */
const inkedShare = (png: ReturnType<typeof decodePng>): number => {
  let inked = 0
  const n = png.width * png.height
  for (let p = 0; p < n; p++) {
    const o = p * png.channels
    if (png.pixels[o]! < 235 || png.pixels[o + 1]! < 235 || png.pixels[o + 2]! < 235) inked++
  }
  return inked / n
}

const distinctColours = (png: ReturnType<typeof decodePng>): number => {
  const seen = new Set<number>()
  for (let o = 0; o < png.pixels.length; o += png.channels) seen.add((png.pixels[o]! << 16) | (png.pixels[o + 1]! << 8) | png.pixels[o + 2]!)
  return seen.size
}
