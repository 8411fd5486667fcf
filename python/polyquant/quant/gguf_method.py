"""`method: gguf`: llama.cpp's block formats as a quantization method, so that a researcher can ask
whether the types llama.cpp and Ollama users run (Q4_K_M, Q5_K_M, Q8_0, ...) hurt Hebrew more than
English, on the same model, corpus and protocol as RTN, GPTQ and AWQ.

Which tensors, and which type each gets, is llama-quantize's choice: every block linear, the token
embedding and the output head (`plan.all_candidates`), typed by `ggml_mix.choose_types` from the
file type (`quant.gguf.type`, default Q4_K_M) over the whole model, before protection, so that
protecting a layer does not shift llama.cpp's attn_v / ffn_down counters for the others. Each
weight is then encoded into llama.cpp's bytes and decoded back (`ggml_blocks`): the model polyquant
evaluates is, weight for weight, what llama.cpp's reference quantizer writes and gguf-py reads.

With `coded=True` (a layer sweep keeps every quantized weight for the whole run) a weight is kept
as its GGUF blocks, 4.5 bits a weight for Q4_K, and decoded when a forward pass needs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from ..context import KernelContext
from ..errors import KernelStopped, ParameterError
from . import ggml_blocks, ggml_mix
from .plan import QuantTarget
from .result import QuantResult
from .rtn import relative_error

DEFAULT_TYPE = "Q4_K_M"


def options(quant: dict) -> tuple[str, bool]:
    """(type or file type, pure) of a quant config with method gguf; pure: one type everywhere (rules: uniform)."""
    g = quant.get("gguf") or {}
    return str(g.get("type", DEFAULT_TYPE)), g.get("rules", "llama-quantize") == "uniform"


def summary_type(quant: dict) -> str:
    """The block type that stands for the whole config in a summary: the file type's default type."""
    name, _ = options(quant)
    return ggml_mix.PRESETS.get(name, name)


def assign_types(model, quant: dict, candidates: list[QuantTarget]) -> None:
    """Give every candidate its llama.cpp type (`ggml_type`, `bits`, `group_size`), over the whole model."""
    from ..models import structure

    name, pure = options(quant)
    config = getattr(model, "config", None)
    n_head = int(getattr(config, "num_attention_heads", 0) or getattr(config, "n_head", 0) or 1)
    facts = ggml_mix.ModelFacts(
        n_layers=structure.num_layers(model),
        n_head=n_head,
        n_head_kv=int(getattr(config, "num_key_value_heads", 0) or n_head),
        n_expert=int(getattr(config, "num_local_experts", 0) or getattr(config, "num_experts", 0) or 0),
        tied_output=bool(getattr(config, "tie_word_embeddings", False)) and not any(t.kind == "lm_head" for t in candidates),
        arch=str(getattr(config, "model_type", "llama")),
    )
    roles = []
    for t in candidates:
        role, layer = ggml_mix.role_of(t.name)
        if t.kind == "embedding":
            role = "token_embd"
        elif t.kind == "lm_head":
            role = "output"
        rows, cols = t.weight().shape
        roles.append(ggml_mix.TensorRole(t.name, role, t.layer if t.layer is not None else layer, int(rows), int(cols)))
    for t, choice in zip(candidates, ggml_mix.choose_types(name, roles, facts, pure=pure)):
        set_type(t, choice.ggml_type, choice.reason)


def set_type(t: QuantTarget, type_name: str, reason: str) -> None:
    t.ggml_type = type_name
    t.ggml_reason = reason
    if type_name in ggml_blocks.GGML_TYPES:
        kind = ggml_blocks.GGML_TYPES[type_name]
        t.bits, t.group_size, t.sym = kind.bits, kind.scale_group, False


def override_type(t: QuantTarget, type_name: str, where: str) -> None:
    """An override's `type` for one target, with llama.cpp's fallback when its rows do not fit the block."""
    cols = int(t.weight().shape[1])
    block = ggml_mix.BLOCK_SIZES.get(type_name)
    if block is None:
        raise ParameterError(f"{where}.type {type_name!r} is not one of {', '.join(ggml_mix.BLOCK_TYPES)}")
    if cols % block == 0:
        set_type(t, type_name, f"{where}")
        return
    fallback = ggml_mix.FALLBACK.get(type_name)
    if fallback is None or cols % ggml_mix.BLOCK_SIZES[fallback] != 0:
        raise ParameterError(f"{where}.type {type_name}: module {t.name} has rows of {cols}, not a multiple of its block of {block}")
    set_type(t, fallback, f"{where}: row length {cols} not a multiple of {block} -> fallback {fallback}")


@dataclass
class BlockCodedWeight:
    """A weight kept as its GGUF blocks (the interface of `coded.CodedWeight`, for `swap.py` and the sweep)."""

    blocks: torch.Tensor  # uint8, out × (in / block · bytes per block)
    type_name: str
    shape: tuple[int, int]  # the parameter's shape
    dtype: torch.dtype
    transposed: bool  # the parameter is stored in × out (GPT-2 Conv1D)

    @property
    def numel(self) -> int:
        return self.shape[0] * self.shape[1]

    def nbytes(self) -> int:
        return self.blocks.numel()

    def reserve(self, buffers: dict, device: Optional[torch.device] = None) -> None:
        """Nothing to reserve: decoding allocates its result (a few whole-tensor operations)."""

    @torch.no_grad()
    def dequantize(self, device: Optional[torch.device] = None, buffers: Optional[dict] = None) -> torch.Tensor:
        blocks = self.blocks if device is None else self.blocks.to(device)
        w = ggml_blocks.decode(blocks, self.type_name).to(self.dtype)
        return w.t().contiguous() if self.transposed else w


@torch.no_grad()
def quantize_gguf(targets: list[QuantTarget], ctx: Optional[KernelContext] = None, coded: bool = False) -> QuantResult:
    """Every target encoded into its llama.cpp type and decoded back; the model itself is unchanged."""
    weights: dict[str, torch.Tensor] = {}
    codes: dict[str, BlockCodedWeight] = {}
    errors: dict[str, float] = {}
    types: dict[str, str] = {}
    for i, t in enumerate(targets):
        if ctx is not None and ctx.should_stop():
            raise KernelStopped(f"stopped while quantizing, after {i} of {len(targets)} modules")
        if t.ggml_type is None:
            raise ParameterError(f"module {t.name} has no llama.cpp type (method gguf plans every target's type)")
        W = t.weight()  # out × in
        blocks = ggml_blocks.encode(W.detach().float(), t.ggml_type)
        W_hat = ggml_blocks.decode(blocks, t.ggml_type).to(W.dtype)
        errors[t.name] = relative_error(W, W_hat)
        types[t.name] = t.ggml_type
        if coded:
            codes[t.param_name] = BlockCodedWeight(blocks.cpu(), t.ggml_type, tuple(t.module.weight.shape), W.dtype, t.transposed)
        else:
            weights[t.param_name] = t.to_param_layout(W_hat).to("cpu")
        if ctx is not None:
            ctx.progress(i + 1, len(targets), "modules", f"gguf {t.ggml_type} {t.name}")
    return QuantResult(weights, errors, {"method": "gguf", "types": types}, codes)  # type: ignore[arg-type]
