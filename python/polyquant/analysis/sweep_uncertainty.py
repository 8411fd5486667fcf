"""Uncertainty of a layer sweep: paired bootstrap CIs per configuration, and how sure the ranking is.

Every configuration c of a sweep is evaluated on the same windows, so one bootstrap replicate
resamples each language's windows once (one index set per language, shared by the baseline, the
all-quantized model and every configuration: paired) and recomputes, from the same draw,

    d_ℓ(c) = exp((Σ NLL_c − Σ NLL_b) / Σ T) − 1,  mean(c) = mean_ℓ d_ℓ(c),
    disparity(c) = mean_{ℓ≠ref} d_ℓ(c) / d_ref(c),
    score(g)     = all.mean − row.mean  (protect-one)   or   row.mean  (quantize-one),

so that each row's interval, each score's interval and the ranking all come from one distribution
of corpora. Reported per critical group: the score's 95% CI, whether it excludes 0 (protect-one:
protecting the group measurably lowers the mean; quantize-one: quantizing it alone measurably
hurts), and P(top k): the share of replicates in which the group ranks among the k highest.
The minimum detectable effect of language ℓ, 1.96 × the bootstrap standard deviation of
d_ℓ(c) − d_ℓ(all) averaged over the configurations, says how large a difference between two
configurations this corpus can resolve.
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np

from .bootstrap import BootstrapConfig, percentile_ci, resample_indices

Z = 1.959963984540054


def _d(base: np.ndarray, quant: np.ndarray, tok: np.ndarray) -> np.ndarray:
    """d over the last axis (windows): exp((Σ q − Σ b) / Σ T) − 1."""
    return np.expm1((quant.sum(axis=-1) - base.sum(axis=-1)) / tok.sum(axis=-1))


def sweep_uncertainty(
    base: dict[str, np.ndarray],
    tokens: dict[str, np.ndarray],
    configs: dict[str, dict[str, np.ndarray]],
    all_id: str,
    rows: list[tuple[str, list[int]]],
    mode: str,
    reference: Optional[str],
    boot: BootstrapConfig,
    top_k: int,
) -> dict:
    """`configs`: configuration id → language → per-window NLL; `rows`: (configuration id, group) in
    row order; `all_id` names the all-quantized configuration. Returns CIs per row (and for all),
    per-group ranking statistics (rows order), and the minimum detectable effect per language."""
    languages = sorted(base)
    rng = np.random.default_rng(boot.seed)
    ids = [all_id] + [cid for cid, _ in rows]
    reps: dict[str, dict[str, np.ndarray]] = {cid: {} for cid in ids}  # cid → lang → (R,) replicate d
    for lang in languages:
        idx = resample_indices(rng, base[lang].size, boot.samples)  # (R, n), shared by every configuration
        b, t = base[lang][idx], tokens[lang][idx]
        for cid in ids:
            reps[cid][lang] = _d(b, configs[cid][lang][idx], t)

    def summary(cid: str) -> dict:
        d_ci = {lang: list(percentile_ci(reps[cid][lang])) for lang in languages}
        mean_reps = np.mean([reps[cid][lang] for lang in languages], axis=0)
        out = {"degradation_ci": d_ci, "mean_ci": list(percentile_ci(mean_reps))}
        if reference in languages and len(languages) > 1:
            others = [lang for lang in languages if lang != reference]
            with np.errstate(divide="ignore", invalid="ignore"):
                index = np.mean([reps[cid][lang] for lang in others], axis=0) / reps[cid][reference]
            point_ref = float(_d(base[reference], configs[cid][reference], tokens[reference]))
            point = float(np.mean([_d(base[lang], configs[cid][lang], tokens[lang]) for lang in others]))
            lo, hi = d_ci[reference]
            defined = point_ref != 0 and lo is not None and not (lo <= 0 <= hi)
            out["disparity"] = {"value": point / point_ref if point_ref != 0 else None, "ci": list(percentile_ci(index)), "defined": bool(defined)}
            if not defined:
                out["disparity"]["reason"] = f"the reference {reference!r} degradation CI contains 0, so the ratio is unbounded"
        return out, mean_reps

    all_summary, all_mean = summary(all_id)
    row_summaries, scores = [], []
    for cid, _ in rows:
        s, mean_reps = summary(cid)
        row_summaries.append(s)
        scores.append(all_mean - mean_reps if mode == "protect-one" else mean_reps)
    ranking = []
    if scores:
        S = np.stack(scores)  # (G, R)
        k = min(top_k, S.shape[0])
        # rank per replicate: ties broken by row order, as the point ranking does
        order = np.argsort(-S + 1e-15 * np.arange(S.shape[0])[:, None], axis=0, kind="stable")
        top = np.zeros_like(S, dtype=bool)
        np.put_along_axis(top, order[:k], True, axis=0)
        for g in range(S.shape[0]):
            lo, hi = percentile_ci(S[g])
            ranking.append({"score_ci": [lo, hi], "p_top_k": float(top[g].mean()), "separated": bool(lo is not None and (lo > 0 or hi < 0))})
    mde = {}
    for lang in languages:
        sds = [float(np.std(reps[cid][lang] - reps[all_id][lang], ddof=1)) for cid, _ in rows if cid != all_id]
        mde[lang] = Z * float(np.mean(sds)) if sds and all(math.isfinite(x) for x in sds) else None
    return {"all": all_summary, "rows": row_summaries, "ranking": ranking, "mde": mde, "top_k": min(top_k, len(rows))}
