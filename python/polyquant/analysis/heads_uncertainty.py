"""How sure the head classification is: a paired bootstrap over each language's windows.

Every ablation of an attention-heads run is evaluated on the same windows as the unablated model,
so one replicate draws one index set per language (with replacement) and recomputes, from that
draw, every head's

    Δ_r[h, L] = (Σ NLL_{−h} − Σ NLL) / Σ T      over the drawn windows of L,

then the rule (analysis/heads.py) on Δ_r: which heads are specific, the share overall, per layer
and per language, and the share in critical layers minus the share elsewhere. Reported:

- per head: P(specific), the share of replicates in which the rule calls it specific, and a 95%
  CI of Δ per language;
- the overall and per-layer share's 95% CI, and each language's count CI;
- with critical layers: the CI of share_in − share_elsewhere and P(share_in > share_elsewhere);
- `stable`: the share of heads whose classification agrees with the point one in ≥ 95% of
  replicates, and the minimum detectable effect per language, 1.96 × the bootstrap SD of Δ
  averaged over the heads: an ablation effect below it cannot be told from 0 on this corpus.
"""

from __future__ import annotations

import numpy as np

from .bootstrap import BootstrapConfig, counts_matrix, percentile_ci, resample_indices

Z = 1.959963984540054
STABLE = 0.95  # a head's classification is stable when ≥ this share of replicates agrees with it


def replicate_deltas(base: np.ndarray, tokens: np.ndarray, ablated: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Δ_r for every head: base (n,), tokens (n,), ablated (H, n) per-window NLL sums; idx (R, n).
    Returns (H, R). Counts of each window per replicate turn the sums into one matrix product."""
    counts = counts_matrix(idx, base.size)  # (R, n)
    tok = counts @ tokens  # (R,)
    return (ablated @ counts.T - (counts @ base)[None, :]) / tok[None, :]


def specific_mask(delta: np.ndarray, k: float, floor: float) -> np.ndarray:
    """delta (H, nL, R) → bool (H, nL, R): Δ[h, L] ≥ max(floor, k · median_{L'≠L} Δ[h, L'])."""
    n_lang = delta.shape[1]
    out = np.zeros(delta.shape, dtype=bool)
    for i in range(n_lang):
        others = np.median(np.delete(delta, i, axis=1), axis=1)  # (H, R)
        out[:, i] = delta[:, i] >= np.maximum(floor, k * others)
    return out


def head_uncertainty(
    layers: int,
    heads: int,
    langs: list[str],
    base: dict[str, list[float]],
    tokens: dict[str, list[int]],
    ablated: dict[str, np.ndarray],
    k: float,
    floor: float,
    point_specific: list[list[str]],
    critical: list[int] | None,
    boot: BootstrapConfig,
) -> dict:
    """`ablated[lang]`: (layers·heads, n_windows) per-window NLL sums with each head ablated, in
    (layer, head) order; `point_specific`: the point rule's languages per head, same order."""
    rng = np.random.default_rng(boot.seed)
    deltas = []
    for lang in langs:
        b, t = np.asarray(base[lang], dtype=np.float64), np.asarray(tokens[lang], dtype=np.float64)
        idx = resample_indices(rng, b.size, boot.samples)
        deltas.append(replicate_deltas(b, t, np.asarray(ablated[lang], dtype=np.float64), idx))
    delta = np.stack(deltas, axis=1)  # (H, nL, R)
    spec = specific_mask(delta, k, floor)  # (H, nL, R)
    any_spec = spec.any(axis=1)  # (H, R): a head specific to several languages counts once
    n_heads = layers * heads

    per_head = []
    point_any = np.array([bool(s) for s in point_specific])
    agree = (any_spec == point_any[:, None]).mean(axis=1)  # (H,)
    for h in range(n_heads):
        per_head.append(
            {
                "p_specific": float(any_spec[h].mean()),
                "delta_ci": {lang: list(percentile_ci(delta[h, i])) for i, lang in enumerate(langs)},
            }
        )
    by_layer = any_spec.reshape(layers, heads, -1).mean(axis=1)  # (layers, R)
    out = {
        "bootstrap": boot.record(),
        "heads": per_head,
        "share_specific_ci": list(percentile_ci(any_spec.mean(axis=0))),
        "per_layer": [{"layer": i, "share_ci": list(percentile_ci(by_layer[i]))} for i in range(layers)],
        "per_language_ci": {lang: list(percentile_ci(spec[:, i].sum(axis=0).astype(np.float64))) for i, lang in enumerate(langs)},
        "stable": float((agree >= STABLE).mean()),
        "mde": {lang: Z * float(np.mean(np.std(delta[:, i], axis=1, ddof=1))) for i, lang in enumerate(langs)},
        "critical_layers": None,
    }
    if critical is not None and 0 < len(critical) < layers:
        in_c = np.isin(np.arange(layers), critical)
        diff = by_layer[in_c].mean(axis=0) - by_layer[~in_c].mean(axis=0)  # equal heads per layer: shares average
        out["critical_layers"] = {"difference_ci": list(percentile_ci(diff)), "p_holds_more": float((diff > 0).mean())}
    unresolved = [lang for lang, m in out["mde"].items() if m > floor]
    out["note"] = None
    if unresolved:
        out["note"] = (
            f"this corpus cannot resolve an ablation effect of the rule's floor ({floor} nats/token) in "
            + ", ".join(f"{lang} (MDE {out['mde'][lang]:.3g})" for lang in unresolved)
            + "; heads near the threshold may be misclassified: use more windows or a larger corpus, e.g. FLORES+ devtest (README, Corpora)"
        )
    return out
