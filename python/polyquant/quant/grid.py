"""The shared quantization grid: per-group min/max → scale s and zero z, integer codes, dequantization.

One grid for RTN, GPTQ and AWQ, so that the three methods differ only in how they choose the
values they round, never in how they round them. The conventions are AutoGPTQ's (`Quantizer`):

- maxq = 2^b − 1; every group's range [min(x), max(x)] is widened to contain 0, so that 0 is
  exactly representable (padding, pruned weights) and the zero point lands in [0, maxq];
- asymmetric: s = (max − min) / maxq, z = round(−min / s);
- symmetric: max = max(|min|, max), min = −max, s = 2·max / maxq, z = (maxq + 1) / 2 (the mid-point);
- an all-zero group gets the range [−1, 1] so that s > 0;
- q = clamp(round(x / s) + z, 0, maxq), and x̂ = s · (q − z).

Within a group's range the rounding error is at most s/2 per weight.

A weight W is `out_features × in_features` (the nn.Linear layout). A group is `group_size`
consecutive input columns of one output row; group_size −1 makes the whole row one group
(per-channel quantization). A group_size that does not divide in_features is an error, never a
ragged last group.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import ParameterError

MIN_BITS = 2  # below 2 bits the grid degenerates (one level on each side of zero)
MAX_BITS = 8  # codes are stored as uint8


def max_q(bits: int) -> int:
    """The largest integer code, 2^bits − 1."""
    check_bits(bits)
    return (1 << bits) - 1


def check_bits(bits: int, where: str = "") -> int:
    if isinstance(bits, bool) or not isinstance(bits, int) or not MIN_BITS <= bits <= MAX_BITS:
        suffix = f" (module {where})" if where else ""
        raise ParameterError(f"bits {bits!r} is not an integer between {MIN_BITS} and {MAX_BITS}{suffix}")
    return bits


def effective_group_size(in_features: int, group_size: int, module: str = "") -> int:
    """group_size −1 → in_features; otherwise group_size must be positive and divide in_features."""
    where = f" of module {module}" if module else ""
    if isinstance(group_size, bool) or not isinstance(group_size, int):
        raise ParameterError(f"group_size {group_size!r} is not an integer{where}")
    if group_size == -1:
        return in_features
    if group_size <= 0:
        raise ParameterError(f"group_size {group_size} must be -1 (per channel) or positive{where}")
    if in_features % group_size != 0:
        raise ParameterError(f"group_size {group_size} does not divide in_features {in_features}{where}")
    return group_size


@torch.no_grad()
def group_params(x: torch.Tensor, bits: int, sym: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Scale s and zero z for each row of `x` (one row = one group), AutoGPTQ's `find_params`.

    x: (G, k) → s: (G,) float32, z: (G,) float32 holding integers in [0, maxq].
    """
    maxq = max_q(bits)
    x = x.float()
    xmin = torch.clamp(x.min(dim=1).values, max=0.0)  # the range always contains 0
    xmax = torch.clamp(x.max(dim=1).values, min=0.0)
    if sym:
        xmax = torch.maximum(xmin.abs(), xmax)
        xmin = torch.where(xmin < 0, -xmax, xmin)
    empty = (xmin == 0) & (xmax == 0)
    xmin = torch.where(empty, torch.full_like(xmin, -1.0), xmin)
    xmax = torch.where(empty, torch.full_like(xmax, 1.0), xmax)
    s = (xmax - xmin) / maxq
    if sym:
        z = torch.full_like(s, (maxq + 1) / 2)
    else:
        z = torch.round(-xmin / s)
    return s, z


def quantize_codes(x: torch.Tensor, s: torch.Tensor, z: torch.Tensor, maxq: int) -> torch.Tensor:
    """Integer codes q = clamp(round(x / s) + z, 0, maxq) (float dtype; s, z broadcast against x)."""
    # One new tensor, rounded, shifted and clamped in place: a whole weight's codes cost one float
    # copy of it at a time, not four (the same operations in the same order, so the same values).
    return (x / s).round_().add_(z).clamp_(0, maxq)


def dequantize_codes(q: torch.Tensor, s: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """x̂ = s · (q − z)."""
    return s * (q - z)


def fake_quantize(x: torch.Tensor, s: torch.Tensor, z: torch.Tensor, maxq: int) -> torch.Tensor:
    """Round x onto the grid (s, z) and back: what GPTQ does column by column."""
    return dequantize_codes(quantize_codes(x, s, z, maxq), s, z)


@dataclass
class QuantizedWeight:
    """A weight on the grid: integer codes plus per-group scales and zeros (what a GPTQ export packs)."""

    codes: torch.Tensor  # (out, in) uint8, values in [0, maxq]
    scales: torch.Tensor  # (out, n_groups) float32, s per group
    zeros: torch.Tensor  # (out, n_groups) int32, z per group, in [0, maxq]
    bits: int
    group_size: int  # the effective group size (in_features when per channel)
    sym: bool

    def dequantize(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """x̂ = s · (q − z), out × in, in `dtype`."""
        out_f, in_f = self.codes.shape
        w = self.codes.float().view(out_f, -1, self.group_size)  # (out, n_groups, g), q for now
        # s · (q − z) built in place: (q − z) is exact, then one rounding, the bits of
        # dequantize_codes without its two extra weight-sized temporaries
        w.sub_(self.zeros.float().unsqueeze(-1)).mul_(self.scales.unsqueeze(-1))
        return w.reshape(out_f, in_f).to(dtype)


@torch.no_grad()
def quantize_weight(W: torch.Tensor, bits: int, group_size: int = -1, sym: bool = False, module: str = "") -> QuantizedWeight:
    """Round-to-nearest onto the per-group grid. W: out × in. The math runs in float32."""
    if W.dim() != 2:
        raise ParameterError(f"weight of module {module or '?'} has shape {tuple(W.shape)}; expected out × in")
    check_bits(bits, module)
    out_f, in_f = W.shape
    g = effective_group_size(in_f, group_size, module)
    maxq = max_q(bits)
    groups = W.detach().float().reshape(out_f * (in_f // g), g)  # one row per group
    s, z = group_params(groups, bits, sym)
    q = quantize_codes(groups, s.unsqueeze(1), z.unsqueeze(1), maxq)
    return QuantizedWeight(
        codes=q.reshape(out_f, in_f).to(torch.uint8),
        scales=s.reshape(out_f, in_f // g),
        zeros=z.reshape(out_f, in_f // g).to(torch.int32),
        bits=bits,
        group_size=g,
        sym=sym,
    )


def stored_bpw(bits: int, group_size: int, sym: bool, in_features: int) -> float:
    """Bits per weight a packed checkpoint stores: the codes, plus per group a float16 scale and,
    for an asymmetric grid, a `bits`-wide zero point (GPTQ/AWQ packing); group −1 is one group per row."""
    g = in_features if group_size == -1 else group_size
    return bits + (16 + (0 if sym else bits)) / g
