"""The one module the TypeScript bridge calls.

Contract (DESIGN §5): every call takes plain JSON strings and returns a JSON string envelope,
`{"ok": true, "result": ...}` or `{"ok": false, "error": {type, message, traceback, retryable}}`.
Strings both ways keep the bridge dumb: no proxies to Python objects leak into TypeScript, and
an exception's text survives even where the bridge would drop it.

`start()` is called once per worker: it sends the worker's stdout and stderr to the run's log
file (so kernel prints never reach the dashboard) and starts a watchdog that exits the worker
within seconds of its Node parent dying, so no orphan keeps burning GPU quota.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
import traceback
from typing import Any

# The bridge imports this module by name (`polyquant.api`, with python/ on PYTHONPATH), so it is
# the same module the tests and plain scripts import.
from polyquant import kernels
from polyquant.context import KernelContext
from polyquant.log_events import forwarded_logs
from polyquant.kernels.contract import json_safe
from polyquant.errors import PolyquantError

log = logging.getLogger("polyquant")

WATCHDOG_INTERVAL_S = 1.0


def _redirect_output(log_path: str) -> None:
    """Point fds 1 and 2 at the log file (C extensions and subprocesses write there too)."""
    os.makedirs(os.path.dirname(os.path.abspath(log_path)), exist_ok=True)
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(levelname)s %(message)s")


def _watch_parent(parent_pid: int) -> None:
    """Exit when the Node parent is gone (SIGKILL leaves no chance to tell us)."""
    while True:
        time.sleep(WATCHDOG_INTERVAL_S)
        try:
            os.kill(parent_pid, 0)
            alive = os.getppid() == parent_pid
        except OSError:
            alive = False
        if not alive:
            os._exit(0)


def start(options_json: str) -> str:
    """Set up the worker: log redirection, the parent watchdog, torch thread count."""
    try:
        options = json.loads(options_json or "{}")
        if options.get("log_path"):
            _redirect_output(options["log_path"])
        parent = int(options.get("parent_pid") or os.getppid())
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True, name="polyquant-watchdog").start()
        if options.get("threads"):
            import torch

            torch.set_num_threads(int(options["threads"]))
        return json.dumps({"ok": True, "result": {"pid": os.getpid(), "python": sys.version.split()[0]}})
    except BaseException as exc:  # noqa: BLE001 - the envelope carries every failure
        return _error_envelope(exc)


def _error_envelope(exc: BaseException) -> str:
    retryable = bool(getattr(exc, "retryable", False))
    if type(exc).__name__ == "OutOfMemoryError":  # torch.cuda.OutOfMemoryError, too
        retryable = True
    return json.dumps(
        {
            "ok": False,
            "error": {
                "type": type(exc).__name__,
                "message": str(exc),
                "traceback": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
                "retryable": retryable,
                "polyquant": isinstance(exc, PolyquantError),
            },
        }
    )


def call(kernel: str, params_json: str, ctx_json: str = "{}") -> str:
    """Run one kernel. Never raises: failures come back as an error envelope."""
    try:
        params = json.loads(params_json)
        raw_ctx = json.loads(ctx_json or "{}")
        raw_ctx.setdefault("kernel", kernel)
        ctx = KernelContext.from_json(raw_ctx)
        run = kernels.runner(kernel)
        log.info("kernel %s start (run %s, step %s)", kernel, ctx.run_id, ctx.step_id)
        with forwarded_logs(ctx):
            result = run(params, ctx)
        log.info("kernel %s done", kernel)
        sys.stdout.flush()
        sys.stderr.flush()
        return json.dumps({"ok": True, "result": json_safe(result)})
    except BaseException as exc:  # noqa: BLE001
        log.exception("kernel %s failed", kernel)
        return _error_envelope(exc)


def run_direct(kernel: str, params: dict, ctx: KernelContext | None = None) -> dict:
    """Plain-Python entry (scripts, notebooks, benchmarks): run a kernel and return its result dict.

    The parameters get their defaults from the kernel's contract and are checked against it, as
    they are for a workflow step (polyquant.kernels.contract)."""
    ctx = ctx or KernelContext(kernel=kernel)
    ctx.kernel = ctx.kernel or kernel
    return json_safe(kernels.runner(kernel)(params, ctx))
