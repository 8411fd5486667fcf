"""The Ray actor a step runs on: one process that keeps its models resident between steps.

It is the local worker's twin: a step's kernel runs through the same `api.call_envelope` (same
contract checks, same error envelope), its models stay in this process's `models.resident`, its
events, checkpoint and stop request go through the files the engine named (the same paths: a local
Ray, or a cluster with a shared file system). As a helper it evaluates units of another actor's
step (`units.py`), holding that step's opened state (e.g. a sweep's quantized codes) between units.

This class is plain Python; `pool.py` wraps it with `ray.remote` and the resources it asks for.
"""

from __future__ import annotations

import os
import signal
from typing import Any, Optional

# a test's way of killing an actor in the middle of a sweep, as an OOM kill would: the first unit
# that finds this path absent creates it and SIGKILLs its own process (only with test kernels on)
TEST_KILL_MARKER = "POLYQUANT_TEST_KILL_HELPER_MARKER"


class KernelActor:
    def __init__(self, index: int, threads: Optional[int] = None) -> None:
        self.index = index
        self.log_path: Optional[str] = None
        import torch

        if threads:
            torch.set_num_threads(int(threads))
        # the imports every kernel needs, while the actor starts (in parallel with the others), not
        # inside the first step or the first helper unit, where they would stall the step
        import transformers  # noqa: F401

        from ..kernels import layer_sweep  # noqa: F401

    def info(self) -> dict[str, Any]:
        import ray

        gpus = [str(g) for g in ray.get_gpu_ids()]
        return {"index": self.index, "pid": os.getpid(), "node": ray.util.get_node_ip_address(), "gpus": gpus}

    def _log_to(self, log_path: Optional[str]) -> None:
        if log_path and log_path != self.log_path:
            from ..api import redirect_output

            redirect_output(log_path)
            self.log_path = log_path

    def run_kernel(self, kernel: str, params_json: str, ctx_json: str, log_path: Optional[str], helpers: list, label: str = "") -> str:
        """Run a step's kernel here; `helpers` are (actor, label) pairs lent to it for its units."""
        from . import units
        from ..api import call_envelope

        self._log_to(log_path)
        units.close_all()  # a helper's opened state goes before a step uses the model
        return call_envelope(kernel, params_json, ctx_json, helpers=helpers, where=label)

    def run_unit(self, kind: str, setup: dict, payload: Any) -> Any:
        """One unit of another actor's step (units.py); the step's opened state is kept for the next."""
        from . import units
        from ..kernels import test_kernels_on

        marker = os.environ.get(TEST_KILL_MARKER)
        if marker and test_kernels_on() and not os.path.exists(marker):
            open(marker, "w").close()
            os.kill(os.getpid(), signal.SIGKILL)
        return units.run_unit(kind, setup, payload)

    def close_units(self) -> bool:
        from . import units

        units.close_all()
        return True
