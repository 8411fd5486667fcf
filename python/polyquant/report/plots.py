"""Plots for `polyquant report`, drawn with matplotlib (Agg backend) as SVG and PNG.

The TypeScript report builder decides *what* to plot and sends plain-data specs; this module only
draws them. Three kinds cover the report:

- `bars`: one bar per language and series, with 95% CI whiskers (per-language degradation
  d = PPL_q/PPL_b − 1; several series compare configurations, e.g. calibration sets);
- `heatmap`: a matrix with labelled rows and columns (layer × language degradation of a sweep);
- `correlation`: a symmetric matrix in [-1, 1], annotated (Spearman ρ between layer-importance criteria);
- `lines`: one marked line per series through (x, y) points sorted by x, with 95% CI whiskers
  and an optional dashed bound (the allocation's Pareto curves: bits per weight vs worst-language d);
- `scatter`: labelled points with 95% CI whiskers and a least-squares line (perplexity degradation
  against the accuracy drop across languages, KAGGLE-003).

Every figure has a title and labelled axes (units in the labels). SVG text stays text
(`svg.fonttype = none`), so titles can be searched and tested; output is deterministic
(no dates in the metadata, a fixed SVG hash salt).
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..errors import ParameterError  # noqa: E402

log = logging.getLogger("polyquant.report")

KINDS = ("bars", "heatmap", "correlation", "scatter", "lines")


@dataclass
class FigureStyle:
    width_in: float = 7.0  # figure width in inches (PNG pixels = inches × dpi)
    height_in: float = 4.2  # figure height in inches for bar charts; heatmaps grow with rows
    dpi: int = 100  # PNG resolution
    max_name_len: int = 80  # longest file stem accepted (names come from step ids)


def _finite(x: Any) -> float:
    """A number or NaN (nulls and non-finite values become gaps in a plot)."""
    if x is None:
        return math.nan
    try:
        v = float(x)
    except (TypeError, ValueError):
        raise ParameterError(f"plot value {x!r} is not a number") from None
    return v if math.isfinite(v) else math.nan


def _require(spec: dict, key: str, kind: str) -> Any:
    if key not in spec or spec[key] in (None, ""):
        raise ParameterError(f"{kind} plot {spec.get('name', '?')!r} needs {key!r}")
    return spec[key]


def _matrix(values: Sequence[Sequence[Any]], n_rows: int, n_cols: int, name: str) -> np.ndarray:
    if len(values) != n_rows or any(len(r) != n_cols for r in values):
        shape = f"{len(values)}×{[len(r) for r in values]}"
        raise ParameterError(f"plot {name!r}: values have shape {shape}, expected {n_rows}×{n_cols} (rows × columns)")
    return np.array([[_finite(v) for v in row] for row in values], dtype=float)


def _title_width(spec: dict) -> float:
    """Inches a one-line title needs at the default 12 pt (about 0.1 in per character, plus margins)."""
    return 0.095 * len(str(spec.get("title", ""))) + 1.0


def _bars(spec: dict, style: FigureStyle):
    name = spec["name"]
    categories = list(_require(spec, "categories", "bars"))
    series = list(_require(spec, "series", "bars"))
    n = len(categories)
    fig, ax = plt.subplots(figsize=(max(style.width_in, 0.5 * n * max(1, len(series)) + 2, _title_width(spec)), style.height_in))
    width = 0.8 / max(1, len(series))
    x = np.arange(n)
    for k, s in enumerate(series):
        values = np.array([_finite(v) for v in s["values"]], dtype=float)
        if len(values) != n:
            raise ParameterError(f"bars plot {name!r}: series {s.get('label')!r} has {len(values)} values for {n} categories")
        offset = (k - (len(series) - 1) / 2) * width
        lo, hi = s.get("lo"), s.get("hi")
        yerr = None
        if lo is not None and hi is not None:
            lo_a = np.array([_finite(v) for v in lo], dtype=float)
            hi_a = np.array([_finite(v) for v in hi], dtype=float)
            # whiskers from the point estimate to each CI bound (no whisker where the CI is unknown)
            yerr = np.vstack([np.nan_to_num(values - lo_a, nan=0.0), np.nan_to_num(hi_a - values, nan=0.0)]).clip(min=0)
        ax.bar(x + offset, np.nan_to_num(values, nan=0.0), width, yerr=yerr, capsize=3, label=s.get("label") or None)
    ax.set_xticks(x, categories)
    ax.axhline(0, color="black", linewidth=0.8)
    if spec.get("reference_line") is not None:
        ax.axhline(_finite(spec["reference_line"]), color="gray", linestyle="--", linewidth=0.8)
    if len(series) > 1 or spec.get("legend"):
        # headroom above the tallest whisker so the legend does not cover bars
        lo_y, hi_y = ax.get_ylim()
        ax.set_ylim(lo_y, hi_y + 0.12 * len(series) * (hi_y - lo_y))
        ax.legend(title=spec.get("legend_title"), fontsize="small", loc="upper left")
    ax.grid(axis="y", alpha=0.3)
    return fig, ax


def _scatter(spec: dict, style: FigureStyle):
    points = list(_require(spec, "points", "scatter"))
    fig, ax = plt.subplots(figsize=(max(style.width_in, _title_width(spec)), style.height_in))
    for p in points:
        x, y = _finite(p["x"]), _finite(p["y"])

        def err(lo_key: str, hi_key: str, v: float):
            lo, hi = _finite(p.get(lo_key)), _finite(p.get(hi_key))
            return None if math.isnan(lo) or math.isnan(hi) else [[max(0.0, v - lo)], [max(0.0, hi - v)]]

        ax.errorbar([x], [y], yerr=err("y_lo", "y_hi", y), xerr=err("x_lo", "x_hi", x), fmt="o", capsize=3, color="tab:blue")
        ax.annotate(str(p["label"]), (x, y), textcoords="offset points", xytext=(5, 5), fontsize=9)
    fit = spec.get("fit")
    if fit is not None and points:
        xs = np.array([_finite(p["x"]) for p in points], dtype=float)
        grid = np.linspace(np.nanmin(xs), np.nanmax(xs), 50)
        ax.plot(grid, _finite(fit["intercept"]) + _finite(fit["slope"]) * grid, color="gray", linestyle="--", linewidth=1)
    if spec.get("note"):
        ax.text(0.98, 0.03, str(spec["note"]), transform=ax.transAxes, ha="right", va="bottom", fontsize=9,
                bbox={"facecolor": "white", "alpha": 0.85, "edgecolor": "none"})
    ax.axhline(0, color="black", linewidth=0.6)
    ax.grid(alpha=0.3)
    return fig, ax


def _lines(spec: dict, style: FigureStyle):
    series = list(_require(spec, "series", "lines"))
    fig, ax = plt.subplots(figsize=(max(style.width_in, _title_width(spec)), style.height_in))
    markers = "osD^vP*X"
    for k, s in enumerate(series):
        pts = sorted(s["points"], key=lambda p: _finite(p["x"]))
        xs = [_finite(p["x"]) for p in pts]
        ys = [_finite(p["y"]) for p in pts]
        lo = [_finite(p.get("y_lo")) for p in pts]
        hi = [_finite(p.get("y_hi")) for p in pts]
        err = None
        if any(not math.isnan(v) for v in lo + hi):
            err = [[max(0.0, y - v) if not math.isnan(v) else 0.0 for y, v in zip(ys, lo)], [max(0.0, v - y) if not math.isnan(v) else 0.0 for y, v in zip(ys, hi)]]
        ax.errorbar(xs, ys, yerr=err, marker=markers[k % len(markers)], capsize=3, linewidth=1.2, markersize=5, label=str(s["label"]))
    if spec.get("reference_line") is not None:
        ax.axhline(_finite(spec["reference_line"]), color="gray", linestyle="--", linewidth=1, label="bound")
    ax.legend(fontsize="small", loc="upper right")
    ax.grid(alpha=0.3)
    return fig, ax


def _text_colour(im, value: float) -> str:
    """White on a dark cell, black on a light one, by the cell's own colour (relative luminance),
    so a diverging map's dark red and dark blue ends both get white text and its pale middle black."""
    r, g, b, _ = im.cmap(im.norm(value))
    return "white" if 0.2126 * r + 0.7152 * g + 0.0722 * b < 0.5 else "black"


