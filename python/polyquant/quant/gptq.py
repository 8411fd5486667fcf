"""GPTQ (Frantar et al., 2022): weight quantization that compensates each rounding error with the
columns not yet quantized, using the inverse Hessian of the layer's reconstruction loss.

For a linear layer with weight W (out × in) and calibration inputs X (tokens × in), the loss of a
quantized Q is ‖XWᵀ − XQᵀ‖² = tr((W − Q) H (W − Q)ᵀ) / 2 with H = 2 XᵀX. GPTQ quantizes the columns
of W one at a time; after rounding column i to q it spreads the error over the remaining columns:
    err = (w_i − q_i) / [Hinv]_ii ,   W[:, i:] −= err · Hinv[i, i:]
where Hinv is the upper Cholesky factor of H⁻¹ (after dampening H by `damp` × mean(diag H)).
Updates are applied lazily in blocks of `block_size` columns (the paper's §4 "lazy batch updates").

The structure follows IST-DASLab/gptq `gptq.py` (`GPTQ.add_batch`, `fasterquant`) and AutoGPTQ's
`quantization/gptq.py` (groups, act-order = `desc_act`, `static_groups`). One deliberate difference:
when a group starts inside a block, its grid is computed from the *error-updated* columns (the
pending block update is applied to the columns past the block first); the reference computes it
from columns that have not yet received the current block's updates.

`quantize_model_gptq` runs GPTQ on a whole model sequentially, block by block: the inputs of
block k are the outputs of blocks 0..k−1 *after* they were quantized, as in the paper.
"""

from __future__ import annotations

import logging
import math
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
from .grid import check_bits, dequantize_codes, effective_group_size, group_params, max_q, quantize_codes
from .result import QuantResult
from .rtn import relative_error

log = logging.getLogger(__name__)


