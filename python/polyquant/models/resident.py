"""Resident models: one loaded copy per canonical spec per worker process (DESIGN §3, §4).

Steps that share a model reuse the copy, so a 7B model is loaded once per run. The canonical key is
the spec with its defaults filled, as sorted JSON, minus `params_b` (a planning hint that does not
change what is loaded). Quantized variants are made in place on the resident copy and restored by
the quant kernels (polyquant.quant.apply); this module never clones a model.
"""

from __future__ import annotations

import gc
import json
import logging
import threading

from .load import LoadedModel, load_model, normalize_spec

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
            log.info("loading resident model %s", key)
            loaded = load_model(normalize_spec(spec))
            _models[key] = loaded
        return loaded


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
