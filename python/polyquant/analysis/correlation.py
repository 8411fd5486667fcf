"""Does perplexity degradation predict task degradation? (KAGGLE-003)

Given paired observations (x_i, y_i), one per language and configuration (e.g. x = perplexity
degradation d = PPL_q/PPL_b − 1, y = accuracy drop acc_b − acc_q), this module reports:

- Pearson r = Σ (x−x̄)(y−ȳ) / sqrt(Σ (x−x̄)² Σ (y−ȳ)²), its two-sided permutation p-value
  (`analysis/permutation.py`: exact over all n! pairings up to n = 8, the usual case of one point
  per language; 20,000 seeded random pairings above) and a 95% CI by Fisher's z:
  tanh(atanh(r) ± 1.96/sqrt(n−3)) (n ≥ 4; null otherwise);
- Spearman ρ = Pearson r of the ranks (average ranks for ties) and its permutation p-value;
  `p_method` says which (an asymptotic t-test would print p = 0 for ρ = 1 at n = 4, where the
  exact p is 2/24);
- the least-squares line y = a + b·x, for the report's scatter plot.

Undefined quantities (n < 3, or a constant x or y) are null, never NaN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional

from ..errors import ParameterError
from .permutation import permutation_p, spearman_p

Z_95 = 1.959963984540054  # two-sided 95% normal quantile


@dataclass(frozen=True)
class Pair:
    label: str  # e.g. "he" or "he/int3"
    x: float
    y: float


def _number(v: Any, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ParameterError(f"{where} is {v!r}, not a finite number")
    return float(v)


def _select(values: Any, field: Optional[str], name: str) -> Any:
    """With `<name>_field` (a dotted path such as "drop" or "d.value"), map each entry of a map of
    objects (e.g. a kernel's per-language outputs) to the number at that path; null entries are dropped."""
    if not field:
        return values
    if not isinstance(values, dict):
        raise ParameterError(f"{name}_field {field!r} needs {name} to be a map of objects, got {type(values).__name__}")
    out = {}
    for key, obj in values.items():
        cur = obj
        for part in field.split("."):
            if not isinstance(cur, dict) or part not in cur:
                raise ParameterError(f"{name}[{key!r}] has no field {field!r}")
            cur = cur[part]
        if cur is not None:
            out[key] = cur
    return out


def pairs_from_params(params: dict) -> list[Pair]:
    """Accepts `pairs: [{label, x, y}]`, or `x` and `y` as equal-length lists or as maps label → number
    (or maps label → object with `x_field`/`y_field` naming the number inside, see `_select`).

    Maps are joined on their keys (keys present in only one map are an error, naming them); lists
    are paired by position and labelled by `labels` when given, else by index.
    """
    has_pairs = params.get("pairs") is not None
    has_xy = params.get("x") is not None or params.get("y") is not None
    if has_pairs == has_xy:
        raise ParameterError("give either `pairs` or both `x` and `y`")
    out: list[Pair] = []
    if has_pairs:
        raw = params["pairs"]
        if not isinstance(raw, list):
            raise ParameterError(f"pairs {raw!r} is not a list")
        for i, p in enumerate(raw):
            if not isinstance(p, dict):
                raise ParameterError(f"pairs[{i}] {p!r} is not an object with x and y")
            out.append(Pair(str(p.get("label", i)), _number(p.get("x"), f"pairs[{i}].x"), _number(p.get("y"), f"pairs[{i}].y")))
    else:
        x = _select(params.get("x"), params.get("x_field"), "x")
        y = _select(params.get("y"), params.get("y_field"), "y")
        if isinstance(x, dict) and isinstance(y, dict):
            only = sorted(set(x) ^ set(y))  # a language missing on one side is an error, not a silent drop
            if only:
                raise ParameterError(f"x and y must have the same keys; only in one of them: {only}")
            out = [Pair(k, _number(x[k], f"x[{k!r}]"), _number(y[k], f"y[{k!r}]")) for k in x]
        elif isinstance(x, list) and isinstance(y, list):
            if len(x) != len(y):
                raise ParameterError(f"x has {len(x)} values but y has {len(y)}")
            labels = params.get("labels") or [str(i) for i in range(len(x))]
            if len(labels) != len(x):
                raise ParameterError(f"labels has {len(labels)} entries but x has {len(x)} values")
            out = [Pair(str(labels[i]), _number(x[i], f"x[{i}]"), _number(y[i], f"y[{i}]")) for i in range(len(x))]
        else:
            raise ParameterError(f"x and y must both be lists or both be maps, got {type(x).__name__} and {type(y).__name__}")
    if len(out) < 3:
        raise ParameterError(f"a correlation needs at least 3 pairs, got {len(out)}")
    return out


def correlate(pairs: list[Pair]) -> dict:
    from scipy import stats

    xs, ys = [p.x for p in pairs], [p.y for p in pairs]
    n = len(pairs)
    constant = len(set(xs)) < 2 or len(set(ys)) < 2
    pearson: dict[str, Optional[float] | list] = {"r": None, "p": None, "ci": [None, None]}
    spearman: dict[str, Optional[float]] = {"rho": None, "p": None}
    fit: dict[str, Optional[float]] = {"intercept": None, "slope": None}
    if not constant:
        r = float(stats.pearsonr(xs, ys)[0])
        p, method = permutation_p(xs, ys)
        ci: list[Optional[float]] = [None, None]
        if n >= 4 and abs(r) < 1:
            z, half = math.atanh(r), Z_95 / math.sqrt(n - 3)
            ci = [math.tanh(z - half), math.tanh(z + half)]
        pearson = {"r": r, "p": p, "ci": ci}
        rho = float(stats.spearmanr(xs, ys)[0])
        ps, _ = spearman_p(xs, ys)
        spearman = {"rho": rho, "p": ps}
    if len(set(xs)) >= 2:
        mx, my = sum(xs) / n, sum(ys) / n
        slope = sum((a - mx) * (b - my) for a, b in zip(xs, ys)) / sum((a - mx) ** 2 for a in xs)
        fit = {"intercept": my - slope * mx, "slope": slope}
    return {
        "n": n,
        "p_method": method if not constant else None,
        "pearson": pearson,
        "spearman": spearman,
        "fit": fit,
        "pairs": [{"label": p.label, "x": p.x, "y": p.y} for p in pairs],
    }
