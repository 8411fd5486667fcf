import math

import pytest
from scipy import stats

from polyquant import api
from polyquant.analysis.correlation import correlate, pairs_from_params
from polyquant.errors import ParameterError

X = [0.10, 0.25, 0.31, 0.52, 0.70]
Y = [0.01, 0.02, 0.06, 0.05, 0.12]


def test_matches_scipy_and_a_hand_computation():
    out = correlate(pairs_from_params({"x": X, "y": Y, "labels": ["en", "he", "ar", "zh", "ru"]}))
    n = len(X)
    mx, my = sum(X) / n, sum(Y) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(X, Y))
    sxx = sum((a - mx) ** 2 for a in X)
    syy = sum((b - my) ** 2 for b in Y)
    r = sxy / math.sqrt(sxx * syy)
    assert out["pearson"]["r"] == pytest.approx(r, rel=1e-12)
    # p: the share of the 120 pairings of the ys whose |r| is at least as large (exact permutation test)
    import itertools

    def r_of(ys):
        m = sum(ys) / n
        return sum((a - mx) * (b - m) for a, b in zip(X, ys)) / math.sqrt(sxx * sum((b - m) ** 2 for b in ys))

    perms = list(itertools.permutations(Y))
    assert out["pearson"]["p"] == pytest.approx(sum(abs(r_of(p)) >= abs(r) - 1e-12 for p in perms) / len(perms))
    assert out["p_method"] == "exact permutation (120 pairings)"
    # Spearman by hand: ranks of X are 1..5, ranks of Y are [1, 2, 4, 3, 5] → ρ = 1 − 6Σd²/(n(n²−1)) = 0.9
    assert out["spearman"]["rho"] == pytest.approx(0.9)
    ranks_y = stats.rankdata(Y)
    rho_of = lambda ys: stats.spearmanr(range(n), ys)[0]  # noqa: E731  (X is increasing: its ranks are 1..n)
    assert out["spearman"]["p"] == pytest.approx(sum(abs(rho_of(p)) >= 0.9 - 1e-12 for p in itertools.permutations(ranks_y)) / 120)
    lo, hi = out["pearson"]["ci"]
    assert lo == pytest.approx(math.tanh(math.atanh(r) - 1.959963984540054 / math.sqrt(2)))
    assert lo < r < hi
    assert out["fit"]["slope"] == pytest.approx(sxy / sxx)
    assert [p["label"] for p in out["pairs"]] == ["en", "he", "ar", "zh", "ru"]


def test_maps_join_on_keys_and_pairs_form_is_the_same():
    by_map = correlate(pairs_from_params({"x": {"en": 0.1, "he": 0.5, "ar": 0.3}, "y": {"ar": 0.2, "en": 0.0, "he": 0.9}}))
    by_pairs = correlate(
        pairs_from_params({"pairs": [{"label": "en", "x": 0.1, "y": 0.0}, {"label": "he", "x": 0.5, "y": 0.9}, {"label": "ar", "x": 0.3, "y": 0.2}]})
    )
    assert by_map == by_pairs
    assert by_map["spearman"]["rho"] == pytest.approx(1.0)
    assert by_map["pearson"]["ci"] == [None, None]  # n = 3: Fisher's z needs n ≥ 4


def test_fields_select_numbers_from_per_language_outputs():
    x = {"en": {"d": {"value": 0.1}}, "he": {"d": {"value": 0.5}}, "ar": {"d": {"value": 0.3}}, "zh": {"d": {"value": None}}}
    y = {"en": {"drop": 0.0}, "he": {"drop": 0.9}, "ar": {"drop": 0.2}}
    pairs = pairs_from_params({"x": x, "x_field": "d.value", "y": y, "y_field": "drop"})
    assert pairs == pairs_from_params({"x": {"en": 0.1, "he": 0.5, "ar": 0.3}, "y": {"en": 0.0, "he": 0.9, "ar": 0.2}})
    with pytest.raises(ParameterError, match="y\\['en'\\] has no field 'accuracy'"):
        pairs_from_params({"x": x, "x_field": "d.value", "y": y, "y_field": "accuracy"})


def test_constant_input_gives_nulls_through_the_bridge():
    import json

    out = json.loads(api.call("correlation", json.dumps({"x": [1, 2, 3], "y": [5, 5, 5], "x_name": "d"})))
    assert out["ok"] is True
    res = out["result"]
    assert res["pearson"] == {"r": None, "p": None, "ci": [None, None]} and res["spearman"] == {"rho": None, "p": None}
    assert res["fit"]["slope"] == 0.0 and res["x_name"] == "d" and res["y_name"] == "y"


@pytest.mark.parametrize(
    "params, message",
    [
        ({"x": [1, 2, 3], "y": [1, 2]}, "x has 3 values but y has 2"),
        ({"x": {"en": 1, "he": 2, "ar": 3}, "y": {"en": 1, "he": 2, "zh": 3}}, "only in one of them: \\['ar', 'zh'\\]"),
        ({"x": [1, 2, "a"], "y": [1, 2, 3]}, "x\\[2\\] is 'a'"),
        ({"x": [1, 2], "y": [1, 2]}, "at least 3 pairs, got 2"),
        ({}, "either `pairs` or both"),
        ({"pairs": [{"x": 1, "y": float("nan")}] * 3}, "pairs\\[0\\].y is nan"),
    ],
)
def test_bad_input_names_the_value(params, message):
    with pytest.raises(ParameterError, match=message):
        pairs_from_params(params)


def test_p_values_agree_with_a_permutation_test():
    """An independent check of both p-values: shuffle y 200 000 times and count |r_perm| ≥ |r|.
    At n = 30 the permutation p and the t-distribution p agree to well under a percentage point."""
    import numpy as np

    rng = np.random.default_rng(11)
    n = 30
    x = rng.normal(size=n)
    y = 0.4 * x + rng.normal(size=n)
    out = correlate(pairs_from_params({"x": x.tolist(), "y": y.tolist()}))

    def perm_p(a, b, perms=200_000):
        a = (a - a.mean()) / a.std()
        b = (b - b.mean()) / b.std()
        r = float(a @ b) / n
        shuffled = np.stack([rng.permutation(b) for _ in range(perms)])
        return r, float(np.mean(np.abs(shuffled @ a / n) >= abs(r) - 1e-12))

    r, p = perm_p(x, y)
    assert out["pearson"]["r"] == pytest.approx(r, rel=1e-9)
    assert 0.001 < out["pearson"]["p"] < 0.2  # the case is informative: neither 0 nor 1
    assert out["pearson"]["p"] == pytest.approx(p, abs=0.004)
    ranks = lambda v: np.argsort(np.argsort(v)).astype(float)  # no ties in continuous draws
    rho, p_s = perm_p(ranks(x), ranks(y))
    assert out["spearman"]["rho"] == pytest.approx(rho, rel=1e-9)
    assert out["spearman"]["p"] == pytest.approx(p_s, abs=0.004)
