"""What the worker runs on: Python, torch, transformers, CUDA device and memory. Used by `doctor`."""

from __future__ import annotations

import importlib.metadata
import platform
import sys

from ..context import KernelContext
from .contract import kernel


def _version(module: str) -> str | None:
    """The installed version of a package that imports; None when it does not."""
    try:
        __import__(module)
    except Exception:  # a missing or broken package is what doctor reports, not an error
        return None
    try:
        return importlib.metadata.version(module)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


@kernel("environment")
def run(params: dict, ctx: KernelContext) -> dict:
    info: dict = {
        "python": platform.python_version(),
        "executable": sys.executable,
        "packages": {name: _version(name) for name in params["packages"]},
        "cuda": None,
        "cpu_threads": None,
    }
    try:
        import torch

        info["cpu_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            devices = []
            for i in range(torch.cuda.device_count()):
                props = torch.cuda.get_device_properties(i)
                devices.append({"index": i, "name": props.name, "memory_bytes": int(props.total_memory)})
            info["cuda"] = {"version": torch.version.cuda, "devices": devices}
    except Exception as exc:  # torch missing: doctor says so
        info["torch_error"] = f"{type(exc).__name__}: {exc}"
    return info
