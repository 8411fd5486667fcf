"""Permutation p-values against an independent count, and the small-n case that motivated them."""

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from polyquant.analysis.correlation import Pair, correlate
from polyquant.analysis.permutation import permutation_p, spearman_p


def test_rho_1_at_n_4_has_the_exact_p_2_of_24_not_0():
    xs, ys = [0.01, 0.02, 0.05, 0.09], [0.1, 0.3, 0.4, 0.9]
    p, method = spearman_p(xs, ys)
    assert p == pytest.approx(2 / 24) and method == "exact permutation (24 pairings)"
    out = correlate([Pair(str(i), x, y) for i, (x, y) in enumerate(zip(xs, ys))])
    assert out["spearman"]["rho"] == 1.0 and out["spearman"]["p"] == pytest.approx(2 / 24)
    assert out["p_method"] == "exact permutation (24 pairings)"


@pytest.mark.parametrize("seed", range(3))
def test_exact_p_equals_a_direct_count_over_all_pairings(seed):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=6), rng.normal(size=6)
    r = stats.pearsonr(x, y)[0]
    count = sum(abs(stats.pearsonr(x, y[list(p)])[0]) >= abs(r) - 1e-12 for p in itertools.permutations(range(6)))
    assert permutation_p(x, y)[0] == pytest.approx(count / math.factorial(6))


def test_above_eight_pairs_random_pairings_approach_the_t_test():
    rng = np.random.default_rng(4)
    x = rng.normal(size=30)
    y = 0.5 * x + rng.normal(size=30)
    p, method = permutation_p(x, y, seed=1)
    assert method.startswith("permutation (20000 random pairings")
    assert p == pytest.approx(stats.pearsonr(x, y)[1], abs=0.01)
    assert p > 0
