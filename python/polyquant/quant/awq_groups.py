"""AWQ scale groups derived from the model and verified, block by block.

AWQ multiplies the input channels of some linears by s and divides the output of the op that
produces their input by s. Which op that is differs between architectures (Gemma-2 normalises
the attention output with `post_attention_layernorm` and feeds the MLP from
`pre_feedforward_layernorm`; GPT-NeoX, Falcon and Phi feed attention and MLP from one norm; OLMo-2
normalises after the linears), so nothing here is looked up by name:

1. **Trace**: one forward of the block on its first calibration batch records which module output
   each linear reads, by tensor identity ("reaches the linear unchanged").
2. **Candidates**: linears reading the output of one module form a group with it as `prev` when
   that module has a weight that can absorb 1/s: a norm (1-D weight over the channels) or a linear
   (its output rows). A linear whose input no module produced directly (attention output,
   act(gate) · up) gets as candidates the earlier linears of the block with as many outputs as it
   has inputs, nearest first: Llama's v_proj → o_proj and up_proj → down_proj are such folds,
   valid because the ops in between act on each channel linearly.
3. **Verification**: each candidate is folded with random scales (log-uniform in [1/2, 2]) and
   no quantization; the block's output must not change beyond float tolerance. A norm fold is
   tried as w / s, then as (1 + w) / s − 1 (Gemma's RMSNorm multiplies by 1 + w). A candidate
   that changes the output is dropped, and the reason is kept for the step's outputs.

`no_clip`: llm-awq does not clip the projections that feed the attention scores (q, k). Found by
structure: doubling such a linear's output does not double the attention output projection's
input (softmax is in between); doubling v_proj's does. Fused q/k/v projections are not clipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import torch
from torch import nn

from ..models import structure
from .apply import apply_weights

FOLD_TOLERANCE = {torch.float32: 1e-4, torch.float64: 1e-9}  # relative to max |block output|; 2e-2 for half types
FOLDS = ("divide", "one_plus")  # a norm's weight w/s, or (1 + w)/s − 1


@dataclass(frozen=True)
class ScaleGroup:
    """Linears that read one op's output, and that op (`prev`), which absorbs 1/s."""

    prev: str  # full module name of the norm or linear
    linears: tuple[str, ...]  # full module names, in call order
    fold: str = "divide"  # how a norm absorbs 1/s: "divide" (w / s) or "one_plus" ((1 + w) / s − 1)


@dataclass
class BlockGroups:
    groups: list[ScaleGroup] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)  # "<linears>: <why no group>"
    no_clip: set[str] = field(default_factory=set)  # full names of linears that feed attention scores


def tolerance(dtype: torch.dtype) -> float:
    return FOLD_TOLERANCE.get(dtype, 2e-2)


def relative_change(out: torch.Tensor, ref: torch.Tensor) -> float:
    return float((out.float() - ref.float()).abs().max()) / (float(ref.float().abs().max()) or 1.0)


def fold_weights(model: nn.Module, groups: list[tuple[ScaleGroup, torch.Tensor]], new: Optional[dict] = None) -> dict[str, torch.Tensor]:
    """New parameter values with each group's s folded in: prev's output / s, the linears' columns · s.

    `new` (param name → tensor) is updated in place and returned; the model is not modified.
    """
    params = dict(model.named_parameters(remove_duplicate=False))
    new = {} if new is None else new

    def cur(name: str) -> torch.Tensor:
        if name not in new:
            new[name] = params[name].detach().clone()
        return new[name]

    def out_in(name: str) -> torch.Tensor:  # a linear's weight as out × in (a view into `new`)
        w = cur(f"{name}.weight")
        return w.t() if structure.is_conv1d(structure.module(model, name)) else w

    for g, s in groups:
        s = s.to(device=params[f"{g.prev}.weight"].device)
        if params[f"{g.prev}.weight"].dim() == 1:  # a norm
            w = cur(f"{g.prev}.weight")
            folded = (1 + w.double()) / s.double() - 1 if g.fold == "one_plus" else w.double() / s.double()
            w.copy_(folded.to(w.dtype))
        else:  # a linear: its output rows are divided by s
            w = out_in(g.prev)
            w.div_(s.to(w.dtype)[:, None])
        if f"{g.prev}.bias" in params and params[f"{g.prev}.bias"] is not None:
            b = cur(f"{g.prev}.bias")
            b.div_(s.to(b.dtype))
        for lin in g.linears:
            w = out_in(lin)
            w.mul_(s.to(w.dtype)[None, :])
    return new


def _run(block: nn.Module, call: tuple) -> torch.Tensor:
    hidden, args, kwargs = call
    out = block(hidden, *args, **kwargs)
    return out[0] if isinstance(out, (tuple, list)) else out


@torch.no_grad()
def fold_changes_output(model: nn.Module, block: nn.Module, call: tuple, ref: torch.Tensor, groups: list[tuple[ScaleGroup, torch.Tensor]]) -> float:
    """Relative change of the block's output on `call` when `groups` are folded in (no quantization)."""
    snap = apply_weights(model, fold_weights(model, groups))
    try:
        return relative_change(_run(block, call), ref)
    finally:
        snap.restore()


