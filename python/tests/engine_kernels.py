"""The test kernels: small kernels that exercise the bridge and the engine without any model.

`test-echo` returns its params; `test-sleep` sleeps with progress and honours stop requests;
`test-crash` kills the worker the way real crashes do (os._exit, SIGSEGV, SIGKILL);
`test-fail` raises a chosen error; `test-count` counts with checkpoints, to test resume.

They are part of the tests, not of the package: polyquant.kernels loads this file only in a
worker started with POLYQUANT_TEST_KERNELS=1. Their contracts are generated like every kernel's,
from src/kernels/testing.ts.
"""

from __future__ import annotations

import os
import signal
import sys
import time

from polyquant.context import KernelContext
from polyquant.errors import KernelStopped, OutOfMemoryError, ParameterError, PolyquantError
from polyquant.kernels.contract import kernel


@kernel("test-echo")
def echo(params: dict, ctx: KernelContext) -> dict:
    print("echo kernel writes to stdout", flush=True)  # must land in the log, not the terminal
    print("echo kernel writes to stderr", file=sys.stderr, flush=True)
    return {"echo": params, "pid": os.getpid()}


@kernel("test-sleep")
def sleep(params: dict, ctx: KernelContext) -> dict:
    seconds = float(params["seconds"])
    steps = max(1, int(seconds / 0.05))
    for i in range(steps):
        if ctx.should_stop():
            raise KernelStopped(f"stopped after {i} of {steps} ticks")
        time.sleep(seconds / steps)
        ctx.progress(i + 1, steps, "ticks")
    return {"slept": seconds}


@kernel("test-crash")
def crash(params: dict, ctx: KernelContext) -> dict:
    how = params["how"]
    print(f"about to crash by {how}", file=sys.stderr, flush=True)
    if how == "exit":
        os._exit(int(params["code"]))
    if how == "segfault":
        os.kill(os.getpid(), signal.SIGSEGV)
    os.kill(os.getpid(), signal.SIGKILL)
    raise ParameterError(f"test-crash: the worker survived {how!r}")


@kernel("test-fail")
def fail(params: dict, ctx: KernelContext) -> dict:
    error = params["error"]
    if error == "oom":
        raise OutOfMemoryError("CUDA out of memory (simulated)")
    if error == "value":
        raise ValueError("a plain Python error")
    raise PolyquantError(params["message"])


@kernel("test-count")
def count(params: dict, ctx: KernelContext) -> dict:
    total = int(params["to"])
    state = ctx.resume_state or {"i": 0, "values": []}
    i, values = state["i"], list(state["values"])
    while i < total:
        if ctx.should_stop():
            raise KernelStopped(f"stopped at {i}")
        time.sleep(float(params["tick"]))
        values.append(i * i)
        i += 1
        ctx.progress(i, total, "items")
        if i % int(params["checkpoint_every"]) == 0:
            ctx.checkpoint({"i": i, "values": values})
    return {"values": values, "resumed_from": (ctx.resume_state or {}).get("i", 0)}
