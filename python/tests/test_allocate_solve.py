"""The allocation's integer programs against brute-force enumeration on small random problems."""

import itertools
import math

import numpy as np
import pytest

from polyquant.allocate import solve


def _problem(seed, U=4, C=3, L=3):
    rng = np.random.default_rng(seed)
    bits = np.sort(rng.uniform(1, 10, size=(U, C)), axis=1)  # more bits cost more …
    dnll = np.sort(rng.uniform(0, 5, size=(U, C, L)), axis=1)[:, ::-1, :]  # … and hurt less
    dnll[:, -1, :] = 0.0  # the last choice is full precision
    return solve.Problem(bits, np.ascontiguousarray(dnll), rng.uniform(50, 100, size=L))


def _all(problem):
    U, C, _ = problem.shape
    return [list(a) for a in itertools.product(range(C), repeat=U)]


@pytest.mark.parametrize("seed", range(8))
def test_min_size_is_the_smallest_allocation_within_every_row(seed):
    p = _problem(seed)
    L = len(p.tokens)
    eps = 0.02
    rows = [solve.Row(np.eye(L)[i], p.tokens[i] * math.log1p(eps), f"d{i}") for i in range(L)]
    ok = [a for a in _all(p) if all(p.predicted(a)[i] <= p.tokens[i] * math.log1p(eps) + 1e-9 for i in range(L))]
    best = min(p.size(a) for a in ok)
    got = solve.min_size(p, rows)
    assert got in ok and p.size(got) == pytest.approx(best)


@pytest.mark.parametrize("seed", range(8))
def test_min_worst_and_min_mean_are_optimal_within_the_budget(seed):
    p = _problem(seed)
    budget = float(np.median([p.size(a) for a in _all(p)]))
    fits = [a for a in _all(p) if p.size(a) <= budget]
    worst = lambda a: max(p.predicted(a) / p.tokens)  # noqa: E731
    mean = lambda a: float(np.mean(p.predicted(a) / p.tokens))  # noqa: E731
    got = solve.min_worst(p, budget)
    assert p.size(got) <= budget + 1e-9 and worst(got) == pytest.approx(min(worst(a) for a in fits), abs=1e-9)
    got = solve.min_mean(p, budget)
    assert p.size(got) <= budget + 1e-9 and mean(got) == pytest.approx(min(mean(a) for a in fits), abs=1e-9)


def test_cuts_exclude_allocations_and_infeasible_bounds_give_none():
    p = _problem(1)
    L = len(p.tokens)
    rows = [solve.Row(np.eye(L)[i], p.tokens[i] * 0.1, f"d{i}") for i in range(L)]
    first = solve.min_size(p, rows)
    second = solve.min_size(p, rows, cuts=[first])
    assert second != first and p.size(second) >= p.size(first) - 1e-9
    assert solve.min_size(p, [solve.Row(np.ones(L), -1.0, "impossible")]) is None


def test_disallowed_choices_are_never_taken():
    p = _problem(2)
    p.allowed = np.ones(p.bits.shape, dtype=bool)
    p.allowed[0, :-1] = False  # unit 0 can only stay in full precision
    got = solve.min_worst(p, float(p.bits.max(axis=1).sum()))
    assert got[0] == p.bits.shape[1] - 1
