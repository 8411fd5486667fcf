"""Small kernels that exercise the bridge and the engine without any model.

`test-echo` returns its params; `test-sleep` sleeps with progress and honours stop requests;
`test-crash` kills the worker the way real crashes do (os._exit, SIGSEGV, SIGKILL);
`test-fail` raises a chosen error; `test-count` counts with checkpoints, to test resume.
"""

from __future__ import annotations

import os
import signal
import sys
import time

from ..context import KernelContext
from ..errors import KernelStopped, OutOfMemoryError, ParameterError, PolyquantError

VERSION = "1"


def run(params: dict, ctx: KernelContext) -> dict:
    kind = ctx.kernel or "test-echo"
    if kind == "test-echo":
        print("echo kernel writes to stdout", flush=True)  # must land in the log, not the terminal
        print("echo kernel writes to stderr", file=sys.stderr, flush=True)
        return {"echo": params, "pid": os.getpid()}
    if kind == "test-sleep":
        seconds = float(params.get("seconds", 1.0))
        steps = max(1, int(seconds / 0.05))
        for i in range(steps):
            if ctx.should_stop():
                raise KernelStopped(f"stopped after {i} of {steps} ticks")
            time.sleep(seconds / steps)
            ctx.progress(i + 1, steps, "ticks")
        return {"slept": seconds}
    if kind == "test-crash":
        how = params.get("how", "exit")
        print(f"about to crash by {how}", file=sys.stderr, flush=True)
        if how == "exit":
            os._exit(int(params.get("code", 3)))
        if how == "segfault":
            os.kill(os.getpid(), signal.SIGSEGV)
        if how == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        raise ParameterError(f"test-crash: unknown how {how!r} (exit, segfault, kill)")
    if kind == "test-fail":
        error = params.get("error", "polyquant")
        if error == "oom":
            raise OutOfMemoryError("CUDA out of memory (simulated)")
        if error == "value":
            raise ValueError("a plain Python error")
        raise PolyquantError(params.get("message", "a kernel error"))
    if kind == "test-count":
        total = int(params.get("to", 10))
        state = ctx.resume_state or {"i": 0, "values": []}
        i, values = state["i"], list(state["values"])
        while i < total:
            if ctx.should_stop():
                raise KernelStopped(f"stopped at {i}")
            time.sleep(float(params.get("tick", 0.05)))
            values.append(i * i)
            i += 1
            ctx.progress(i, total, "items")
            if i % int(params.get("checkpoint_every", 2)) == 0:
                ctx.checkpoint({"i": i, "values": values})
        return {"values": values, "resumed_from": (ctx.resume_state or {}).get("i", 0)}
    raise ParameterError(f"testing kernel {kind!r} is not known")
