"""Where a causal LM keeps its decoder blocks and linears, found from the model itself.

No list of architectures gates anything: `structure_of(model)` inspects any model transformers
loads (remote-code ones too) and caches the answer on the model object.

- **Blocks**: the `nn.ModuleList` of same-class modules, each holding linears, that the model's
  forward calls once each, in order (checked by one traced forward pass on a few tokens). Where
  several lists qualify, the one as long as the config's layer count, then the shallowest, wins.
- **Linears**: every `nn.Linear` and GPT-2-style `Conv1D` (weight stored in × out) inside a
  block, in the order the traced forward calls them. Fused projections (`c_attn`,
  `query_key_value`, `qkv_proj`, `gate_up_proj`) are linears like any other. Linears the forward
  never calls are listed as `unused` and not quantized.
- **Embeddings**: the input embedding (`get_input_embeddings`) and any other `nn.Embedding`
  outside the blocks (GPT-2's, OPT's position embeddings); **lm_head**: `get_output_embeddings`,
  with whether it is tied to the input embedding.
- **Attention output** (head ablation, attention-heads): the last linear that the block's
  attention module calls, the attention module being the block's submodule whose class name says
  Attention (`LlamaAttention`, `GPTNeoXAttention`, `FalconAttention`, ...). None when there is
  no such module; attention-heads then says so.

Weights are handed out as out × in (an `nn.Linear` layout): `weight_of` / `set_weight_of` hide
Conv1D's transpose. `registry.py` holds optional refinements for model types whose names the
rules above cannot find; it is never consulted to refuse a model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import torch
from torch import nn

from ..errors import ModelError, ParameterError

TRACE_TOKENS = 8  # tokens in the discovery forward pass
LAYER_COUNT_ATTRS = ("num_hidden_layers", "n_layer", "num_layers", "n_layers")


def is_conv1d(mod: nn.Module) -> bool:
    """GPT-2's Conv1D (transformers.pytorch_utils): weight (in, out), `nf` output features."""
    w = getattr(mod, "weight", None)
    return type(mod).__name__ == "Conv1D" and isinstance(w, torch.Tensor) and w.dim() == 2 and w.shape[1] == getattr(mod, "nf", -1)


def is_linear(mod: nn.Module) -> bool:
    return isinstance(mod, nn.Linear) or is_conv1d(mod)


@dataclass
class Structure:
    """What `structure_of` found; names are full module names unless said otherwise."""

    model_type: str  # config.model_type
    blocks: str  # path of the ModuleList of decoder blocks, e.g. "model.layers"
    linears: list[list[str]]  # per block: block-relative linear names, in call order
    transposed: frozenset[str]  # linears stored in × out (Conv1D)
    embeddings: tuple[str, ...]  # input (first) and position embeddings
    lm_head: Optional[str]  # the output projection, None if the model has none
    tied_lm_head: bool  # lm_head shares its weight with the input embedding
    attention: Optional[str]  # block-relative name of the attention module
    attn_out: Optional[str]  # block-relative name of its output projection
    unused: tuple[str, ...] = ()  # block linears the forward never called
    refinement: Optional[str] = None  # the registry entry applied, if any
    notes: list[str] = field(default_factory=list)

    @property
    def n_layers(self) -> int:
        return len(self.linears)

    @property
    def n_linears(self) -> int:
        return sum(len(x) for x in self.linears)

    def describe(self) -> dict:
        """What validate, plan and every step's outputs report about the architecture."""
        return {
            "model_type": self.model_type,
            "blocks": self.blocks,
            "layers": self.n_layers,
            "linears_per_block": len(self.linears[0]) if self.linears else 0,
            "linears": self.n_linears,
            "block_linears": list(self.linears[0]) if self.linears else [],
            "conv1d": bool(self.transposed),
            "embeddings": list(self.embeddings),
            "lm_head": self.lm_head,
            "tied_lm_head": self.tied_lm_head,
            "attention": self.attention,
            "attn_out": self.attn_out,
            "unused": list(self.unused),
            "refinement": self.refinement,
            "notes": list(self.notes),
        }


