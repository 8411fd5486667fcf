"""`fixture` kernel: train a fixture model (`tiny-llama` or `tiny-gpt2`) into
`$POLYQUANT_CACHE/fixtures/<name>` unless it is there already (or `force`), and return its metadata
(polyquant-fixture.json). The engine's `ensureFixture` (src/python/fixtures.ts) calls it before a
step that names `fixture:<name>`; the training itself is polyquant.models.fixture.

params: `name`, `corpus` (ResolvedCorpus, the UDHR train split), `seed` (0), `steps` (default of
FixtureConfig), `force` (false).
"""

from __future__ import annotations

import os

from ..context import KernelContext
from ..errors import KernelStopped, ParameterError
from ..models.fixture import FIXTURE_META, train_fixture
from ..models.load import FIXTURE_NAMES, fixture_dir

VERSION = "1"

KNOWN_PARAMS = {"name", "corpus", "seed", "steps", "force"}


def run(params: dict, ctx: KernelContext) -> dict:
    unknown = sorted(set(params) - KNOWN_PARAMS)
    if unknown:
        raise ParameterError(f"fixture: unknown parameter(s) {', '.join(unknown)}; known: {', '.join(sorted(KNOWN_PARAMS))}")
    name = params.get("name")
    if name not in FIXTURE_NAMES:
        raise ParameterError(f"fixture: name {name!r} is not one of {', '.join(FIXTURE_NAMES)}")
    seed = params.get("seed", 0)
    if not isinstance(seed, int):
        raise ParameterError(f"fixture: seed {seed!r} must be an integer")
    out_dir = fixture_dir(name)
    force = bool(params.get("force", False))
    meta_path = os.path.join(out_dir, FIXTURE_META)
    stamp_before = os.stat(meta_path).st_mtime_ns if os.path.exists(meta_path) else None

    def on_step(done: int, total: int, loss: float) -> None:
        ctx.progress(done, total, "steps", f"loss {loss:.3f}")
        if ctx.should_stop():
            raise KernelStopped(f"fixture {name}: stopped at step {done} of {total}; nothing was saved")

    meta = train_fixture(name, params.get("corpus"), out_dir, seed=seed, steps=params.get("steps"), force=force, on_step=on_step)
    stamp_after = os.stat(meta_path).st_mtime_ns if os.path.exists(meta_path) else None
    return {**meta, "path": out_dir, "trained": stamp_before != stamp_after}
