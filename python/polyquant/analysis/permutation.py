"""Two-sided permutation p-values for a correlation between paired observations.

Under H0 (no association) every pairing of the ys with the xs is equally likely, so
p = #{pairings π : |stat(x, y∘π)| ≥ |stat(x, y)|} / #pairings. Up to `EXACT_N` pairs every one of
the n! pairings is enumerated (exact; at n = 4, ρ = 1 gives p = 2/24, not the 0 an asymptotic
t-approximation reports); above it `RESAMPLES` random pairings are drawn with a fixed seed and
p = (1 + #{≥}) / (1 + RESAMPLES), which is never 0 (Phipson & Smyth, 2010).
"""

from __future__ import annotations

import itertools
import math
from typing import Callable, Sequence

import numpy as np

EXACT_N = 8  # 8! = 40,320 pairings: exact in well under a second
RESAMPLES = 20_000
TOLERANCE = 1e-12  # a pairing whose statistic equals the observed one up to rounding counts as "as extreme"


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    xc, yc = x - x.mean(), y - y.mean()
    den = math.sqrt(float(xc @ xc) * float(yc @ yc))
    return float(xc @ yc) / den if den > 0 else math.nan


def ranks(v: Sequence[float]) -> np.ndarray:
    """Average ranks (ties share the mean of their positions), as Spearman's ρ uses."""
    from scipy.stats import rankdata

    return rankdata(np.asarray(v, dtype=np.float64))


def permutation_p(x: Sequence[float], y: Sequence[float], statistic: Callable[[np.ndarray, np.ndarray], float] = pearson, seed: int = 0) -> tuple[float, str]:
    """(two-sided p, how it was computed) for `statistic` (Pearson r by default; pass ranks for ρ)."""
    xa, ya = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    n = xa.size
    observed = abs(statistic(xa, ya))
    if not math.isfinite(observed):
        return math.nan, "undefined"
    if n <= EXACT_N:
        hits = total = 0
        for perm in itertools.permutations(range(n)):
            total += 1
            if abs(statistic(xa, ya[list(perm)])) >= observed - TOLERANCE:
                hits += 1
        return hits / total, f"exact permutation ({total} pairings)"
    rng = np.random.default_rng(seed)
    hits = sum(1 for _ in range(RESAMPLES) if abs(statistic(xa, rng.permutation(ya))) >= observed - TOLERANCE)
    return (1 + hits) / (1 + RESAMPLES), f"permutation ({RESAMPLES} random pairings, seed {seed})"


def spearman_p(x: Sequence[float], y: Sequence[float], seed: int = 0) -> tuple[float, str]:
    """Two-sided permutation p of Spearman's ρ (Pearson r of the average ranks)."""
    return permutation_p(ranks(x), ranks(y), pearson, seed)
