"""What a ModelSpec (src/kernels/common.ts) names, before any weights load: the fixture names and
folder, the cache root (`$POLYQUANT_CACHE`), local folders (`~` expanded), device and dtype
resolution, the fingerprint the cache key uses, the tokenizer, and `LoadedModel`, what every
loader returns. Both loaders use it: load.py (Hugging Face models) and quantized.py (GPTQ/AWQ
checkpoints), so neither imports the other's internals.

Model facts follow src/model/facts.ts, the one rule of the whole tool: the fixture names come from
the `fixture` kernel's contract, `$POLYQUANT_CACHE` is read trimmed with `~` expanded, and the
fingerprint is the engine's. The engine computes it once and passes it with the spec
(`spec["fingerprint"]`); a script calling a kernel directly gets the same value computed here:
`id@sha256:<digest>` for local folders and fixtures, the sha256 over `name \0 bytes \0` of each
model file (MODEL_FILE) in name order, cached in a sidecar keyed by each file's size and mtime so
that a 7B model is hashed once; `id@revision` for hub ids (the hub's revision names the bytes).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..errors import ModelError, ParameterError
from ..kernels.contract import check_model_spec, contract
from .structure import Structure, structure_of

log = logging.getLogger("polyquant.models")

FIXTURE_PREFIX = "fixture:"
FIXTURE_NAMES = tuple(contract("fixture")["params"]["properties"]["name"]["enum"])
# the files that make up a model (src/model/facts.ts MODEL_FILE, NOT_MODEL_FILES)
MODEL_FILE = re.compile(r"\.(json|safetensors|bin|model|txt|tiktoken|py)$")
NOT_MODEL_FILES = frozenset({"polyquant-fixture.json", "README.md"})
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
HASH_CHUNK = 1 << 22  # 4 MiB reads while hashing weights


@dataclass
class LoadedModel:
    model: nn.Module  # eval mode, on `device`, in `dtype`
    tokenizer: Any  # a transformers tokenizer with a pad token
    spec: dict  # the ModelSpec as given (defaults filled)
    fingerprint: str  # sha256 of config + weights (local) or `id@revision` (hub)
    device: torch.device
    dtype: torch.dtype
    n_params: int
    path: str  # the local directory, or the hub id
    pad_token_from_eos: bool = False  # True when the tokenizer had no pad token and eos stands in
    notes: list[str] = field(default_factory=list)  # anything load_model decided that a reader should know

    @property
    def structure(self) -> Structure:
        """Blocks, linears and attention found in the model (models/structure.py), on first use:
        perplexity and the other kernels that need no structure never ask."""
        return structure_of(self.model)

    @property
    def id(self) -> str:
        return str(self.spec["id"])

    @property
    def max_positions(self) -> int | None:
        """The model's context length from its config (None when the config does not say)."""
        cfg = self.model.config
        for attr in ("max_position_embeddings", "n_positions", "n_ctx", "seq_length"):
            value = getattr(cfg, attr, None)
            if isinstance(value, int) and value > 0:
                return value
        return None

    def describe(self) -> dict:
        """The model as recorded with every result."""
        return {
            "id": self.id,
            "fingerprint": self.fingerprint,
            "n_params": self.n_params,
            "dtype": str(self.dtype).removeprefix("torch."),
            "device": str(self.device),
        }


def cache_root() -> str:
    """`$POLYQUANT_CACHE` (trimmed, `~` expanded, absolute), else `~/.cache/polyquant`."""
    named = (os.environ.get("POLYQUANT_CACHE") or "").strip()
    return os.path.abspath(os.path.expanduser(named)) if named else os.path.join(os.path.expanduser("~"), ".cache", "polyquant")


def fixture_dir(name: str) -> str:
    """Where fixture `name` lives: `$POLYQUANT_CACHE/fixtures/<name>`."""
    if name not in FIXTURE_NAMES:
        raise ModelError(f"unknown fixture {name!r}; fixtures are {', '.join(FIXTURE_NAMES)}")
    return os.path.join(cache_root(), "fixtures", name)


def normalize_spec(spec: dict | str) -> dict:
    """The ModelSpec with its defaults, checked: the contract's model schema (src/kernels/common.ts
    ResolvedModel) does for a script what the zod schema does for a workflow."""
    if isinstance(spec, str):
        spec = {"id": spec}
    return check_model_spec(spec)


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu":
        return torch.device("cpu")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ModelError(f"model device {device!r} was asked for, but CUDA is not available on this machine")
        dev = torch.device(device)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ModelError(f"model device {device!r}: only {torch.cuda.device_count()} CUDA device(s) present")
        return dev
    raise ParameterError(f"model device {device!r} is not auto, cpu, cuda or cuda:N")


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    if dtype == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    return DTYPES[dtype]