def _get(root: nn.Module, path: str) -> nn.Module:
    mod = root
    for part in path.split("."):
        mod = getattr(mod, part)
    return mod


def _text_config(model: nn.Module) -> Any:
    cfg = getattr(model, "config", None)
    get = getattr(cfg, "get_text_config", None)
    return get() if callable(get) else cfg


def _layer_count(model: nn.Module) -> Optional[int]:
    cfg = _text_config(model)
    for attr in LAYER_COUNT_ATTRS:
        value = getattr(cfg, attr, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def _block_list_candidates(model: nn.Module) -> list[tuple[str, nn.ModuleList]]:
    out = []
    for name, mod in model.named_modules():
        if not isinstance(mod, nn.ModuleList) or len(mod) == 0 or not name:
            continue
        kinds = {type(c) for c in mod}
        if len(kinds) == 1 and all(any(is_linear(m) for m in c.modules()) for c in mod):
            out.append((name, mod))
    return out


def _pick_blocks(model: nn.Module) -> tuple[str, nn.ModuleList]:
    candidates = _block_list_candidates(model)
    if not candidates:
        raise ModelError(
            f"{type(model).__name__}: no decoder blocks found (a ModuleList of same-class modules holding nn.Linear or Conv1D layers); "
            "perplexity, tokenizer-stats and task-eval still run, quantization cannot"
        )
    n = _layer_count(model)
    matching = [c for c in candidates if len(c[1]) == n] or candidates
    matching.sort(key=lambda c: (c[0].count("."), -len(c[1])))
    return matching[0]


def _trace_ids(model: nn.Module) -> torch.Tensor:
    emb = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    vocab = int(emb.weight.shape[0]) if emb is not None and hasattr(emb, "weight") else 16
    device = next(model.parameters()).device
    return (torch.arange(TRACE_TOKENS, device=device) % max(1, vocab - 1) + 1).unsqueeze(0)


@torch.no_grad()
def _trace(model: nn.Module, blocks: nn.ModuleList) -> tuple[list[str], list[int]]:
    """One forward on a few tokens: (linear names in call order, block indices in call order)."""
    calls: list[str] = []
    block_calls: list[int] = []
    handles = []
    for name, mod in model.named_modules():
        if is_linear(mod):
            handles.append(mod.register_forward_pre_hook(lambda _m, _a, n=name: calls.append(n)))
    for i, b in enumerate(blocks):
        handles.append(b.register_forward_pre_hook(lambda _m, _a, i=i: block_calls.append(i)))
    try:
        model(input_ids=_trace_ids(model), use_cache=False)
    except Exception as exc:  # noqa: BLE001 - a model that cannot run a forward pass is reported, not guessed at
        raise ModelError(f"{type(model).__name__}: the structure-discovery forward pass failed: {type(exc).__name__}: {exc}") from exc
    finally:
        for h in handles:
            h.remove()
    return calls, block_calls


def _attention(block: nn.Module, called: list[str]) -> tuple[Optional[str], Optional[str]]:
    """(attention module, its last-called linear), block-relative."""
    for name, mod in block.named_modules():
        cls = type(mod).__name__.lower()
        if name and ("attention" in cls or cls.endswith("attn")) and not is_linear(mod):
            inside = [n for n in called if n.startswith(name + ".")]
            if inside:
                return name, inside[-1]
    return None, None


def discover(model: nn.Module) -> Structure:
    """Find the structure of `model` (see the module docstring); no cache."""
    from .registry import refine

    block_path, blocks = _pick_blocks(model)
    calls, block_calls = _trace(model, blocks)
    if block_calls != list(range(len(blocks))):
        raise ModelError(
            f"{type(model).__name__}: the forward pass called the blocks of {block_path} in the order {block_calls[:12]}, "
            f"not once each in order 0..{len(blocks) - 1}"
        )
    linears: list[list[str]] = []
    unused: list[str] = []
    transposed = set()
    for i, block in enumerate(blocks):
        prefix = f"{block_path}.{i}."
        order = {}
        for n in calls:
            if n.startswith(prefix):
                order.setdefault(n[len(prefix) :], len(order))
        rel = [n for n, m in block.named_modules() if is_linear(m)]
        unused += [prefix + n for n in rel if n not in order]
        used = sorted((n for n in rel if n in order), key=order.__getitem__)
        linears.append(used)
        transposed |= {prefix + n for n in used if is_conv1d(_get(block, n))}
    names = {id(m): n for n, m in model.named_modules()}
    inp = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    embeddings = [names[id(inp)]] if inp is not None and id(inp) in names else []
    embeddings += [
        n for n, m in model.named_modules()
        if isinstance(m, nn.Embedding) and n not in embeddings and not n.startswith(block_path + ".")
    ]
    out = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    lm_head = names.get(id(out)) if out is not None else None
    tied = bool(lm_head and inp is not None and getattr(out, "weight", None) is getattr(inp, "weight", 0))
    first_calls = [n[len(block_path) + 3 :] for n in calls if n.startswith(f"{block_path}.0.")]
    attention, attn_out = _attention(blocks[0], first_calls)
    structure = Structure(
        model_type=str(getattr(getattr(model, "config", None), "model_type", type(model).__name__)),
        blocks=block_path,
        linears=linears,
        transposed=frozenset(transposed),
        embeddings=tuple(embeddings),
        lm_head=lm_head,
        tied_lm_head=tied,
        attention=attention,
        attn_out=attn_out,
        unused=tuple(unused),
    )
    if not any(linears):
        raise ModelError(f"{type(model).__name__}: the blocks of {block_path} hold no linear that the forward pass calls")
    return refine(structure)


def structure_of(model: nn.Module) -> Structure:
    """The model's structure, discovered once and kept on the model object."""
    found = model.__dict__.get("_polyquant_structure")
    if found is None:
        found = discover(model)
        model.__dict__["_polyquant_structure"] = found
    return found


# --- accessors every kernel uses ------------------------------------------------------------------


def blocks(model: nn.Module) -> nn.ModuleList:
    return _get(model, structure_of(model).blocks)


def num_layers(model: nn.Module) -> int:
    return structure_of(model).n_layers


def block_prefix(model: nn.Module, layer: int) -> str:
    return f"{structure_of(model).blocks}.{layer}"


def block_linears(model: nn.Module, layer: int) -> dict[str, nn.Module]:
    """Full module name → module, for every quantizable linear of block `layer`, in call order."""
    s = structure_of(model)
    block = blocks(model)[layer]
    prefix = block_prefix(model, layer)
    return {f"{prefix}.{rel}": _get(block, rel) for rel in s.linears[layer]}


def all_linears(model: nn.Module) -> dict[str, tuple[int, nn.Module]]:
    """Full module name → (layer index, module) for every block linear in the model."""
    out: dict[str, tuple[int, nn.Module]] = {}
    for i in range(num_layers(model)):
        for name, mod in block_linears(model, i).items():
            out[name] = (i, mod)
    return out


def module(model: nn.Module, name: str) -> nn.Module:
    return _get(model, name)


def attn_out_module(model: nn.Module, layer: int) -> nn.Module:
    s = structure_of(model)
    if s.attn_out is None:
        raise ModelError(f"model_type {s.model_type!r}: no attention module with an output projection was found in {s.blocks}.0")
    return _get(blocks(model)[layer], s.attn_out)


def weight_of(model: nn.Module, mod: nn.Module) -> torch.Tensor:
    """The module's weight as out × in (a view for nn.Linear, a transposed view for Conv1D)."""
    return mod.weight.t() if is_conv1d(mod) else mod.weight


def set_weight_of(model: nn.Module, mod: nn.Module, w_out_in: torch.Tensor) -> None:
    """Copy an out × in tensor into the module's weight, in place, in the module's own layout."""
    with torch.no_grad():
        target = mod.weight
        src = w_out_in.t() if is_conv1d(mod) else w_out_in
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
