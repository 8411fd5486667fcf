"""Kernel `report-plots`: draw a report's figures (SVG + PNG) from plain-data specs.

params: `{"out_dir": str, "plots": [spec, ...]}` (see polyquant.report.plots for the spec kinds).
result: `{"files": [{"name", "title", "svg", "png"}, ...]}`. No model, no torch: matplotlib only.
"""

from __future__ import annotations

from ..context import KernelContext
from ..errors import ParameterError
from ..report.plots import render

VERSION = "1"


def run(params: dict, ctx: KernelContext) -> dict:
    out_dir = params.get("out_dir")
    if not isinstance(out_dir, str) or not out_dir:
        raise ParameterError(f"report-plots needs out_dir (a folder), got {out_dir!r}")
    plots = params.get("plots")
    if not isinstance(plots, list):
        raise ParameterError(f"report-plots needs plots (a list of specs), got {type(plots).__name__}")
    names = [p.get("name") for p in plots if isinstance(p, dict)]
    dupes = sorted({str(n) for n in names if names.count(n) > 1})
    if dupes:
        raise ParameterError(f"plot names must be unique; repeated: {', '.join(dupes)}")
    files = []
    for i, spec in enumerate(plots):
        if not isinstance(spec, dict):
            raise ParameterError(f"plot {i} is a {type(spec).__name__}, not an object")
        files.append(render(spec, out_dir))
        ctx.progress(i + 1, len(plots), "plots", spec.get("name", ""))
    return {"files": files}
