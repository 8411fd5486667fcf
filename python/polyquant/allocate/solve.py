"""The allocation as an integer program, solved exactly (scipy.optimize.milp, HiGHS).

Variables: x[u, c] ∈ {0, 1}, one choice per unit (Σ_c x[u, c] = 1). The model is additive in
NLL: quantizing unit u with choice c alone (every other unit in full precision) raised language
ℓ's corpus NLL by ΔNLL[u, c, ℓ] nats (measured), and an allocation a is predicted to raise it by
Σ_u ΔNLL[u, a_u, ℓ]. Then, with T_ℓ scored tokens and B_ℓ bytes:

    d_ℓ   = PPL_q/PPL_b − 1 = exp(ΔNLL_ℓ / T_ℓ) − 1      so d_ℓ ≤ ε  ⇔  ΔNLL_ℓ ≤ T_ℓ ln(1 + ε)   (exact)
    ΔBPB_ℓ = ΔNLL_ℓ / (ln 2 · B_ℓ)                       so ΔBPB_ℓ ≤ x is linear                (exact)
    disparity = mean_{ℓ≠ref} d_ℓ / d_ref ≤ D             linearised with d ≈ ln(1 + d) = ΔNLL_ℓ/T_ℓ

Every constraint is a row Σ_ℓ w_ℓ ΔNLL_ℓ(a) ≤ b. Objectives:
- `min_size`: stored bits Σ x[u, c] · bits[u, c] under the rows;
- `min_worst`: max_ℓ ΔNLL_ℓ/T_ℓ (= ln(1 + worst d), so the same argmin as the worst d) within a
  bits budget, ties broken by the mean;
- `min_mean`: the mean over languages of ΔNLL_ℓ/T_ℓ within the budget (the average-loss optimum
  other tools use, no per-language term).
`cuts` exclude allocations already measured (a verification loop's no-good cuts).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp

TIE_BREAK = 1e-4  # weight of the secondary objective, small against any real difference


@dataclass
class Problem:
    bits: np.ndarray  # (U, C) stored bits of unit u under choice c
    dnll: np.ndarray  # (U, C, L) measured ΔNLL, nats over the corpus
    tokens: np.ndarray  # (L,) scored tokens per language
    allowed: Optional[np.ndarray] = None  # (U, C) bool; default all

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.dnll.shape  # type: ignore[return-value]

    def predicted(self, assignment: Sequence[int]) -> np.ndarray:
        """(L,) predicted ΔNLL of an allocation."""
        return np.array([self.dnll[u, c] for u, c in enumerate(assignment)]).sum(axis=0)

    def size(self, assignment: Sequence[int]) -> float:
        return float(sum(self.bits[u, c] for u, c in enumerate(assignment)))


@dataclass(frozen=True)
class Row:
    """Σ_ℓ w_ℓ · ΔNLL_ℓ ≤ b."""

    w: np.ndarray
    b: float
    name: str


def _solve(problem: Problem, objective: np.ndarray, extra_cols: int, rows_a: list[np.ndarray], rows_lo: list[float], rows_hi: list[float], cuts: Sequence[Sequence[int]]) -> Optional[list[int]]:
    U, C, _ = problem.shape
    n = U * C + extra_cols
    a_rows, lo, hi = list(rows_a), list(rows_lo), list(rows_hi)
    for u in range(U):  # one choice per unit
        r = np.zeros(n)
        r[u * C:(u + 1) * C] = 1
        a_rows.append(r), lo.append(1.0), hi.append(1.0)
    for cut in cuts:  # not this allocation again
        r = np.zeros(n)
        for u, c in enumerate(cut):
            r[u * C + c] = 1
        a_rows.append(r), lo.append(-np.inf), hi.append(U - 1)
    upper = np.ones(n)
    if problem.allowed is not None:
        upper[: U * C] = problem.allowed.reshape(-1).astype(float)
    lower = np.zeros(n)
    if extra_cols:
        lower[U * C:], upper[U * C:] = -np.inf, np.inf
    integrality = np.concatenate([np.ones(U * C), np.zeros(extra_cols)])
    res = milp(objective, integrality=integrality, bounds=Bounds(lower, upper), constraints=LinearConstraint(np.array(a_rows), lo, hi), options={"mip_rel_gap": 1e-9})
    if res.x is None or res.status != 0:
        return None
    x = res.x[: U * C].reshape(U, C)
    return [int(np.argmax(x[u])) for u in range(U)]


def _dnll_row(problem: Problem, w: np.ndarray, extra_cols: int = 0) -> np.ndarray:
    """Coefficients of Σ_ℓ w_ℓ ΔNLL_ℓ over the x variables."""
    U, C, _ = problem.shape
    return np.concatenate([(problem.dnll @ w).reshape(-1), np.zeros(extra_cols)])


def _size_row(problem: Problem, extra_cols: int = 0) -> np.ndarray:
    return np.concatenate([problem.bits.reshape(-1), np.zeros(extra_cols)])


def min_size(problem: Problem, rows: Sequence[Row], cuts: Sequence[Sequence[int]] = ()) -> Optional[list[int]]:
    """The smallest allocation whose predicted ΔNLLs satisfy every row; None when none does."""
    total = float(problem.bits.max(axis=1).sum()) or 1.0
    mean_w = 1.0 / (problem.tokens * len(problem.tokens))
    objective = _size_row(problem) / total + TIE_BREAK * _dnll_row(problem, mean_w)
    return _solve(problem, objective, 0, [_dnll_row(problem, r.w) for r in rows], [-np.inf] * len(rows), [r.b for r in rows], cuts)


def min_worst(problem: Problem, budget_bits: float, cuts: Sequence[Sequence[int]] = ()) -> Optional[list[int]]:
    """The allocation within `budget_bits` whose worst language's ΔNLL/T is smallest."""
    U, C, L = problem.shape
    objective = np.concatenate([TIE_BREAK * _dnll_row(problem, 1.0 / (problem.tokens * L)), [1.0]])
    rows, hi = [_size_row(problem, 1)], [budget_bits if np.isfinite(budget_bits) else float(problem.bits.max(axis=1).sum()) * 2 + 1]
    for lang in range(L):  # ΔNLL_ℓ / T_ℓ − t ≤ 0
        w = np.zeros(L)
        w[lang] = 1.0 / problem.tokens[lang]
        r = _dnll_row(problem, w, 1)
        r[-1] = -1.0
        rows.append(r), hi.append(0.0)
    return _solve(problem, objective, 1, rows, [-np.inf] * len(rows), hi, cuts)


def min_mean(problem: Problem, budget_bits: float) -> Optional[list[int]]:
    """The allocation within `budget_bits` with the smallest mean ΔNLL_ℓ/T_ℓ over languages."""
    L = len(problem.tokens)
    objective = _dnll_row(problem, 1.0 / (problem.tokens * L))
    return _solve(problem, objective, 0, [_size_row(problem)], [-np.inf], [budget_bits], ())