def _heatmap(spec: dict, style: FigureStyle, correlation: bool):
    name = spec["name"]
    rows = [str(r) for r in _require(spec, "rows", "heatmap")]
    cols = [str(c) for c in _require(spec, "cols", "heatmap")]
    m = _matrix(_require(spec, "values", "heatmap"), len(rows), len(cols), name)
    height = max(style.height_in, 0.35 * len(rows) + 1.6)
    width = max(style.width_in * 0.8, 0.6 * len(cols) + 3, _title_width(spec))
    fig, ax = plt.subplots(figsize=(width, height))
    if correlation:
        im = ax.imshow(m, cmap="RdBu_r", vmin=-1.0, vmax=1.0)
    else:
        finite = m[np.isfinite(m)]
        vmax = float(np.max(np.abs(finite))) if finite.size else 1.0
        lo = float(np.min(finite)) if finite.size else 0.0
        im = ax.imshow(m, cmap="viridis" if lo >= 0 else "RdBu_r", vmin=0.0 if lo >= 0 else -vmax, vmax=vmax or 1.0, aspect="auto")
    cbar = fig.colorbar(im, ax=ax)
    cbar.set_label(spec.get("colorbar_label") or spec.get("value_label") or "")
    ax.set_xticks(np.arange(len(cols)), cols, rotation=45 if max(map(len, cols), default=0) > 4 else 0)
    ax.set_yticks(np.arange(len(rows)), rows)
    if spec.get("annotate", correlation) and len(rows) * len(cols) <= 400:
        fmt = spec.get("format", "{:.2f}" if correlation else "{:.1f}")
        for i in range(len(rows)):
            for j in range(len(cols)):
                if not np.isfinite(m[i, j]):
                    ax.text(j, i, "n/a", ha="center", va="center", fontsize=7, color="gray")
                else:
                    ax.text(j, i, fmt.format(m[i, j]), ha="center", va="center", fontsize=8, color=_text_colour(im, m[i, j]))
    return fig, ax


