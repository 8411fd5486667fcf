"""Units of one step spread over the actors lent to it, merged by unit id.

A kernel whose work is a list of independent units (a layer sweep's configurations) hands them to
`run_units`. On the local executor (no helpers) the units run here, one after another, exactly as
before. With helpers (Ray actors lent by executor/pool.py) each idle helper is sent the next unit,
while this actor evaluates units itself; a helper opens the step's state once (units.py: the same
deterministic setup the kernel made here) and keeps it for its next units. Every result reaches the
kernel through `done(unit_id, result)` keyed by its id, so the rows the kernel builds from them do
not depend on which actor finished first: the outputs equal the local executor's.

A helper that dies (its process killed, its node gone) loses only its unit in flight: that unit is
evaluated again here or on another helper, up to MAX_UNIT_RETRIES times, and the retry is logged.
A stop request is checked before each unit, as the local loop does; units in flight are cancelled.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Callable, Optional

from ..context import KernelContext

MAX_UNIT_RETRIES = 3
POLL_S = 0.05


def run_units(
    ctx: KernelContext,
    units: list[tuple[str, Any]],
    local: Callable[[Any], Any],
    done: Callable[[str, Any, str], None],
    stopped: Callable[[], None],
    remote: Optional[tuple[str, dict]] = None,
) -> None:
    """Evaluate every (unit_id, payload): `local(payload)` here, or `helpers[i].run_unit(*remote,
    payload)` on a helper; `done(unit_id, result, where)` once each, in completion order (`where`:
    the label of the actor that evaluated it). `stopped()` is called (and must raise) when a stop
    is requested."""
    helpers = list(ctx.helpers) if remote is not None else []
    if not helpers:
        for uid, payload in units:
            if ctx.should_stop():
                stopped()
            done(uid, local(payload), ctx.where)
        return

    import ray
    from ray import exceptions as rex

    queue = deque(units)
    idle = list(helpers)
    inflight: dict[Any, tuple[Any, str, Any]] = {}  # ref -> ((helper, label), unit id, payload)
    retries: dict[str, int] = {}
    kind, setup = remote

    def requeue(uid: str, payload: Any, why: str) -> None:
        retries[uid] = retries.get(uid, 0) + 1
        if retries[uid] > MAX_UNIT_RETRIES:
            raise RuntimeError(f"unit {uid} failed on {MAX_UNIT_RETRIES + 1} actors; the last: {why}")
        ctx.log(f"a helper actor died while evaluating {uid} ({why[:200]}); evaluating it again (retry {retries[uid]} of {MAX_UNIT_RETRIES})", level="warn")
        queue.appendleft((uid, payload))

    def collect(timeout: float) -> None:
        if not inflight:
            return
        ready, _ = ray.wait(list(inflight), num_returns=len(inflight), timeout=timeout)
        for ref in ready:
            helper, uid, payload = inflight.pop(ref)
            try:
                result = ray.get(ref)
            except rex.RayActorError as exc:
                requeue(uid, payload, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
                continue  # the helper is gone: not returned to `idle`
            idle.append(helper)
            done(uid, result, helper[1])

    try:
        while queue or inflight:
            if ctx.should_stop():
                stopped()
            mine = queue.popleft() if queue else None  # the head is evaluated here: no helper setup to wait for
            while idle and queue:
                uid, payload = queue.popleft()
                helper = idle.pop(0)
                inflight[helper[0].run_unit.remote(kind, setup, payload)] = (helper, uid, payload)
            if mine is not None:
                done(mine[0], local(mine[1]), ctx.where)
                collect(0)
            else:
                collect(POLL_S)
    finally:
        for ref in inflight:
            ray.cancel(ref, force=False)