@dataclass
class GptqConfig:
    """The `quant.gptq` options of a workflow (src/kernels/common.ts GptqOptions)."""

    damp_percent: float = 0.01  # dampening λ = damp_percent × mean(diag H), added to diag H
    block_size: int = 128  # columns per lazy batch update (speed only: the result is the same)
    act_order: bool = False  # desc_act: quantize columns in order of decreasing diag H
    static_groups: bool = False  # with act_order: group grids fixed from W before reordering
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
class GptqCodes:
    """One weight after GPTQ: integer codes, per-group scales and zeros, and each column's group."""

    codes: torch.Tensor  # (out, in) uint8 in [0, maxq], in the original column order
    scales: torch.Tensor  # (out, n_groups) float32: s per group
    zeros: torch.Tensor  # (out, n_groups) int32: z per group, in [0, maxq]
    g_idx: torch.Tensor  # (in,) int32: group of each input column (not monotone with act_order)
    bits: int
    group_size: int  # effective group size (in_features when per channel)
    sym: bool
    loss: float = 0.0  # GPTQ's own estimate, Σ (w − q)² / (2 [Hinv]_ii²)

    def dequantize(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Ŵ = s[g_idx] · (q − z[g_idx]), out × in."""
        g = self.g_idx.long()
        w = self.codes.float()  # q for now; s · (q − z) in place, the bits of dequantize_codes (grid.py)
        return w.sub_(self.zeros[:, g].float()).mul_(self.scales[:, g]).to(dtype)


class Hessian:
    """H = (2 / N) Σ x xᵀ over the N calibration tokens seen by one linear (IST-DASLab `add_batch`)."""

    def __init__(self, columns: int, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32):
        self.H = torch.zeros(columns, columns, device=device, dtype=dtype)  # (in, in)
        self.nsamples = 0  # tokens accumulated so far

    @torch.no_grad()
    def add_batch(self, inp: torch.Tensor) -> None:
        """inp: (..., in) activations entering the linear; every leading index is a token."""
        x = inp.reshape(-1, inp.shape[-1]).to(self.H.dtype)  # (N_b, in)
        n = x.shape[0]
        if x.shape[1] != self.H.shape[0]:
            raise ParameterError(f"Hessian of {self.H.shape[0]} columns got activations with {x.shape[1]} features")
        self.H *= self.nsamples / (self.nsamples + n)
        self.nsamples += n
        x = math.sqrt(2 / self.nsamples) * x
        self.H += x.t() @ x


def _check_inputs(W: torch.Tensor, H: torch.Tensor, bits: int, group_size: int, damp: float, block_size: int, module: str) -> int:
    where = f" (module {module})" if module else ""
    if W.dim() != 2:
        raise ParameterError(f"GPTQ weight{where} has shape {tuple(W.shape)}; expected out × in")
    if H.shape != (W.shape[1], W.shape[1]):
        raise ParameterError(f"GPTQ Hessian{where} has shape {tuple(H.shape)}; expected ({W.shape[1]}, {W.shape[1]}) for in_features {W.shape[1]}")
    check_bits(bits, module)
    if not (isinstance(damp, (int, float)) and 0 <= damp <= 1):
        raise ParameterError(f"GPTQ damp {damp!r}{where} must be a fraction in [0, 1] of the mean Hessian diagonal")
    if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size <= 0:
        raise ParameterError(f"GPTQ block_size {block_size!r}{where} must be a positive integer")
    return effective_group_size(W.shape[1], group_size, module)


@torch.no_grad()
def gptq_codes(
    W: torch.Tensor,
    H: torch.Tensor,
    bits: int,
    group_size: int = -1,
    sym: bool = False,
    damp: float = 0.01,
    block_size: int = 128,
    act_order: bool = False,
    static_groups: bool = False,
    module: str = "",
) -> GptqCodes:
    """GPTQ on one weight, returning codes, scales, zeros and g_idx (what an exporter packs).

    The math runs in float64 when W is float64, else in float32, on W's device.
    """
    g = _check_inputs(W, H, bits, group_size, damp, block_size, module)
    work = torch.float64 if W.dtype == torch.float64 else torch.float32
    dev = W.device
    W = W.detach().to(work).clone()  # (out, in), error-updated in place
    H = H.detach().to(device=dev, dtype=work).clone()  # (in, in)
    rows, columns = W.shape
    maxq = max_q(bits)
    n_groups = columns // g
    grouped = g != columns

    dead = torch.diag(H) == 0  # inputs that were always 0: their weights cannot matter
    H[dead, dead] = 1
    W[:, dead] = 0

    static: list[tuple[torch.Tensor, torch.Tensor]] = []
    if static_groups and grouped:
        for k in range(n_groups):
            static.append(group_params(W[:, k * g : (k + 1) * g], bits, sym))
    s, z = group_params(W, bits, sym)  # per-channel grid; replaced per group when grouped
    s, z = s.to(work), z.to(work)

    perm = torch.arange(columns, device=dev)
    if act_order:
        perm = torch.argsort(torch.diag(H), descending=True)
        W = W[:, perm]
        H = H[perm][:, perm]
    invperm = torch.argsort(perm)

    lam = damp * torch.mean(torch.diag(H))
    H.diagonal().add_(lam)
    try:
        L = torch.linalg.cholesky(H)
        Hinv = torch.linalg.cholesky(torch.cholesky_inverse(L), upper=True)  # upper factor of H⁻¹
    except torch.linalg.LinAlgError as exc:
        raise ParameterError(
            f"GPTQ Hessian{' of module ' + module if module else ''} is not positive definite after dampening "
            f"with damp {damp}; raise quant.gptq.damp_percent or add calibration samples"
        ) from exc

    Q = torch.zeros_like(W)  # dequantized, permuted order
    codes = torch.zeros(rows, columns, dtype=torch.uint8, device=dev)
    scales = torch.zeros(rows, n_groups, dtype=torch.float32, device=dev)
    zeros = torch.zeros(rows, n_groups, dtype=torch.int32, device=dev)
    loss = torch.zeros((), dtype=work, device=dev)
    if not grouped:
        scales[:, 0], zeros[:, 0] = s.float(), z.to(torch.int32)
    for k, (sk, zk) in enumerate(static):  # static groups: fixed before the loop, by original column
        scales[:, k], zeros[:, k] = sk.float(), zk.to(torch.int32)

    # The column loop is GPTQ's cost on a GPU: ~11k columns of a 7B down_proj, each a handful of
    # small kernels. So a column does only what must be sequential (round, error, update of the
    # block's remaining columns); codes, the loss and each group's grid are written once per
    # block or group, not once per column.
    for i1 in range(0, columns, block_size):
        i2 = min(i1 + block_size, columns)
        count = i2 - i1
        W1 = W[:, i1:i2].clone()
        Q1 = torch.zeros_like(W1)
        C1 = torch.zeros_like(W1)  # codes of the block, as floats until the block is done
        Err1 = torch.zeros_like(W1)
        Hinv1 = Hinv[i1:i2, i1:i2]

        for i in range(count):
            j = i1 + i  # position in (permuted) column order
            if grouped:
                if static:
                    k = int(perm[j]) // g
                    s, z = (t.to(work) for t in static[k])
                elif j % g == 0:
                    k = j // g
                    cols = W1[:, i : min(count, i + g)]
                    end = min(j + g, columns)
                    if end > i2:  # the group runs past this block: apply the block's pending update first
                        rest = W[:, i2:end] - Err1[:, :i] @ Hinv[i1 : i1 + i, i2:end]
                        cols = torch.cat([cols, rest], dim=1)
                    s, z = (t.to(work) for t in group_params(cols, bits, sym))
                    scales[:, k], zeros[:, k] = s.float(), z.to(torch.int32)
            w = W1[:, i]
            qc = quantize_codes(w, s, z, maxq)
            q = dequantize_codes(qc, s, z)
            C1[:, i] = qc
            Q1[:, i] = q
            err1 = (w - q) / Hinv1[i, i]
            W1[:, i:] -= err1.unsqueeze(1) @ Hinv1[i, i:].unsqueeze(0)
            Err1[:, i] = err1

        Q[:, i1:i2] = Q1
        codes[:, i1:i2] = C1.to(torch.uint8)
        loss += torch.sum(Err1**2) / 2  # Σ (w − q)² / d², the OBS loss of the block's columns
        W[:, i2:] -= Err1 @ Hinv[i1:i2, i2:]

    g_idx = (torch.arange(columns, device=dev) // g).to(torch.int32)  # dynamic groups: runs of permuted positions
    if static or not grouped:
        g_idx = (torch.arange(columns, device=dev) // g).to(torch.int32)
    else:
        g_idx = g_idx[invperm]  # group of original column c = group of its permuted position
    return GptqCodes(
        codes=codes[:, invperm].contiguous(),
        scales=scales,
        zeros=zeros,
        g_idx=g_idx,
        bits=bits,
        group_size=g,
        sym=sym,
        loss=float(loss),
    )


@torch.no_grad()
def gptq_quantize(
    W: torch.Tensor,
    H: torch.Tensor,
    bits: int,
    group_size: int = -1,
    sym: bool = False,
    damp: float = 0.01,
    block_size: int = 128,
    act_order: bool = False,
    static_groups: bool = False,
) -> torch.Tensor:
    """Quantize and dequantize W (out × in, an nn.Linear weight) with GPTQ.

    Args:
        W: the weight, out_features × in_features.
        H: the layer Hessian, in × in, e.g. 2 XᵀX / N over calibration inputs X (`Hessian.add_batch`).
        bits: 2 to 8.
        group_size: input columns per group; −1 is one group per row (per channel). Must divide in_features.
        sym: symmetric grid (zero at the mid-point) instead of asymmetric min/max.
        damp: dampening as a fraction of the mean of diag(H).
        block_size: columns per lazy batch update.
        act_order: quantize columns in order of decreasing diag(H) (desc_act).
        static_groups: with act_order and groups, fix each group's grid from W before reordering.
    Returns:
        Ŵ, the dequantized weight: same shape, dtype and device as W; every group of every row
        lies on the same kind of grid as `rtn_quantize` uses (polyquant.quant.grid).
    Raises:
        ParameterError: bad bits, group size, damp, block size or Hessian shape; a Hessian that is
        not positive definite after dampening.
    """
    res = gptq_codes(W, H, bits, group_size, sym, damp, block_size, act_order, static_groups)
    return res.dequantize(W.dtype).to(W.device)


def output_error(W: torch.Tensor, W_hat: torch.Tensor, H: torch.Tensor) -> float:
    """tr((W − Ŵ) H (W − Ŵ)ᵀ): the layer's output error on the calibration inputs H stands for."""
    D = (W - W_hat).to(torch.float64)
    return float(torch.trace(D @ H.to(torch.float64) @ D.t()))


# --- the whole model, block by block -------------------------------------------------------------


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
            W, hessians[t.name].H, t.bits, t.group_size, t.sym, cfg.damp_percent, cfg.block_size, cfg.act_order, cfg.static_groups, t.name
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
        "gptq": {k: getattr(cfg, k) for k in ("damp_percent", "block_size", "act_order", "static_groups")},
        "calibration": cal_meta,
        "modules": out["modules"],
        "rtn_fallback": [t.name for t in embeddings],
        "seconds": time.monotonic() - t0,
    }
    result = QuantResult(weights, out["errors"], meta, coded_weights, gptq=GptqModelResult(out["codes"]))
    log.info("gptq: %d modules in %.1fs", len(out["errors"]), meta["seconds"])
    return result
