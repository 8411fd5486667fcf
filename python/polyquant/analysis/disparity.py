"""Degradation per language and the disparity index, with paired bootstrap 95% CIs.

Inputs per language ℓ are units i (segments or documents) with baseline and quantized NLL sums
(nats) NLL_b,i and NLL_q,i, scored tokens T_i and UTF-8 bytes B_i. Then

    d_ℓ     = PPL_q / PPL_b − 1 = exp((Σ NLL_q − Σ NLL_b) / Σ T) − 1
    ΔBPB_ℓ  = (Σ NLL_q − Σ NLL_b) / (ln 2 · Σ B)
    index   = mean_{ℓ ≠ ref} d_ℓ / d_ref               (the disparity index)
    gap     = mean_{ℓ ≠ ref} d_ℓ − d_ref               (the additive gap)
    worst   = argmax_ℓ d_ℓ

Each replicate resamples every language's units with replacement (one index set per language,
shared by baseline and quantized: paired), and recomputes all of the above from the same draws,
so the index's CI carries the correlation between the reference and the other languages.
The index is `defined: false` when the reference's d CI contains 0: dividing by a change that is
indistinguishable from none gives a ratio of any size (the fixtures show it). Its value is null
only when d_ref is exactly 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import ParameterError
from .bootstrap import BootstrapConfig, percentile_ci, resample_indices
from .degradation import degradation

LN2 = math.log(2.0)


@dataclass
class LanguageUnits:
    """One language's resampling units (parallel arrays)."""

    nll_base: np.ndarray  # (n,) baseline NLL sum per unit, nats
    nll_quant: np.ndarray  # (n,) quantized NLL sum per unit, nats
    tokens: np.ndarray  # (n,) scored tokens per unit
    bytes: np.ndarray  # (n,) UTF-8 bytes per unit


def _degradation(nb: np.ndarray, nq: np.ndarray, tok: np.ndarray) -> np.ndarray:
    """exp((Σ NLL_q − Σ NLL_b) / Σ T) − 1 along the last axis."""
    return degradation(nb.sum(-1), nq.sum(-1), tok.sum(-1))


def _delta_bpb(nb: np.ndarray, nq: np.ndarray, by: np.ndarray) -> np.ndarray:
    return (nq.sum(-1) - nb.sum(-1)) / (LN2 * by.sum(-1))


def _estimate(value: float | None, reps: np.ndarray) -> dict:
    lo, hi = percentile_ci(reps)
    return {"value": value, "ci": [lo, hi]}


def analyse(langs: dict[str, LanguageUnits], reference: str, cfg: BootstrapConfig) -> dict:
    """Per-language d and ΔBPB, the disparity index, the gap and the worst language, with CIs."""
    if reference not in langs:
        raise ParameterError(f"reference language {reference!r} is not in the corpus languages {', '.join(sorted(langs))}")
    others = [lang for lang in sorted(langs) if lang != reference]
    if not others:
        raise ParameterError(f"disparity needs at least one language besides the reference {reference!r}")
    rng = np.random.default_rng(cfg.seed)
    point_d: dict[str, float] = {}
    rep_d: dict[str, np.ndarray] = {}
    out_langs: dict[str, dict] = {}
    for lang in sorted(langs):  # sorted: the draws do not depend on the corpus's key order
        u = langs[lang]
        nb, nq, tok, by = (np.asarray(a, dtype=np.float64) for a in (u.nll_base, u.nll_quant, u.tokens, u.bytes))
        if tok.sum() <= 0:
            raise ParameterError(f"language {lang!r} has no scored tokens")
        idx = resample_indices(rng, nb.size, cfg.samples)
        point_d[lang] = float(_degradation(nb, nq, tok))
        rep_d[lang] = _degradation(nb[idx], nq[idx], tok[idx])
        out_langs[lang] = {
            "degradation": _estimate(point_d[lang], rep_d[lang]),
            "delta_bpb": _estimate(float(_delta_bpb(nb, nq, by)), _delta_bpb(nb[idx], nq[idx], by[idx])),
        }
    d_ref = point_d[reference]
    mean_other = float(np.mean([point_d[lang] for lang in others]))
    rep_other = np.mean([rep_d[lang] for lang in others], axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        rep_index = rep_other / rep_d[reference]
    ref_lo, ref_hi = out_langs[reference]["degradation"]["ci"]
    disparity = _estimate(mean_other / d_ref if d_ref != 0 else None, rep_index)
    if d_ref == 0:
        disparity.update(defined=False, reason=f"the reference {reference!r} degradation is exactly 0")
    elif ref_lo is None:
        disparity.update(defined=False, reason=f"the reference {reference!r} degradation has no finite bootstrap replicate")
    elif ref_lo <= 0 <= ref_hi:
        disparity.update(
            defined=False,
            reason=f"the reference {reference!r} degradation CI [{ref_lo:.4g}, {ref_hi:.4g}] contains 0, so the ratio is unbounded",
        )
    else:
        disparity["defined"] = True
    return {
        "languages": out_langs,
        "disparity": disparity,
        "gap": _estimate(mean_other - d_ref, rep_other - rep_d[reference]),
        "worst_language": max(sorted(point_d), key=lambda lang: point_d[lang]),
    }
