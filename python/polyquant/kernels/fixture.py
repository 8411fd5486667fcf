"""`fixture` kernel: train a fixture model (`tiny-llama` or `tiny-gpt2`) into
`$POLYQUANT_CACHE/fixtures/<name>` unless it is there already (or `force`), and return its metadata
(polyquant-fixture.json). The engine's `ensureFixture` (src/python/fixtures.ts) calls it before a
step that names `fixture:<name>`; the training itself is polyquant.models.fixture.

params (src/kernels/fixture.ts): `name`, `corpus` (resolved: the UDHR train split), `seed`,
`steps` (absent: FixtureConfig's), `force`.
"""

from __future__ import annotations

import os

from ..context import KernelContext
from ..errors import KernelStopped
from ..models.fixture import FIXTURE_META, train_fixture
from ..models.load import fixture_dir
from .contract import kernel


@kernel("fixture")
def run(params: dict, ctx: KernelContext) -> dict:
    name, seed, force = params["name"], params["seed"], params["force"]
    out_dir = fixture_dir(name)
    meta_path = os.path.join(out_dir, FIXTURE_META)
    stamp_before = os.stat(meta_path).st_mtime_ns if os.path.exists(meta_path) else None

    def on_step(done: int, total: int, loss: float) -> None:
        ctx.progress(done, total, "steps", f"loss {loss:.3f}")
        if ctx.should_stop():
            raise KernelStopped(f"fixture {name}: stopped at step {done} of {total}; nothing was saved")

    meta = train_fixture(name, params["corpus"], out_dir, seed=seed, steps=params.get("steps"), force=force, on_step=on_step)
    stamp_after = os.stat(meta_path).st_mtime_ns if os.path.exists(meta_path) else None
    return {**meta, "path": out_dir, "trained": stamp_before != stamp_after}
