"""`correlation` kernel (KAGGLE-003): Pearson and Spearman, with p-values, between two measures.

Typical use: x = perplexity degradation per language (and configuration), y = accuracy drop on
the same languages, both from earlier steps. Parameters: `pairs: [{label, x, y}]`, or `x` and `y`
as lists (with optional `labels`) or as maps label → number joined on their keys; optional
`x_name`, `y_name` label the axes in reports. Definitions in polyquant/analysis/correlation.py.
"""

from __future__ import annotations

from ..analysis.correlation import correlate, pairs_from_params
from ..context import KernelContext
from .contract import kernel


@kernel("correlation")
def run(params: dict, ctx: KernelContext) -> dict:
    pairs = pairs_from_params(params)
    out = correlate(pairs)
    out["x_name"] = params["x_name"]
    out["y_name"] = params["y_name"]
    ctx.progress(1, 1, "correlations")
    return out
