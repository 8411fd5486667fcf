"""Load a causal LM from a ModelSpec (src/kernels/common.ts): a fixture, a local directory or a hub id.

`load_model(spec)` returns a `LoadedModel` (spec.py): the model in eval mode on its device and
dtype, its tokenizer (pad token set), its `Structure` (models/structure.py, found on first use),
and the fingerprint that the engine's cache key uses.

Safety (DESIGN §3): weights load from safetensors when the directory has them, otherwise with
`torch.load(weights_only=True)`; `trust_remote_code` is passed only as the spec says (default off).
Pre-quantized checkpoints (`format: gptq|awq|compressed-tensors`) go to `quantized.load_quantized`,
llama.cpp's GGUF files (`format: gguf`) to `llamacpp.load_gguf`.
"""

from __future__ import annotations

import json
import logging
import os

import torch

from ..errors import ModelError, ParameterError
from .llamacpp import load_gguf
from .quantized import load_quantized
from .spec import (  # noqa: F401 - re-exported: scripts and tests import these from models.load
    DTYPES,
    FIXTURE_NAMES,
    FIXTURE_PREFIX,
    LoadedModel,
    cache_root,
    dtype_kwarg,
    fingerprint_dir,
    fixture_dir,
    load_tokenizer,
    normalize_spec,
    resolve_device,
    resolve_dtype,
    resolve_path,
)

log = logging.getLogger("polyquant.models")


def _local_quant_method(path: str) -> str:
    """The quant_method of a local folder's config.json, or "" (none, or no readable config)."""
    try:
        with open(os.path.join(path, "config.json"), encoding="utf-8") as f:
            q = json.load(f).get("quantization_config") or {}
        return str(q.get("quant_method", "")).lower()
    except (OSError, ValueError, AttributeError):
        return ""


def load_model(spec: dict | str) -> LoadedModel:
    """Load the model a ModelSpec names; see the module docstring."""
    spec = normalize_spec(spec)
    model_id = str(spec["id"])
    revision = spec.get("revision")
    trust = bool(spec.get("trust_remote_code", False))
    if spec.get("file") is not None and spec["format"] != "gguf":
        raise ParameterError(f"model {model_id!r}: `file` names a .gguf file, which only format gguf reads (format is {spec['format']!r})")
    if spec["format"] == "gguf":
        path, local = resolve_path(model_id, require_config=False)
        return load_gguf(spec, path, local)
    path, local = resolve_path(model_id)
    if spec["format"] in ("gptq", "awq", "compressed-tensors"):
        return load_quantized(spec, path)
    if local and _local_quant_method(path) == "compressed-tensors":
        # transformers needs the compressed-tensors package for these; polyquant reads them itself
        return load_quantized({**spec, "format": "compressed-tensors"}, path)

    device = resolve_device(str(spec["device"]))
    dtype = resolve_dtype(str(spec["dtype"]), device)
    from transformers import AutoModelForCausalLM

    kwargs: dict = {"trust_remote_code": trust, **dtype_kwarg(dtype)}
    if revision:
        kwargs["revision"] = revision
    if local:
        has_safetensors = any(n.endswith(".safetensors") for n in os.listdir(path))
        kwargs["use_safetensors"] = has_safetensors
        if not has_safetensors:
            kwargs["weights_only"] = True
    try:
        model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    except Exception as exc:  # noqa: BLE001
        raise ModelError(f"cannot load model {model_id!r} from {path!r}: {type(exc).__name__}: {exc}") from exc
    model.to(device)
    model.eval()
    tokenizer, from_eos = load_tokenizer(path, revision, trust)
    notes = ["tokenizer has no pad token: eos stands in"] if from_eos else []
    # the engine passes its fingerprint (computed once, src/model/facts.ts); a script gets the same here
    fingerprint = spec.get("fingerprint") or (fingerprint_dir(path, model_id) if local else f"{model_id}@{revision or 'main'}")
    n_params = sum(p.numel() for p in model.parameters())
    log.info("loaded %s (%s, %d params) on %s as %s", model_id, getattr(model.config, "model_type", "?"), n_params, device, dtype)
    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        spec=spec,
        fingerprint=fingerprint,
        device=device,
        dtype=dtype,
        n_params=n_params,
        path=path,
        pad_token_from_eos=from_eos,
        notes=notes,
    )