def _random_scales(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.exp((torch.rand(n, generator=g) * 2 - 1) * 0.6931)  # log-uniform in [1/2, 2]


@torch.no_grad()
def _trace(block: nn.Module) -> tuple[list, dict[str, torch.Tensor], list]:
    """Hooks recording (module name, output tensor) in call order and each linear's input tensor."""
    produced: list[tuple[str, Any]] = []
    consumed: dict[str, torch.Tensor] = {}
    handles = []
    for name, mod in block.named_modules():
        if not name:
            continue
        handles.append(mod.register_forward_hook(lambda _m, _a, out, n=name: produced.append((n, out))))
        if structure.is_linear(mod):
            handles.append(mod.register_forward_pre_hook(lambda _m, args, n=name: consumed.setdefault(n, args[0])))
    return produced, consumed, handles


def _absorbs(model: nn.Module, mod: nn.Module, width: int) -> bool:
    """Has a weight that can take 1/s over `width` output channels: a norm's 1-D weight or a linear."""
    w = getattr(mod, "weight", None)
    if not isinstance(w, torch.Tensor):
        return False
    if structure.is_linear(mod):
        return structure.in_out_features(model, mod)[1] == width
    return w.dim() == 1 and w.numel() == width


@torch.no_grad()
def derive_block_groups(model: nn.Module, layer: int, call: tuple, seed: int = 0) -> BlockGroups:
    """The verified scale groups of block `layer`, probed on one captured call (hidden, args, kwargs)."""
    block = structure.blocks(model)[layer]
    prefix = structure.block_prefix(model, layer) + "."
    found = structure.structure_of(model)
    rels = found.linears[layer]
    produced, consumed, handles = _trace(block)
    try:
        ref = _run(block, call)
    finally:
        for h in handles:
            h.remove()
    mods = {rel: structure.module(block, rel) for rel in rels}
    width = {rel: structure.in_out_features(model, m)[0] for rel, m in mods.items()}
    out_width = {rel: structure.in_out_features(model, m)[1] for rel, m in mods.items()}
    by_prev: dict[str, list[str]] = {}
    orphans: list[str] = []
    reasons: dict[str, str] = {}
    for rel in rels:
        x = consumed.get(rel)
        makers = [n for n, out in produced if out is x]
        usable = [n for n in makers if _absorbs(model, structure.module(block, n), width[rel])]
        if usable:
            by_prev.setdefault(usable[-1], []).append(rel)
        else:
            orphans.append(rel)
            reasons[rel] = f"its input comes from {makers[-1]}, which has no weight to absorb the scales" if makers else "its input is not the output of a module that can absorb the scales"
    tol = tolerance(ref.dtype)
    out = BlockGroups()
    k = 0

    def verify(prev: str, linears: list[str], folds: tuple[str, ...]) -> Optional[ScaleGroup]:
        nonlocal k
        k += 1
        s = _random_scales(width[linears[0]], seed * 1000 + layer * 100 + k)
        for fold in folds:
            g = ScaleGroup(prefix + prev, tuple(prefix + r for r in linears), fold)
            if fold_changes_output(model, block, call, ref, [(g, s)]) <= tol:
                return g
        return None

    for prev, linears in by_prev.items():
        is_norm = not structure.is_linear(structure.module(block, prev))
        g = verify(prev, linears, FOLDS if is_norm else FOLDS[:1])
        if g is not None:
            out.groups.append(g)
        else:
            out.rejected.append(f"{', '.join(prefix + r for r in linears)}: folding 1/s into {prefix + prev} changes the block's output")
    for rel in orphans:
        before = rels[: rels.index(rel)]
        candidates = [p for p in reversed(before) if out_width[p] == width[rel]]
        g = None
        for prev in candidates:
            g = verify(prev, [rel], FOLDS[:1])
            if g is not None:
                out.groups.append(g)
                break
        if g is None:
            tried = f"; no earlier linear folds into it exactly (tried {', '.join(candidates)})" if candidates else ""
            out.rejected.append(f"{prefix + rel}: {reasons[rel]}{tried}")
    out.groups.sort(key=lambda g: rels.index(g.linears[0][len(prefix) :]))
    out.no_clip = _score_linears(model, block, call, layer)
    return out


@torch.no_grad()
def _score_linears(model: nn.Module, block: nn.Module, call: tuple, layer: int) -> set[str]:
    """Linears of the attention module (before its output projection) that feed the attention scores."""
    found = structure.structure_of(model)
    if found.attention is None or found.attn_out is None:
        return set()
    prefix = structure.block_prefix(model, layer) + "."
    rels = found.linears[layer]
    inside = [r for r in rels if r.startswith(found.attention + ".") and r != found.attn_out]
    attn_out = structure.module(block, found.attn_out)
    seen: list[torch.Tensor] = []
    handle = attn_out.register_forward_pre_hook(lambda _m, args: seen.append(args[0]))
    try:
        _run(block, call)
        ref = seen.pop()
        out = set()
        for rel in inside:
            mod = structure.module(block, rel)
            new = {f"{prefix}{rel}.weight": mod.weight.detach() * 2}
            if getattr(mod, "bias", None) is not None:
                new[f"{prefix}{rel}.bias"] = mod.bias.detach() * 2
            snap = apply_weights(model, new)
            try:
                _run(block, call)
            finally:
                snap.restore()
            got = seen.pop()
            if got.shape != ref.shape or relative_change(got, 2 * ref) > tolerance(ref.dtype):
                out.add(prefix + rel)
        return out
    finally:
        handle.remove()
