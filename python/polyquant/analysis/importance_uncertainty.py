"""How sure a layer-importance ranking is: every criterion as a statistic of per-window terms,
re-evaluated on bootstrap draws of the windows.

Each criterion of analysis/importance.py is a function of sums over windows n (N per language):

    fisher, hessian_trace:  S_ℓ = Σ_n x[n, ℓ] / Σ_n 1          (x: the window's term)
    block_influence:        1 − Σ_n cos[n, ℓ] / Σ_n P[n]        (P: positions of window n)
    activation_variance:    mean_d (Σ_n s2[n,ℓ,d] / Σ_n P[n] − (Σ_n s1[n,ℓ,d] / Σ_n P[n])²)
    quant_sensitivity:      expm1((Σ_n q[n, ℓ] − Σ_n b[n]) / Σ_n T[n])

so a replicate is the same formula with each window weighted by how often the draw took it (a
count matrix C, R × N): point values are C = 1. One index draw per language (numpy PCG64 seeded
with [seed, language position]) serves every criterion, so the criteria's replicates are paired
and a Spearman ρ between two criteria has a CI too. The Hutchinson trace's own sampling noise is
in each window's term, so its bootstrap covers both. Reported per criterion and layer: the 95% CI
and P(top k), the share of replicates in which the layer ranks among the k highest; the top k is
`stable` when every layer of the point top k has P(top k) ≥ 0.95.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats

from .bootstrap import BootstrapConfig, counts_matrix, percentile_ci, resample_indices

STABLE = 0.95  # a top-k membership is trusted when ≥ this share of replicates agrees
CHUNK = 64  # replicates evaluated at once for activation variance (R × L·d floats)


def draw_counts(boot: BootstrapConfig, lang_position: int, n: int) -> np.ndarray:
    rng = np.random.default_rng([boot.seed, lang_position])
    return counts_matrix(resample_indices(rng, n, boot.samples), n)


def score(kind: str, terms: dict, C: np.ndarray) -> np.ndarray:
    """The criterion `kind` from its per-window `terms` under window weights C (R, N) → (R, L)."""
    if kind in ("fisher", "hessian_trace"):
        return (C @ terms["x"]) / C.sum(axis=1, keepdims=True)
    if kind == "block_influence":
        return 1.0 - (C @ terms["cos"]) / (C @ terms["positions"])[:, None]
    if kind == "activation_variance":
        s1, s2 = terms["s1"], terms["s2"]  # (N, L, d)
        N, L, d = s1.shape
        out = np.empty((C.shape[0], L))
        for r in range(0, C.shape[0], CHUNK):
            c = C[r : r + CHUNK]
            p = (c @ terms["positions"])[:, None, None]
            mean = (c @ s1.reshape(N, -1)).reshape(-1, L, d) / p
            var = (c @ s2.reshape(N, -1)).reshape(-1, L, d) / p - mean * mean
            out[r : r + CHUNK] = np.clip(var, 0, None).mean(axis=2)
        return out
    if kind == "quant_sensitivity":
        with np.errstate(invalid="ignore"):
            return np.expm1(((C @ terms["q"]) - (C @ terms["base"])[:, None]) / (C @ terms["tokens"])[:, None])
    raise ValueError(f"no statistic for criterion {kind!r}")


def ranking_summary(point: list, reps: np.ndarray, top_k: int) -> dict:
    """Per layer: 95% CI and P(top k) from (R, L) replicates; undefined layers (None/NaN) rank last."""
    L = reps.shape[1]
    k = min(top_k, L)
    filled = np.where(np.isfinite(reps), reps, -np.inf)
    order = np.argsort(-filled, axis=1, kind="stable")[:, :k]  # ties: lower layer first, as the point ranking
    top = np.zeros_like(filled, dtype=bool)
    np.put_along_axis(top, order, True, axis=1)
    p_top = top.mean(axis=0)
    defined = [i for i in range(L) if point[i] is not None and np.isfinite(point[i])]
    point_top = sorted(defined, key=lambda i: -point[i])[:k]
    return {
        "layers": [
            {"layer": i, "ci": list(percentile_ci(reps[:, i])) if i in defined else [None, None], "p_top_k": float(p_top[i])}
            for i in range(L)
        ],
        "top_k": point_top,
        "stable": bool(all(p_top[i] >= STABLE for i in point_top)),
    }


def rho_ci(a: np.ndarray, b: np.ndarray) -> list:
    """95% CI of Spearman ρ across layers between two criteria's paired (R, L) replicates."""
    ok = np.isfinite(a).all(axis=0) & np.isfinite(b).all(axis=0)
    if ok.sum() < 3:
        return [None, None]
    rhos = []
    for ra, rb in zip(a[:, ok], b[:, ok]):
        if np.ptp(ra) > 0 and np.ptp(rb) > 0:
            rhos.append(stats.spearmanr(ra, rb)[0])
    return list(percentile_ci(np.asarray(rhos))) if rhos else [None, None]


def importance_uncertainty(
    langs: list[str], criteria: list[str], point: dict, replicates: dict, mean_point: dict, top_k: int, boot: BootstrapConfig
) -> dict:
    """`point[lang][c]` per-layer point values, `replicates[lang][c]` (R, L) arrays; `mean_point[c]`
    the mean over languages. The mean's replicates average the languages' replicates r by r."""
    out = {"bootstrap": boot.record(), "top_k": top_k, "per_language": {}, "mean": {}, "correlations": []}
    for lang in langs:
        out["per_language"][lang] = {c: ranking_summary(point[lang][c], replicates[lang][c], top_k) for c in criteria}
    mean_reps = {}
    for c in criteria:
        stacked = np.stack([replicates[lang][c] for lang in langs])  # (nL, R, L)
        with warnings.catch_warnings():  # a layer undefined in every language stays NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            mean_reps[c] = np.nanmean(np.where(np.isfinite(stacked), stacked, np.nan), axis=0)
        out["mean"][c] = ranking_summary(mean_point[c], mean_reps[c], top_k)
    for i, a in enumerate(criteria):
        for b in criteria[i + 1 :]:
            out["correlations"].append({"a": a, "b": b, "rho_ci": rho_ci(mean_reps[a], mean_reps[b])})
    unstable = [c for c in criteria if not out["mean"][c]["stable"]]
    out["note"] = None
    if unstable:
        out["note"] = (
            f"the top {top_k} layers by {', '.join(unstable)} change across bootstrap draws of the windows (some P(top k) < {STABLE}): "
            "this corpus cannot settle the ranking; use more windows or a larger corpus, e.g. FLORES+ devtest (README, Corpora)"
        )
    return out
