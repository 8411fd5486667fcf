"""Resident models: one loaded copy per canonical spec per worker process (DESIGN §3, §4).

Steps that share a model reuse the copy, so a 7B model is loaded once per run. An accelerator holds
one resident model: loading another onto the same GPU first releases the one there (KAGGLE-002's
Mistral-7B and Qwen-7B in float16 are 29 GB together, a T4 has 16), unless POLYQUANT_KEEP_MODELS=1
says the GPU has room for several. Models on the CPU stay. The canonical key is
the spec with its defaults filled, as sorted JSON, minus `params_b` (a planning hint that does not
change what is loaded). Quantized variants are made in place on the resident copy and restored by
the quant kernels (polyquant.quant.apply); this module never clones a model.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import threading

import torch

from .load import LoadedModel, load_model, normalize_spec
from .spec import resolve_device

log = logging.getLogger("polyquant.models")

# a planning hint, and the engine's fingerprint (the same value by the same rule): same bytes loaded either way
_IGNORED_KEYS = ("params_b", "fingerprint")

_models: dict[str, LoadedModel] = {}
_lock = threading.Lock()


def canonical_key(spec: dict | str) -> str:
    full = {k: v for k, v in normalize_spec(spec).items() if k not in _IGNORED_KEYS and v is not None}
    return json.dumps(full, sort_keys=True, separators=(",", ":"))


def get(spec: dict | str) -> LoadedModel:
    """The resident copy of `spec`, loading it on first use."""
    key = canonical_key(spec)
    with _lock:
        loaded = _models.get(key)
        if loaded is None:
            normalized = normalize_spec(spec)
            _make_room(key, resolve_device(str(normalized.get("device", "auto"))))
            log.info("loading resident model %s", key)
            loaded = load_model(normalized)
            _models[key] = loaded
        return loaded


def _same_accelerator(a: torch.device, b: torch.device) -> bool:
    return a.type != "cpu" and a.type == b.type and (a.index or 0) == (b.index or 0)


def _make_room(key: str, device: torch.device) -> None:
    """Release the models resident on `device` when it is an accelerator (caller holds _lock)."""
    if os.environ.get("POLYQUANT_KEEP_MODELS") == "1":
        return
    leaving = [k for k, m in _models.items() if _same_accelerator(m.device, device)]
    for k in leaving:
        log.info("releasing resident model %s from %s to load %s (POLYQUANT_KEEP_MODELS=1 keeps both)", k, device, key)
        del _models[k]
    if leaving:
        _free()


def is_resident(spec: dict | str) -> bool:
    return canonical_key(spec) in _models


def release(spec: dict | str) -> bool:
    """Drop the resident copy of `spec`; True if there was one."""
    with _lock:
        dropped = _models.pop(canonical_key(spec), None) is not None
    if dropped:
        _free()
    return dropped


def clear() -> None:
    """Drop every resident model (tests, or a worker that changes run)."""
    with _lock:
        _models.clear()
    _free()


def _free() -> None:
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass
