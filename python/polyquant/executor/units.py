"""What a helper actor does with a unit of another actor's step.

Each kind names how to open the step's state from its parameters (the kernel's own deterministic
setup: the same resident model, the same quantization pass, the same windows) and how to evaluate
one unit on it. The opened state is kept for the step's next units and closed when the step ends
(pool.py) or before this actor runs anything else (actor.py): a sweep's state changes the resident
model's weights in place, and closing puts every original back.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Callable

from ..context import KernelContext


def _layer_sweep_open(setup: dict) -> Any:
    from ..kernels.layer_sweep import open_sweep

    return open_sweep(setup, KernelContext(kernel="layer-sweep"), baseline=False)[-1]


def _layer_sweep_unit(sweep: Any, names: list[str]) -> Any:
    from ..kernels.layer_sweep import evaluate_unit

    return evaluate_unit(sweep, names)


# kind -> (open(setup) -> state with .close(), evaluate(state, payload) -> result)
KINDS: dict[str, tuple[Callable[[dict], Any], Callable[[Any, Any], Any]]] = {
    "layer-sweep": (_layer_sweep_open, _layer_sweep_unit),
}

_opened: dict[str, Any] = {}  # (kind, setup digest) -> opened state; one at a time


def _key(kind: str, setup: dict) -> str:
    return kind + ":" + hashlib.sha256(json.dumps(setup, sort_keys=True, default=str).encode()).hexdigest()


def run_unit(kind: str, setup: dict, payload: Any) -> Any:
    if kind not in KINDS:
        raise KeyError(f"no unit kind {kind!r}; known: {', '.join(KINDS)}")
    opener, evaluate = KINDS[kind]
    key = _key(kind, setup)
    if key not in _opened:
        close_all()
        _opened[key] = opener(setup)
    if payload is None:  # only open (fanout.open_on_helpers)
        return None
    return evaluate(_opened[key], payload)


def close_all() -> None:
    while _opened:
        _, state = _opened.popitem()
        state.close()
