"""Kernel `report-plots`: draw a report's figures (SVG + PNG) from plain-data specs.

params (src/kernels/internal.ts): `{"out_dir": str, "plots": [spec, ...]}` (polyquant.report.plots draws them).
result: `{"files": [{"name", "title", "svg", "png"}, ...]}`. No model, no torch: matplotlib only.
"""

from __future__ import annotations

from ..context import KernelContext
from ..errors import ParameterError
from ..report.plots import render
from .contract import kernel


@kernel("report-plots")
def run(params: dict, ctx: KernelContext) -> dict:
    out_dir, plots = params["out_dir"], params["plots"]
    names = [p["name"] for p in plots]
    dupes = sorted({str(n) for n in names if names.count(n) > 1})
    if dupes:
        raise ParameterError(f"plot names must be unique; repeated: {', '.join(dupes)}")
    files = []
    for i, spec in enumerate(plots):
        files.append(render(spec, out_dir))
        ctx.progress(i + 1, len(plots), "plots", spec.get("name", ""))
    return {"files": files}
