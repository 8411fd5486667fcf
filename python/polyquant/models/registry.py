"""One registry for model families: where the blocks are, which linears each block has, how
their weights are laid out, and what AWQ may scale. Every kernel asks this module; no kernel
tests `"llama" in name` on its own (the habit to avoid in llm-awq).

Weights are always handed out as `out_features × in_features` (an `nn.Linear` layout): GPT-2's
Conv1D stores the transpose, and `weight_of`/`set_weight_of` hide that.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from ..errors import ModelError, ParameterError


@dataclass(frozen=True)
class ScaleGroup:
    """AWQ: linears that read the same input, and the op before them whose output can absorb 1/s.

    `prev` is a norm (its weight, and bias if any, are divided by s) or a linear (its output
    rows are divided by s). `inspect` is the module whose input is the group's activation.
    """

    prev: str  # name relative to the block, e.g. "input_layernorm"
    linears: tuple[str, ...]  # e.g. ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj")


@dataclass(frozen=True)
class Family:
    name: str
    model_types: tuple[str, ...]  # config.model_type values that use this layout
    blocks: str  # attribute path from the top model to the ModuleList of blocks
    linears: tuple[str, ...]  # block-relative names, in execution order
    transposed: bool  # True: weights stored in × out (GPT-2 Conv1D)
    embeddings: tuple[str, ...]  # top-level names of embedding modules
    lm_head: str
    final_norm: str
    attn_out: str  # block-relative name of the attention output projection (head ablation)
    scale_groups: tuple[ScaleGroup, ...] = field(default=())


LLAMA_LINEARS = (
    "self_attn.q_proj",
    "self_attn.k_proj",
    "self_attn.v_proj",
    "self_attn.o_proj",
    "mlp.gate_proj",
    "mlp.up_proj",
    "mlp.down_proj",
)

LLAMA = Family(
    name="llama",
    # Mistral, Qwen2 and Qwen3 share Llama's block layout and module names.
    model_types=("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2"),
    blocks="model.layers",
    linears=LLAMA_LINEARS,
    transposed=False,
    embeddings=("model.embed_tokens",),
    lm_head="lm_head",
    final_norm="model.norm",
    attn_out="self_attn.o_proj",
    scale_groups=(
        ScaleGroup("input_layernorm", ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj")),
        ScaleGroup("self_attn.v_proj", ("self_attn.o_proj",)),  # valid only without GQA; see awq
        ScaleGroup("post_attention_layernorm", ("mlp.gate_proj", "mlp.up_proj")),
        ScaleGroup("mlp.up_proj", ("mlp.down_proj",)),
    ),
)

GPT2 = Family(
    name="gpt2",
    model_types=("gpt2",),
    blocks="transformer.h",
    linears=("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"),
    transposed=True,
    embeddings=("transformer.wte", "transformer.wpe"),
    lm_head="lm_head",
    final_norm="transformer.ln_f",
    attn_out="attn.c_proj",
    scale_groups=(
        ScaleGroup("ln_1", ("attn.c_attn",)),
        ScaleGroup("ln_2", ("mlp.c_fc",)),
        # mlp.c_proj reads GELU(c_fc(x)): no linear op before it can absorb a scale.
    ),
)

FAMILIES: tuple[Family, ...] = (LLAMA, GPT2)


def family_of(model: nn.Module) -> Family:
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    for fam in FAMILIES:
        if model_type in fam.model_types:
            return fam
    known = sorted(t for f in FAMILIES for t in f.model_types)
    raise ModelError(f"model_type {model_type!r} is not in the registry; supported: {', '.join(known)}")


def _get(root: nn.Module, path: str) -> nn.Module:
    mod = root
    for part in path.split("."):
        mod = getattr(mod, part)
    return mod


def blocks(model: nn.Module) -> nn.ModuleList:
    return _get(model, family_of(model).blocks)


def num_layers(model: nn.Module) -> int:
    return len(blocks(model))


def block_prefix(model: nn.Module, layer: int) -> str:
    return f"{family_of(model).blocks}.{layer}"


def block_linears(model: nn.Module, layer: int) -> dict[str, nn.Module]:
    """Full module name → module, for every quantizable linear of block `layer`, in execution order."""
    fam = family_of(model)
    block = blocks(model)[layer]
    prefix = block_prefix(model, layer)
    return {f"{prefix}.{rel}": _get(block, rel) for rel in fam.linears}


def all_linears(model: nn.Module) -> dict[str, tuple[int, nn.Module]]:
    """Full module name → (layer index, module) for every block linear in the model."""
    out: dict[str, tuple[int, nn.Module]] = {}
    for i in range(num_layers(model)):
        for name, mod in block_linears(model, i).items():
            out[name] = (i, mod)
    return out


def module(model: nn.Module, name: str) -> nn.Module:
    return _get(model, name)


def weight_of(model: nn.Module, mod: nn.Module) -> torch.Tensor:
    """The module's weight as out × in (a view for nn.Linear, a transposed view for Conv1D)."""
    return mod.weight.t() if family_of(model).transposed else mod.weight


def set_weight_of(model: nn.Module, mod: nn.Module, w_out_in: torch.Tensor) -> None:
    """Copy an out × in tensor into the module's weight, in place, in the module's own layout."""
    with torch.no_grad():
        target = mod.weight
        src = w_out_in.t() if family_of(model).transposed else w_out_in
        target.copy_(src.to(dtype=target.dtype, device=target.device))


def in_out_features(model: nn.Module, mod: nn.Module) -> tuple[int, int]:
    out_f, in_f = weight_of(model, mod).shape
    return in_f, out_f


def resolve_layer_index(index: int, n_layers: int, where: str = "layer") -> int:
    """Negative indices count from the end (-1 is the last block), as in Python."""
    resolved = index + n_layers if index < 0 else index
    if not 0 <= resolved < n_layers:
        raise ParameterError(f"{where} index {index} is out of range for a model with {n_layers} layers")
    return resolved
