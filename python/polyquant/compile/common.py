"""What the writers share: modules grouped by planned grid, and exact anchored name patterns."""

from __future__ import annotations

import re
from typing import Optional

Grid = Optional[tuple[int, int, bool]]  # (bits, group_size, sym); None: full precision


def grid_of(row: dict) -> Grid:
    return None if row["bits"] is None else (int(row["bits"]), int(row["group_size"]), bool(row["sym"]))


def base_grid(base: dict) -> tuple[int, int, bool]:
    return (int(base["bits"]), int(base["group_size"]), bool(base.get("sym", False)))


def by_grid(table: list[dict]) -> dict[Grid, list[dict]]:
    """Rows grouped by grid, full precision first, then by bits and group size."""
    out: dict[Grid, list[dict]] = {}
    for row in table:
        out.setdefault(grid_of(row), []).append(row)
    return dict(sorted(out.items(), key=lambda kv: (kv[0] is not None, kv[0] or (0, 0, False))))


def exact(names: list[str]) -> str:
    """A regex matching exactly these full names under `re.match`, `re.fullmatch` or `re.search`."""
    return "^(?:" + "|".join(re.escape(n) for n in names) + ")$"
