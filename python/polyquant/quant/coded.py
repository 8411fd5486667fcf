"""A quantized weight held as bit-packed integer codes plus per-group scales and zeros.

A float copy of a quantized weight costs as much as the weight itself (4 bytes a value in
float32); its codes cost one byte, or half a byte up to 4 bits (two codes share a byte), and each
group adds a float32 scale and a uint8 zero. At 4 bits with groups of 64 that is 0.58 bytes a
weight, a seventh of float32. A layer sweep keeps every target's quantized weight for the whole
run, so it keeps them like this and rebuilds one float weight at a time (`quant/swap.py`).

`dequantize()` is bit for bit what the methods' own float results are, in the parameter's layout
and dtype: Ŵ = s · (q − z) in float32 (`grid.dequantize_codes`), then the dtype. (q − z) is an
exact small integer in any order of operations, and s · (q − z) is a single rounding, so building
it in place, or on another device, gives the same bits.

`CodeArena` holds the codes of many weights in three allocations (codes, scales, zeros) made
before any of them is computed. Quantizing module after module leaves each module's small,
long-lived codes between its large freed temporaries, and glibc's heap cannot give back a hole
below a live block: on a 420 MiB model the process grew by up to three times the codes' size
that way, in some runs and not others. Allocated up front (the codes' block is large enough to
be a mapping of its own), they stay out of the temporaries' way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from .grid import QuantizedWeight, effective_group_size

NIBBLE_BITS = 4  # codes of up to this many bits are stored two to a byte


def packed_size(n: int, bits: int) -> int:
    """Bytes that `n` codes of `bits` bits take."""
    return (n + 1) // 2 if bits <= NIBBLE_BITS else n


class CodeArena:
    """Room for the codes, scales and zeros of a list of targets, allocated at once (module docstring)."""

    def __init__(self, packed_bytes: int, groups: int):
        self.packed = torch.empty(packed_bytes, dtype=torch.uint8)
        self.scales = torch.empty(groups, dtype=torch.float32)
        self.zeros = torch.empty(groups, dtype=torch.uint8)
        self.used_packed = 0
        self.used_groups = 0

    @classmethod
    def for_targets(cls, targets: list) -> "CodeArena":
        """Sized for `quant.plan.QuantTarget`s: their weights' shapes, bits and group sizes."""
        packed = groups = 0
        for t in targets:
            out_f, in_f = t.weight().shape
            packed += packed_size(out_f * in_f, t.bits)
            groups += out_f * (in_f // effective_group_size(in_f, t.group_size, t.name))
        return cls(packed, groups)

    def take(self, packed_bytes: int, groups: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(packed, scales, zeros) for one weight; fresh tensors once the room is used up."""
        if self.used_packed + packed_bytes > self.packed.numel() or self.used_groups + groups > self.scales.numel():
            return _fresh(packed_bytes, groups)
        p, g = self.used_packed, self.used_groups
        self.used_packed, self.used_groups = p + packed_bytes, g + groups
        return self.packed[p : p + packed_bytes], self.scales[g : g + groups], self.zeros[g : g + groups]


def _fresh(packed_bytes: int, groups: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return torch.empty(packed_bytes, dtype=torch.uint8), torch.empty(groups, dtype=torch.float32), torch.empty(groups, dtype=torch.uint8)


@dataclass
class CodedWeight:
    """One parameter's quantized value: codes in the parameter's layout, scales and zeros per group."""

    packed: torch.Tensor  # uint8, the flattened codes; ≤ 4 bits: first half in the low nibbles, second half in the high
    scales: torch.Tensor  # float32 s per group, shaped to broadcast over `grouped` (or (out, n_groups) with g_idx)
    zeros: torch.Tensor  # uint8 z per group, shaped like `scales`
    g_idx: Optional[torch.Tensor]  # (in,) int64 group of each input column when groups are not runs of columns (GPTQ act_order)
    shape: tuple[int, int]  # the parameter's shape
    group_size: int  # effective group size (in_features when per channel)
    bits: int
    dtype: torch.dtype  # the parameter's dtype
    transposed: bool  # the parameter is stored in × out (GPT-2 Conv1D)

    @property
    def numel(self) -> int:
        return self.shape[0] * self.shape[1]

    @property
    def grouped(self) -> tuple[int, int, int]:
        """The parameter viewed so that each group is a run along one dimension: (out, n_groups, g) or (n_groups, g, out)."""
        if self.transposed:
            return (self.shape[0] // self.group_size, self.group_size, self.shape[1])
        return (self.shape[0], self.shape[1] // self.group_size, self.group_size)

    @classmethod
    def from_codes(
        cls, codes: torch.Tensor, scales: torch.Tensor, zeros: torch.Tensor, bits: int, group_size: int, dtype: torch.dtype,
        transposed: bool = False, g_idx: Optional[torch.Tensor] = None, arena: Optional[CodeArena] = None,
    ) -> "CodedWeight":
        """codes (out, in), scales and zeros (out, n_groups), as `grid.QuantizedWeight` and `gptq.GptqCodes` hold them."""
        out_f, in_f = codes.shape
        if g_idx is not None and torch.equal(g_idx.long().cpu(), torch.arange(in_f) // group_size):
            g_idx = None  # groups are runs of columns after all: the cheaper broadcast applies
        if g_idx is None:  # per group, broadcast over `grouped`
            scales, zeros = (scales.t().unsqueeze(1), zeros.t().unsqueeze(1)) if transposed else (scales.unsqueeze(-1), zeros.unsqueeze(-1))
        if transposed:
            codes = codes.t()
        flat = codes.reshape(-1).to(device="cpu", dtype=torch.uint8)
        size = packed_size(flat.numel(), bits)
        packed, s, z = arena.take(size, scales.numel()) if arena is not None else _fresh(size, scales.numel())
        if bits <= NIBBLE_BITS:
            _pack(flat, packed)
        else:
            packed.copy_(flat)
        s, z = s.view(scales.shape), z.view(zeros.shape)
        s.copy_(scales)
        z.copy_(zeros)
        g_idx = None if g_idx is None else g_idx.to(device="cpu", dtype=torch.long)
        return cls(packed, s, z, g_idx, tuple(codes.shape), group_size, bits, dtype, transposed)

    @classmethod
    def from_grid(cls, qw: QuantizedWeight, dtype: torch.dtype, transposed: bool = False, arena: Optional[CodeArena] = None) -> "CodedWeight":
        return cls.from_codes(qw.codes, qw.scales, qw.zeros, qw.bits, qw.group_size, dtype, transposed, arena=arena)

    def nbytes(self) -> int:
        extra = [self.g_idx] if self.g_idx is not None else []
        return sum(t.numel() * t.element_size() for t in [self.packed, self.scales, self.zeros, *extra])

    def reserve(self, buffers: dict, device: Optional[torch.device] = None) -> None:
        """Allocate now the work tensors `dequantize(device, buffers)` needs, ahead of a forward pass's activations."""
        device = torch.device(device) if device is not None else self.packed.device
        if self.bits <= NIBBLE_BITS:
            _work(buffers, torch.uint8, self.numel, device)
        _work(buffers, torch.float32, self.numel, device)
        if self.dtype != torch.float32:
            _work(buffers, self.dtype, self.numel, device)

    @torch.no_grad()
    def dequantize(self, device: Optional[torch.device] = None, buffers: Optional[dict] = None) -> torch.Tensor:
        """Ŵ = s · (q − z), in the parameter's layout and dtype, on `device` (default: the CPU).

        buffers: a dict that keeps the work tensors between calls (one per dtype and device, as
        large as the largest weight), so that dequantizing weight after weight allocates nothing;
        the result is then a view of one of them, valid until the next call with the same dict.
        A sweep dequantizes every weight at every forward pass, so a call is a few whole-tensor
        operations.
        """
        packed, s, z = self.packed, self.scales, self.zeros
        if device is not None and torch.device(device) != packed.device:
            packed, s, z = packed.to(device), s.to(device), z.to(device)
        n = self.numel
        if self.bits <= NIBBLE_BITS:  # unpacked into a work tensor, where q − z may be formed in place
            q = _work(buffers, torch.uint8, n, packed.device)
            half = packed.numel()
            torch.bitwise_and(packed, 0xF, out=q[:half])
            torch.bitwise_right_shift(packed[: n - half], NIBBLE_BITS, out=q[half:])
        else:
            q = packed
        shape = self.grouped
        if self.g_idx is not None:  # one scale and zero per column, gathered
            g = self.g_idx.to(packed.device)
            s, z = (s.t()[g], z.t()[g]) if self.transposed else (s[:, g], z[:, g])
            shape = self.shape
        w = _work(buffers, torch.float32, n, packed.device).view(shape)
        if self.bits <= NIBBLE_BITS:
            # q − z in uint8 wraps modulo 256; read as int8 it is exact (|q − z| ≤ 15), and so is its float
            w.copy_(q.view(shape).sub_(z).view(torch.int8))
        else:
            w.copy_(q.view(shape)).sub_(z)
        w.mul_(s)  # (q − z) exact, then one rounding: the bits of s · (q − z)
        if self.dtype == torch.float32:
            return w.view(self.shape)
        out = _work(buffers, self.dtype, n, packed.device).view(self.shape)
        return out.copy_(w.view(self.shape))  # the rounding of .to(dtype)


def _work(buffers: Optional[dict], dtype: torch.dtype, n: int, device: torch.device) -> torch.Tensor:
    """A flat work tensor of `n` elements: the front of the one kept in `buffers` for this dtype and
    device (grown to the largest size asked for, so all weights share it), or fresh without them."""
    if buffers is None:
        return torch.empty(n, dtype=dtype, device=device)
    key = (dtype, device)
    if key not in buffers or buffers[key].numel() < n:
        buffers.pop(key, None)  # let the smaller one go before the larger one is allocated
        buffers[key] = torch.empty(n, dtype=dtype, device=device)
    return buffers[key][:n]


def _pack(flat: torch.Tensor, packed: torch.Tensor) -> None:
    """Two codes of ≤ 4 bits a byte into `packed`: element i of the first half low, element i of the second half high."""
    half = packed.numel()
    high = flat.numel() - half  # the second half is one shorter when the count is odd
    torch.bitwise_left_shift(flat[half:], NIBBLE_BITS, out=packed[:high])
    packed[:high].bitwise_or_(flat[:high])
    packed[high:].copy_(flat[high:half])
