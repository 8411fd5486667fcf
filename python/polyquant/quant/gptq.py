"""GPTQ (Frantar et al., 2022): weight quantization that compensates each rounding error with the
columns not yet quantized, using the inverse Hessian of the layer's reconstruction loss.

For a linear layer with weight W (out × in) and calibration inputs X (tokens × in), the loss of a
quantized Q is ‖XWᵀ − XQᵀ‖² = tr((W − Q) H (W − Q)ᵀ) / 2 with H = 2 XᵀX. GPTQ quantizes the columns
of W one at a time; after rounding column i to q it spreads the error over the remaining columns:
    err = (w_i − q_i) / [Hinv]_ii ,   W[:, i:] −= err · Hinv[i, i:]
where Hinv is the upper Cholesky factor of H⁻¹ (after dampening H by `damp` × mean(diag H)).
Updates are applied lazily in blocks of `block_size` columns (the paper's §4 "lazy batch updates").

The structure follows IST-DASLab/gptq `gptq.py` (`GPTQ.add_batch`, `fasterquant`) and AutoGPTQ's
`quantization/gptq.py` (groups, act-order = `desc_act`, `static_groups`). When a group starts
inside a block, the reference (and GPTQModel's `gptq.py`, which keeps its `find_params(W[:, j:j+g])`)
computes the group's grid from W as it stood at the start of the block: the block's own error
updates live in the working copy W1 and reach W only when the block ends. That is the default
here (`group_grid="reference"`), so codes equal the reference's given the same Hessian.
`group_grid="updated"` computes it from the error-updated columns instead (W1, and the columns
past the block with the block's pending update applied): polyquant's earlier behaviour, kept as an
explicit option; it agrees with the reference wherever groups start at block boundaries.

This file is the algorithm on one weight matrix; `gptq_model.py` drives it over a whole model.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import torch

from ..errors import ParameterError
from .grid import check_bits, dequantize_codes, effective_group_size, group_params, max_q, quantize_codes

log = logging.getLogger(__name__)


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
    group_grid: str = "reference",
) -> GptqCodes:
    """GPTQ on one weight, returning codes, scales, zeros and g_idx (what an exporter packs).

    The math runs in float64 when W is float64, else in float32, on W's device.
    """
    g = _check_inputs(W, H, bits, group_size, damp, block_size, module)
    if group_grid not in ("reference", "updated"):
        raise ParameterError(f"GPTQ group_grid {group_grid!r} is not reference or updated")
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
                    end = min(j + g, columns)
                    if group_grid == "reference":  # W at the block's start (the reference's find_params(W[:, j:j+g]))
                        cols = W[:, j:end]
                    else:  # the error-updated columns, the block's pending update applied past the block
                        cols = W1[:, i : min(count, i + g)]
                        if end > i2:
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
    group_grid: str = "reference",
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
        group_grid: "reference" (a group's grid from W at its block's start, as IST-DASLab/gptq and
            GPTQModel) or "updated" (from the error-updated columns).
    Returns:
        Ŵ, the dequantized weight: same shape, dtype and device as W; every group of every row
        lies on the same kind of grid as `rtn_quantize` uses (polyquant.quant.grid).
    Raises:
        ParameterError: bad bits, group size, damp, block size or Hessian shape; a Hessian that is
        not positive definite after dampening.
    """
    res = gptq_codes(W, H, bits, group_size, sym, damp, block_size, act_order, static_groups, group_grid=group_grid)
    return res.dequantize(W.dtype).to(W.device)


def output_error(W: torch.Tensor, W_hat: torch.Tensor, H: torch.Tensor) -> float:
    """tr((W − Ŵ) H (W − Ŵ)ᵀ): the layer's output error on the calibration inputs H stands for."""
    D = (W - W_hat).to(torch.float64)
    return float(torch.trace(D @ H.to(torch.float64) @ D.t()))


# --- the whole model, block by block -------------------------------------------------------------