def resolve_path(model_id: str, require_config: bool = True) -> tuple[str, bool]:
    """(path, is_local): a fixture's directory, a local directory, or a hub id.

    `require_config=False` accepts a local directory that holds only a tokenizer.
    """
    if model_id.startswith(FIXTURE_PREFIX):
        name = model_id[len(FIXTURE_PREFIX) :]
        path = fixture_dir(name)
        if not os.path.isfile(os.path.join(path, "config.json")):
            raise ModelError(
                f"fixture model {model_id!r} is not trained yet (looked in {path}); "
                f"run `polyquant fixture` (or `python -m polyquant.models.fixture --name {name} --corpus corpus.json`)"
            )
        return path, True
    expanded = os.path.expanduser(model_id)
    if os.path.isdir(expanded):
        if require_config and not os.path.isfile(os.path.join(expanded, "config.json")):
            raise ModelError(f"model directory {model_id!r} has no config.json")
        return os.path.abspath(expanded), True
    if model_id.startswith((".", "/", "~")):
        raise ModelError(f"model directory {model_id!r} does not exist")
    return model_id, False


def _fingerprint_files(path: str, gguf_file: str | None = None) -> list[str]:
    names = sorted(n for n in os.listdir(path) if (MODEL_FILE.search(n) and n not in NOT_MODEL_FILES) or n == gguf_file)
    if not names:
        raise ModelError(f"model folder {path!r} holds no model files")
    return [os.path.join(path, n) for n in names]


def fingerprint_dir(path: str, model_id: str, gguf_file: str | None = None) -> str:
    """`<model_id>@sha256:<digest>` of a local model folder, as the engine computes it (src/model/facts.ts).

    gguf_file: the one .gguf of the folder that the model is (a folder often holds several quant types).
    """
    return f"{model_id}@sha256:{_directory_digest(path, gguf_file)}"


def _directory_digest(path: str, gguf_file: str | None = None) -> str:
    """sha256 over each model file's name and bytes, cached by size+mtime."""
    files = _fingerprint_files(path, gguf_file)
    stamp = {os.path.basename(f): [os.stat(f).st_size, os.stat(f).st_mtime_ns] for f in files}
    sidecar = os.path.join(cache_root(), "fingerprints", hashlib.sha1(os.path.abspath(path).encode()).hexdigest() + ".json")
    try:
        with open(sidecar, encoding="utf-8") as f:
            cached = json.load(f)
        if cached.get("path") == os.path.abspath(path) and cached.get("files") == stamp:
            return cached["digest"]
    except (OSError, ValueError):
        pass
    h = hashlib.sha256()
    for f in files:
        h.update(os.path.basename(f).encode() + b"\0")
        with open(f, "rb") as fh:
            while chunk := fh.read(HASH_CHUNK):
                h.update(chunk)
        h.update(b"\0")
    digest = h.hexdigest()
    try:
        os.makedirs(os.path.dirname(sidecar), exist_ok=True)
        tmp = f"{sidecar}.tmp-{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({"path": os.path.abspath(path), "files": stamp, "digest": digest}, f)
        os.replace(tmp, sidecar)
    except OSError as exc:  # a read-only cache only costs a re-hash next time
        log.warning("could not write fingerprint sidecar %s: %s", sidecar, exc)
    return digest


def dtype_kwarg(dtype: torch.dtype) -> dict:
    """The dtype keyword of `from_pretrained` / `from_config`: transformers >= 4.56 calls it `dtype`, older ones `torch_dtype`."""
    import transformers

    major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
    return {"dtype": dtype} if (major, minor) >= (4, 56) else {"torch_dtype": dtype}


def load_tokenizer(path: str, revision: str | None = None, trust_remote_code: bool = False) -> tuple[Any, bool]:
    """(tokenizer, pad_token_from_eos)."""
    from transformers import AutoTokenizer

    kwargs: dict = {"trust_remote_code": trust_remote_code}
    if revision:
        kwargs["revision"] = revision
    try:
        tok = AutoTokenizer.from_pretrained(path, **kwargs)
    except Exception as exc:  # noqa: BLE001 - every failure becomes a ModelError naming the model
        raise ModelError(f"cannot load the tokenizer of {path!r}: {type(exc).__name__}: {exc}") from exc
    from_eos = False
    if tok.pad_token is None:
        if tok.eos_token is None:
            raise ModelError(f"tokenizer of {path!r} has neither a pad nor an eos token")
        tok.pad_token = tok.eos_token
        from_eos = True
    return tok, from_eos


