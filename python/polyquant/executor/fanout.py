"""Units of one step spread over the actors lent to it, merged by unit id.

A kernel whose work is a list of independent units (a layer sweep's configurations) hands them to
`run_units`. On the local executor (no helpers) the units run here, one after another, exactly as
before. With helpers (Ray actors lent by executor/pool.py) a feeder thread sends each helper its
next unit the moment it returns one, while this actor evaluates units itself; a helper opens the step's state once (units.py: the same
deterministic setup the kernel made here) and keeps it for its next units. Every result reaches the
kernel through `done(unit_id, result)` keyed by its id, so the rows the kernel builds from them do
not depend on which actor finished first: the outputs equal the local executor's.

A helper that dies (its process killed, its node gone) loses only its unit in flight: that unit is
evaluated again here or on another helper, up to MAX_UNIT_RETRIES times, and the retry is logged.
A stop request is checked before each unit, as the local loop does; units in flight are cancelled.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from typing import Any, Callable, Optional

from ..context import KernelContext

MAX_UNIT_RETRIES = 3
POLL_S = 0.05


def open_on_helpers(ctx: KernelContext, remote: tuple[str, dict]) -> None:
    """Let the helpers open the step's state now, while this actor makes its own (their first unit
    then finds it ready). Fire and forget: a helper that fails here fails its first unit, which is
    handled there."""
    kind, setup = remote
    for handle, _ in ctx.helpers:
        handle.run_unit.remote(kind, setup, None)


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

    work = deque(units)
    lock = threading.Lock()  # guards `work`, `places`, `inflight` between this thread and the feeder
    places = list(helpers)  # helpers free for a unit
    inflight: dict[Any, tuple[Any, str, Any]] = {}  # ref -> ((helper, label), unit id, payload)
    retries: dict[str, int] = {}
    kind, setup = remote
    messages: "queue.Queue[tuple]" = queue.Queue()  # the feeder's news, handled by this thread only
    closing = threading.Event()

    def dispatch() -> None:  # caller holds the lock
        while places and work:
            uid, payload = work.popleft()
            helper = places.pop(0)
            inflight[helper[0].run_unit.remote(kind, setup, payload)] = (helper, uid, payload)

    def feeder() -> None:
        """Hands a helper its next unit the moment it returns one, while this actor evaluates its own."""
        while not closing.is_set():
            with lock:
                dispatch()
                refs = list(inflight)
                if not refs and not work:
                    break
            if not refs:
                time.sleep(POLL_S)
                continue
            ready, _ = ray.wait(refs, num_returns=1, timeout=POLL_S)
            for ref in ready:
                try:
                    result, failure = ray.get(ref), None
                except rex.RayActorError as exc:
                    result, failure = None, (str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
                except BaseException as exc:  # noqa: BLE001 - the unit itself failed: the step fails
                    with lock:
                        inflight.pop(ref, None)
                    messages.put(("failed", exc))
                    return
                with lock:
                    helper, uid, payload = inflight.pop(ref)
                    if failure is None:
                        places.append(helper)
                        messages.put(("done", uid, result, helper[1]))
                        continue
                    retries[uid] = retries.get(uid, 0) + 1  # the helper is gone: its place does not come back
                    if retries[uid] > MAX_UNIT_RETRIES:
                        messages.put(("failed", RuntimeError(f"unit {uid} failed on {MAX_UNIT_RETRIES + 1} actors; the last: {failure}")))
                        return
                    work.appendleft((uid, payload))
                    messages.put(("retry", uid, failure, retries[uid]))
        messages.put(("feeder-done",))

    feeding = [True]  # the feeder is still running

    def handle(message: tuple) -> None:
        if message[0] == "done":
            done(message[1], message[2], message[3])
        elif message[0] == "retry":
            _, uid, why, n = message
            ctx.log(f"a helper actor died while evaluating {uid} ({why[:200]}); evaluating it again (retry {n} of {MAX_UNIT_RETRIES})", level="warn")
        elif message[0] == "failed":
            raise message[1]
        elif message[0] == "feeder-done":
            feeding[0] = False

    def drain(wait_s: float) -> None:
        """Handle the feeder's news: what it has now, or the first that arrives within `wait_s`."""
        try:
            handle(messages.get(timeout=wait_s) if wait_s > 0 else messages.get_nowait())
        except queue.Empty:
            return
        while True:
            try:
                handle(messages.get_nowait())
            except queue.Empty:
                return

    thread = threading.Thread(target=feeder, name="polyquant-fanout", daemon=True)
    thread.start()
    try:
        while True:
            if ctx.should_stop():
                stopped()
            with lock:
                mine = work.popleft() if work else None  # evaluated here, in the order given
            if mine is not None:
                done(mine[0], local(mine[1]), ctx.where)
                drain(0)  # what the helpers finished meanwhile
            elif feeding[0]:
                drain(POLL_S)
            with lock:
                if not feeding[0] and not work and not inflight:
                    break
    finally:
        closing.set()
        thread.join(timeout=10)
        with lock:
            for ref in inflight:
                ray.cancel(ref, force=False)