def render(spec: dict, out_dir: str, style: Optional[FigureStyle] = None) -> dict:
    """Draw one spec and save `<name>.svg` and `<name>.png` in `out_dir`; return their paths."""
    style = style or FigureStyle()
    kind = spec.get("kind")
    if kind not in KINDS:
        raise ParameterError(f"plot kind {kind!r} is not one of {', '.join(KINDS)}")
    name = str(_require(spec, "name", kind))
    if not name.replace("-", "").replace("_", "").replace(".", "").isalnum() or len(name) > style.max_name_len or name.startswith("."):
        raise ParameterError(f"plot name {name!r} must be a plain file stem (letters, digits, - _ .)")
    title = str(_require(spec, "title", kind))
    xlabel = str(_require(spec, "xlabel", kind))
    ylabel = str(_require(spec, "ylabel", kind))
    plt.rcParams["svg.fonttype"] = "none"  # keep text as <text>, not glyph paths
    plt.rcParams["svg.hashsalt"] = "polyquant"  # deterministic ids
    if kind == "bars":
        fig, ax = _bars(spec, style)
    elif kind == "scatter":
        fig, ax = _scatter(spec, style)
    elif kind == "lines":
        fig, ax = _lines(spec, style)
    else:
        fig, ax = _heatmap(spec, style, correlation=kind == "correlation")
    if kind in ("bars", "scatter", "lines"):
        ax.set_title(title)
    else:
        fig.suptitle(title)  # centred on the figure: a square matrix's axes are narrower than the title
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    fig.tight_layout()
    os.makedirs(out_dir, exist_ok=True)
    svg = os.path.join(out_dir, f"{name}.svg")
    png = os.path.join(out_dir, f"{name}.png")
    fig.savefig(svg, format="svg", metadata={"Title": title, "Date": None})
    fig.savefig(png, format="png", dpi=style.dpi, metadata={"Title": title, "Software": None})
    plt.close(fig)
    log.info("plot %s written to %s", name, out_dir)
    return {"name": name, "title": title, "svg": svg, "png": png}


def render_all(specs: Sequence[dict], out_dir: str, style: Optional[FigureStyle] = None) -> list[dict]:
    """Draw every spec; names must be unique (they are file names)."""
    names = [s.get("name") for s in specs]
    dupes = sorted({n for n in names if names.count(n) > 1 and n is not None})
    if dupes:
        raise ParameterError(f"plot names must be unique; repeated: {', '.join(map(str, dupes))}")
    return [render(s, out_dir, style) for s in specs]
