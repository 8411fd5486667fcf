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


def redirect_output(log_path: str) -> None:
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
            _stop_executor()  # a Ray driver takes its actors and its local cluster along
            os._exit(0)


def start(options_json: str) -> str:
    """Set up the worker: log redirection, the parent watchdog, torch thread count."""
    try:
        options = json.loads(options_json or "{}")
        if options.get("log_path"):
            redirect_output(options["log_path"])
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
    return call_envelope(kernel, params_json, ctx_json)


def call_envelope(kernel: str, params_json: str, ctx_json: str = "{}", helpers: list | None = None, where: str = "") -> str:
    """`call`, also on a Ray actor (executor/actor.py), where `helpers` are the actors lent to the
    step for its units (executor/fanout.py)."""
    try:
        params = json.loads(params_json)
        raw_ctx = json.loads(ctx_json or "{}")
        raw_ctx.setdefault("kernel", kernel)
        ctx = KernelContext.from_json(raw_ctx)
        ctx.helpers = list(helpers or [])
        ctx.where = where
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


# ---- the Ray executor (polyquant/executor): the bridge submits a step and polls for its envelope ----

_executor = None  # the executor.pool.Pool of this worker, made by the first `submit`


def submit(kernel: str, params_json: str, ctx_json: str, options_json: str) -> str:
    """Hand a step to the Ray executor; the reply carries its job id (poll it) and the pool's
    actors. `options_json`: {"address", "actors", "threads", "log_path"}. Never raises."""
    global _executor
    try:
        options = json.loads(options_json or "{}")
        if _executor is None:
            from .executor.pool import Pool

            _executor = Pool.connect(options)
        job = _executor.submit(kernel, params_json, ctx_json, options.get("log_path"))
        return json.dumps({"ok": True, "result": {"job": job, "pool": _executor.describe()}})
    except BaseException as exc:  # noqa: BLE001
        log.exception("submitting kernel %s to Ray failed", kernel)
        return _error_envelope(exc)


def poll(job: str, wait_s: float = 0.2) -> str:
    """The job's envelope once it is done, else `{"pending": true, ...}` after waiting up to `wait_s`."""
    try:
        if _executor is None:
            raise RuntimeError(f"no Ray executor in this worker: job {job} is unknown")
        envelope = _executor.poll(job, float(wait_s))
        return envelope if envelope is not None else json.dumps({"pending": True, "where": _executor.where(job)})
    except BaseException as exc:  # noqa: BLE001
        return _error_envelope(exc)


def cancel(job: str) -> str:
    """Stop a job's actor (a kernel call cannot be interrupted otherwise); the pool replaces it."""
    try:
        if _executor is not None:
            _executor.cancel(job)
        return json.dumps({"ok": True, "result": None})
    except BaseException as exc:  # noqa: BLE001
        return _error_envelope(exc)


def _stop_executor() -> None:
    global _executor
    if _executor is not None:
        try:
            _executor.shutdown()
        except BaseException:  # noqa: BLE001 - exiting anyway
            pass
        _executor = None


def run_direct(kernel: str, params: dict, ctx: KernelContext | None = None) -> dict:
    """Plain-Python entry (scripts, notebooks, benchmarks): run a kernel and return its result dict.

    The parameters get their defaults from the kernel's contract and are checked against it, as
    they are for a workflow step (polyquant.kernels.contract)."""
    ctx = ctx or KernelContext(kernel=kernel)
    ctx.kernel = ctx.kernel or kernel
    return json_safe(kernels.runner(kernel)(params, ctx))
