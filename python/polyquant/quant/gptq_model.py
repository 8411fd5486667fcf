"""GPTQ over a whole model (Frantar et al., 2022, §4 "quantizing the full model"): block by block,
the inputs of block k are the outputs of blocks 0..k−1 *after* they were quantized. Each block's
linears get the single-matrix algorithm of `gptq.py` on Hessians collected from their inputs.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Optional

import torch
from torch import nn

from ..context import KernelContext
from ..errors import KernelStopped, ParameterError
from ..models import structure
from .apply import apply_weights
from .calibration import calibration_for, capture_block_inputs, run_block
from .coded import CodeArena, CodedWeight
from .gptq import GptqCodes, Hessian, gptq_codes
from .result import QuantResult
from .rtn import relative_error

log = logging.getLogger(__name__)


@dataclass
class GptqConfig:
    """The `quant.gptq` options of a workflow (src/kernels/common.ts GptqOptions)."""

    damp_percent: float = 0.01  # dampening λ = damp_percent × mean(diag H), added to diag H
    block_size: int = 128  # columns per lazy batch update (a group starting inside a block takes its grid from the block start)
    act_order: bool = False  # desc_act: quantize columns in order of decreasing diag H
    static_groups: bool = False  # with act_order: group grids fixed from W before reordering
    group_grid: str = "reference"  # a group starting inside a block: its grid from W at the block's start (gptq.py)
    batch_size: int = 8  # calibration sequences per forward pass (memory only)

    @classmethod
    def from_quant(cls, quant: dict) -> "GptqConfig":
        opts = dict(quant.get("gptq") or {})
        cfg = cls(**{k: v for k, v in opts.items() if k in cls.__dataclass_fields__})
        unknown = set(opts) - set(cls.__dataclass_fields__)
        if unknown:
            raise ParameterError(f"quant.gptq has unknown option(s) {sorted(unknown)}")
        return cfg


@dataclass
class GptqModelResult:
    """Extra data a GPTQ run keeps beside its QuantResult: the codes an exporter packs."""

    codes: dict[str, GptqCodes] = field(default_factory=dict)  # module name → codes


def _hessian_hooks(targets: list[Any], hessians: dict[str, Hessian]) -> list[Any]:
    hooks = []
    for t in targets:
        h = hessians[t.name]

        def hook(_mod: nn.Module, args: tuple, _out: Any, h: Hessian = h) -> None:
            h.add_batch(args[0].detach())

        hooks.append(t.module.register_forward_hook(hook))
    return hooks


def _quantize_targets(targets: list[Any], hessians: dict[str, Hessian], cfg: GptqConfig, out: dict) -> dict[str, torch.Tensor]:
    """GPTQ for each target of one block; returns param name → new value (param layout, param device)."""
    new: dict[str, torch.Tensor] = {}
    for t in targets:
        W = t.weight().detach()
        res = gptq_codes(
            W, hessians[t.name].H, t.bits, t.group_size, t.sym, cfg.damp_percent, cfg.block_size, cfg.act_order, cfg.static_groups, t.name, group_grid=cfg.group_grid
        )
        Q = res.dequantize(W.dtype)
        out["errors"][t.name] = relative_error(W, Q)
        out["codes"][t.name] = GptqCodes(**{**res.__dict__, "codes": res.codes.cpu(), "scales": res.scales.cpu(), "zeros": res.zeros.cpu(), "g_idx": res.g_idx.cpu()})
        out["modules"][t.name] = {"bits": t.bits, "group_size": t.group_size, "sym": t.sym, "loss": res.loss, "tokens": hessians[t.name].nsamples}
        new[t.param_name] = t.to_param_layout(Q)
        del hessians[t.name]
    return new


@torch.no_grad()
def quantize_model_gptq(loaded: Any, quant: dict, targets: list[Any], ctx: Optional[KernelContext] = None, arena: Optional[CodeArena] = None) -> Any:
    """GPTQ on every target of `loaded.model`, block by block; the model is left unchanged.

    Returns a `result.QuantResult` whose `gptq` field (a `GptqModelResult`) holds the codes;
    with an `arena` (`coded.CodeArena`), the new weights are `result.coded` instead, codes kept in
    the arena, and neither float copies of them nor `gptq.codes` are kept.
    Targets that are not block linears: the lm_head gets GPTQ with its own
    inputs (captured from the model's own forward); embeddings have no input activations and get RTN (listed in meta["rtn_fallback"]).
    """
    from .rtn import rtn_codes

    t0 = time.monotonic()
    model = loaded.model
    cfg = GptqConfig.from_quant(quant)
    ids, cal_meta = calibration_for(loaded, quant)
    by_layer: dict[int, list[Any]] = {}
    lm_head = [t for t in targets if t.kind == "lm_head"]
    embeddings = [t for t in targets if t.kind == "embedding"]
    for t in targets:
        if t.kind == "linear":
            by_layer.setdefault(t.layer, []).append(t)
    out: dict[str, dict] = {"errors": {}, "codes": {}, "modules": {}}
    weights: dict[str, torch.Tensor] = {}
    coded_weights: dict[str, CodedWeight] = {}
    snapshots = []

    def keep(done: list[Any], new: dict[str, torch.Tensor]) -> None:
        """Keep one step's new weights: float copies, or (with an arena) their codes alone."""
        if arena is None:
            weights.update({k: v.detach().to("cpu") for k, v in new.items()})
            return
        for t in done:
            c = out["codes"].pop(t.name)
            coded_weights[t.param_name] = CodedWeight.from_codes(
                c.codes, c.scales, c.zeros, c.bits, c.group_size, t.module.weight.dtype, t.transposed, c.g_idx, arena
            )

    blocks = structure.blocks(model)
    n = len(blocks)
    try:
        calls = capture_block_inputs(model, ids, cfg.batch_size, loaded.device)
        hidden = calls.hidden
        last_block = max(by_layer) if by_layer else -1
        for layer in range(n):
            if layer > last_block:
                break  # nothing left downstream needs these activations
            if ctx is not None and ctx.should_stop():
                raise KernelStopped(f"GPTQ stopped before block {layer} of {n}")
            block = blocks[layer]
            inputs = calls.inputs(layer, hidden)
            todo = by_layer.get(layer, [])
            if todo:
                hessians = {t.name: Hessian(t.weight().shape[1], loaded.device) for t in todo}
                hooks = _hessian_hooks(todo, hessians)
                try:
                    run_block(block, inputs)
                finally:
                    for h in hooks:
                        h.remove()
                new = _quantize_targets(todo, hessians, cfg, out)
                keep(todo, new)
                snapshots.append(apply_weights(model, new))  # later blocks see the quantized block
            hidden = run_block(block, inputs)
            if ctx is not None:
                ctx.progress(layer + 1, n, "blocks", f"gptq block {layer}")
        if lm_head:
            # The head's inputs as the model computes them (after whatever final norm it has),
            # with every quantized block in place: one forward of the calibration set.
            hessians = {t.name: Hessian(t.weight().shape[1], loaded.device) for t in lm_head}
            hooks = _hessian_hooks(lm_head, hessians)
            try:
                for b in range(0, ids.shape[0], cfg.batch_size):
                    model(input_ids=ids[b : b + cfg.batch_size].to(loaded.device), use_cache=False)
            finally:
                for h in hooks:
                    h.remove()
            keep(lm_head, _quantize_targets(lm_head, hessians, cfg, out))
        for t in embeddings:
            W = t.weight().detach()
            qw = rtn_codes(W, t.bits, t.group_size, t.sym, t.name)
            Q = qw.dequantize(W.dtype)
            out["errors"][t.name] = relative_error(W, Q)
            if arena is not None:
                coded_weights[t.param_name] = CodedWeight.from_grid(qw, W.dtype, t.transposed, arena)
            else:
                weights[t.param_name] = t.to_param_layout(Q).to("cpu")
    finally:
        for snap in reversed(snapshots):
            snap.restore()
    meta = {
        "method": "gptq",
        "gptq": {k: getattr(cfg, k) for k in ("damp_percent", "block_size", "act_order", "static_groups", "group_grid")},
        "calibration": cal_meta,
        "modules": out["modules"],
        "rtn_fallback": [t.name for t in embeddings],
        "seconds": time.monotonic() - t0,
    }
    result = QuantResult(weights, out["errors"], meta, coded_weights, gptq=GptqModelResult(out["codes"]))
    log.info("gptq: %d modules in %.1fs", len(out["errors"]), meta["seconds"])
    return result
