"""A run store's results as a pandas DataFrame, for notebooks: `polyquant.results.load(...)`.

The rows are the ones `polyquant export` writes (src/results/tidy.ts: one per step × model ×
language × metric, with CI bounds); this module asks the CLI for them instead of reading SQLite
itself, so that there is one definition of a row. Node and the polyquant checkout must be present
(they are wherever polyquant ran).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
from typing import Optional

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLI = os.path.join(ROOT, "bin", "polyquant.js")
COLUMNS = ["run", "step", "kernel", "model", "language", "metric", "value", "ci_lo", "ci_hi"]


def _cli(args: list[str]) -> str:
    done = subprocess.run(["node", CLI, *args], capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"polyquant {' '.join(args[:2])} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def runs(store: str = ".polyquant/polyquant.db") -> list[dict]:
    """The stored runs, newest first (`polyquant runs --json`)."""
    return json.loads(_cli(["runs", "--json", "--limit", "1000", "--store", os.path.abspath(store)]))


def load(store: str = ".polyquant/polyquant.db", run: Optional[str] = None, step: Optional[str] = None, kernel: Optional[str] = None):
    """Tidy results: of `run` (an id or unique prefix; default: every run in the store), optionally one step or kernel."""
    import pandas as pd

    ids = [run] if run is not None else [r["id"] for r in runs(store)]
    frames = [pd.read_json(io.StringIO(text), lines=True) for text in (_cli(["export", i, "--format", "jsonl", "--store", os.path.abspath(store)]) for i in ids) if text.strip()]
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)
    if step is not None:
        table = table[table["step"] == step]
    if kernel is not None:
        table = table[table["kernel"] == kernel]
    return table.reset_index(drop=True)
