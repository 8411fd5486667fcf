"""The bootstrap of head shares and importance rankings: a replicate equals the analysis re-run on
the windows that replicate drew (an independent computation: the criteria's own code on a
resampled corpus), and P(top k) / P(specific) count what they say."""

import numpy as np
import pytest

from polyquant.analysis import heads, importance as imp
from polyquant.analysis.bootstrap import BootstrapConfig, counts_matrix, resample_indices
from polyquant.analysis.heads_uncertainty import head_uncertainty
from polyquant.analysis.importance_uncertainty import draw_counts, ranking_summary, score
from polyquant.analysis.windows import mean_nll
from polyquant.context import KernelContext
from tests.analysis.tiny import language_windows, plant_language_head, tiny_llama

LANGS = ["en", "he", "ar"]


def test_importance_replicate_equals_the_criteria_on_the_drawn_windows():
    model = tiny_llama(seed=2, layers=3)
    windows = language_windows(["en"], n=4, length=12)["en"]
    boot = BootstrapConfig(samples=12, seed=5)
    C = draw_counts(boot, 0, len(windows))
    rng = np.random.default_rng([5, 0])
    idx = resample_indices(rng, len(windows), 12)
    assert np.array_equal(C, counts_matrix(idx, len(windows)))
    act = imp.activation_terms(model, windows, batch_size=3)
    fis = imp.fisher_terms(model, windows)
    for r in (0, 7):
        drawn = [windows[i] for i in idx[r]]
        var, bi = imp.activation_stats(model, drawn, batch_size=3)
        assert score("activation_variance", act, C[r : r + 1])[0] == pytest.approx(var, rel=1e-9)
        assert score("block_influence", act, C[r : r + 1])[0] == pytest.approx(bi, rel=1e-9)
        assert score("fisher", fis, C[r : r + 1])[0] == pytest.approx(imp.diagonal_fisher(model, drawn), rel=1e-9)


def test_ranking_summary_counts_top_k_and_stability():
    reps = np.array([[3.0, 2.0, 1.0], [3.0, 1.0, 2.0], [1.0, 2.0, 3.0], [3.0, 2.5, 0.0]])
    out = ranking_summary([3.0, 2.0, 1.0], reps, top_k=1)
    assert [row["p_top_k"] for row in out["layers"]] == [0.75, 0.0, 0.25]
    assert out["top_k"] == [0] and out["stable"] is False
    nan = ranking_summary([None, 2.0, 1.0], np.array([[np.nan, 2.0, 1.0]] * 3), top_k=1)
    assert nan["layers"][0] == {"layer": 0, "ci": [None, None], "p_top_k": 0.0} and nan["stable"] is True


def test_analyse_importance_reports_uncertainty_per_criterion():
    model = tiny_llama(seed=3, layers=3)
    windows = language_windows(["en", "he"], n=4, length=12)
    cfg = imp.ImportanceConfig(criteria=("fisher", "block_influence"))
    out = imp.analyse_importance(model, windows, cfg, KernelContext(), boot=BootstrapConfig(samples=50), top_k=2)
    u = out["uncertainty"]
    assert u["top_k"] == 2 and set(u["mean"]) == {"fisher", "block_influence"}
    for c in ("fisher", "block_influence"):
        assert u["mean"][c]["top_k"] == out["ranking"][c][:2]
        assert sum(row["p_top_k"] for row in u["mean"][c]["layers"]) == pytest.approx(2.0)
        for row, point in zip(u["per_language"]["en"][c]["layers"], out["per_language"]["en"]["layers"]):
            lo, hi = row["ci"]
            assert lo <= hi
    assert u["correlations"][0]["a"] == "fisher" and len(u["correlations"][0]["rho_ci"]) == 2


def test_head_replicate_equals_the_ablation_on_the_drawn_windows():
    model = plant_language_head(tiny_llama(seed=0), layer=0, head=1)
    windows = language_windows(LANGS, n=4)
    boot = BootstrapConfig(samples=40, seed=3)
    out = heads.analyse_heads(model, windows, heads.HeadRule(k=3.0, floor=0.05), KernelContext(), critical_layers=[0], boot=boot)
    u = out["uncertainty"]
    planted = out["heads"][1]
    assert planted["p_specific"] == 1.0  # the planted head is English-specific in every draw
    assert all(h["p_specific"] == 0.0 for h in out["heads"] if h is not planted)
    assert u["stable"] == 1.0 and u["share_specific_ci"] == [1 / 8, 1 / 8]
    assert u["critical_layers"]["p_holds_more"] == 1.0
    # A replicate's Δ, recomputed by ablating the head on the windows that replicate drew.
    from polyquant.analysis.heads_uncertainty import replicate_deltas
    from polyquant.analysis.windows import scored_tokens, window_nlls

    en = windows["en"]
    with heads.ablate_head(model, 1, 2):
        abl = np.array([window_nlls(model, en)])
    idx = resample_indices(np.random.default_rng(3), len(en), 5)
    reps = replicate_deltas(np.array(window_nlls(model, en)), np.array(scored_tokens(en), dtype=float), abl, idx)
    for r in range(5):
        drawn = [en[i] for i in idx[r]]
        with heads.ablate_head(model, 1, 2):
            ablated = mean_nll(model, drawn)
        assert reps[0, r] == pytest.approx(ablated - mean_nll(model, drawn), abs=1e-9)


def test_head_uncertainty_on_hand_made_windows():
    """Two heads, two languages, three windows: every replicate's Δ checked by a direct loop."""
    base = {"en": [1.0, 2.0, 3.0], "he": [1.0, 1.0, 1.0]}
    tokens = {"en": [1, 1, 1], "he": [1, 1, 1]}
    ablated = {"en": np.array([[1.0, 2.0, 3.0], [2.0, 2.0, 4.0]]), "he": np.array([[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]])}
    boot = BootstrapConfig(samples=30, seed=1)
    out = head_uncertainty(1, 2, ["en", "he"], base, tokens, ablated, 3.0, 0.1, [[], ["en"]], None, boot)
    rng = np.random.default_rng(1)
    idx_en = resample_indices(rng, 3, 30)
    # head 1: Δ_en = mean over drawn windows of (ablated − base) = share of draws hitting windows 0 or 2
    d = (ablated["en"][1][idx_en] - np.array(base["en"])[idx_en]).mean(axis=1)
    assert out["heads"][1]["p_specific"] == pytest.approx(float((d >= 0.1).mean()))
    assert out["heads"][0]["p_specific"] == 0.0
    assert out["mde"]["he"] == 0.0 and out["mde"]["en"] > 0
