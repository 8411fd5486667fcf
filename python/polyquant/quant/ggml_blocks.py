"""llama.cpp's block quantization formats in torch, byte for byte: Q4_0 … Q8_0 and Q2_K … Q6_K.

Why this exists: polyquant measures a GGUF quantization in memory (`fake_quantize`) and can write
the blocks out (`encode`). Both are only worth something if they are exactly what llama.cpp
would produce, so the quality measured here is the quality of the GGUF file.

The specification is llama.cpp's own C, read at commit 01243c587feceaa5d6a6c2305535ef2f549c48b8:
ggml/src/ggml-quants.c (quantize_row_<type>_ref, i.e. no importance matrix, and
dequantize_row_<type>) and the block layouts of ggml/src/ggml-common.h (QK_K = 256,
K_SCALE_SIZE = 12). Comments name the C function each step re-expresses. The golden bytes in
python/tests/data/ggml_reference.npz come from those C functions.

The C works one block at a time; here every step runs on all blocks at once, so a 7B model
quantizes in reasonable time on a GPU (and on a CPU). Exactness is bought with these rules:

- float32 everywhere, one IEEE operation per torch operation, in the C's order of evaluation:
  `a*b + c` stays two operations (never fused), `w*x*l` is `(w*x)*l`.
- a sum over a block accumulates left to right, element by element, as the C loop does
  (`_seq_sum`); torch.sum would reorder the additions and change the last bit.
- divisions are tensor / tensor: on CUDA, dividing by a Python or CPU scalar is turned into a
  multiplication by its reciprocal, which is not the same float (`_div`).
- nearest_int is reproduced by its own trick (add 1.5·2²³, read the mantissa bits), which is
  round-half-to-even in range and the same garbage as the C out of range (`_nearest_int`).
- sqrtf is taken in float64 and rounded once: torch's float32 sqrt is not correctly rounded.
- GGML_FP32_TO_FP16 rounds to nearest even, as torch's `.half()` does.
- comparisons keep the C's strictness and first-wins order (argmax returns the first maximum).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from ..errors import ParameterError

QK_K = 256  # super-block size of the K types (ggml-common.h)
GROUP_MAX_EPS = float(np.float32(1e-15))  # ggml-quants.c: a group whose |max| is below this is all zero
_MAGIC = 12582912.0  # 1.5 · 2²³, nearest_int's rounding constant
_CHUNK_ELEMS = {"cuda": 1 << 24, "cpu": 1 << 22}  # weights encoded at once: bounds the temporaries


@dataclass(frozen=True)
class GgmlType:
    """One ggml tensor type: how many weights a block holds and how many bytes it takes."""

    name: str  # llama.cpp's spelling, e.g. "Q4_K"
    block_size: int  # weights per block: 32, or QK_K = 256 for the K types
    type_size: int  # bytes per block, sizeof(block_<type>) in ggml-common.h
    bits: int  # nominal bits of one code (4 for Q4_K, 6 for Q6_K)
    scale_group: int  # weights sharing one scale: the block, or the K types' sub-block; 1 for F16/F32
    gguf_id: int  # the ggml_type enum value written into GGUF files
    bpw: float = field(init=False)  # bits per weight including the block scales

    def __post_init__(self) -> None:
        object.__setattr__(self, "bpw", self.type_size * 8 / self.block_size)


# ---------------------------------------------------------------------------------------------
# Exact float32 building blocks
# ---------------------------------------------------------------------------------------------


def _f32(value: float) -> float:
    """A Python float that is exactly a float32 (C float constants such as 0.1f)."""
    return float(np.float32(value))


def _div(a: torch.Tensor | float, b: torch.Tensor | float) -> torch.Tensor:
    """IEEE float32 a / b on the tensors' device, never a multiplication by 1/b (see module doc)."""
    like = a if isinstance(a, torch.Tensor) else b
    if not isinstance(a, torch.Tensor):
        a = torch.tensor(a, dtype=torch.float32, device=like.device)
    if not isinstance(b, torch.Tensor):
        b = torch.tensor(b, dtype=torch.float32, device=like.device)
    return torch.div(a, b)


def _sqrtf(v: torch.Tensor) -> torch.Tensor:
    """C sqrtf, correctly rounded. torch's float32 sqrt on CPU is not (it can be 1 ulp off); the
    float64 root rounded once to float32 is, since 53 ≥ 2·24 + 2 bits make the double rounding exact."""
    return torch.sqrt(v.to(torch.float64)).to(torch.float32)


def _nearest_int(v: torch.Tensor) -> torch.Tensor:
    """ggml-quants.c nearest_int: (fval + 12582912.f) read as int, low 23 bits − 0x400000 (int32)."""
    return ((v + _MAGIC).view(torch.int32) & 0x7FFFFF) - 0x400000


def _nearest_int_nan0(v: torch.Tensor) -> torch.Tensor:
    """nearest_int where the argument may be NaN: x86's default NaN gives 0, CUDA's would not."""
    return torch.where(torch.isnan(v), 0, _nearest_int(v))


def _roundf(v: torch.Tensor) -> torch.Tensor:
    """C roundf (half away from zero) as float32; v − trunc(v) is exact, so the tie test is too."""
    r = torch.trunc(v)
    frac = v - r
    return r + torch.where(frac >= 0.5, 1.0, torch.where(frac <= -0.5, -1.0, 0.0))


def _seq_sum(t: torch.Tensor, from_zero: bool = True) -> torch.Tensor:
    """Σ over dim 0 in the C's order: `float s = 0; for (i) s += t[i];` (t is n × blocks)."""
    acc = t[0] + 0.0 if from_zero else t[0].clone()
    for i in range(1, t.shape[0]):
        acc.add_(t[i])
    return acc


def _first_absmax(x: torch.Tensor, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(amax, max) of `if (fabsf(v) > amax) { amax = fabsf(v); max = v; }` from amax = max = 0."""
    a = x.abs()
    idx = a.argmax(dim, keepdim=True)
    amax = a.gather(dim, idx).squeeze(dim)
    value = x.gather(dim, idx).squeeze(dim)
    return amax, torch.where(amax > 0, value, 0.0)


def _first_extreme(x: torch.Tensor, largest: bool) -> torch.Tensor:
    """min (or max) of a block as `if (v < min) min = v` finds it: the first of equal values wins,
    which fixes the sign of a zero extreme (it reaches the fp16 m of Q4_1/Q5_1)."""
    value = x.amax(1, keepdim=True) if largest else x.amin(1, keepdim=True)
    idx = (x == value).to(torch.int8).argmax(1, keepdim=True)
    return x.gather(1, idx).squeeze(1)


def _positive_max(v: torch.Tensor) -> torch.Tensor:
    """`float m = 0; if (v > m) m = v;` over dim 1: the largest value, or +0 if none is positive."""
    m = v.amax(1)
    return torch.where(m > 0, m, 0.0)


def _fp16_bytes(v: torch.Tensor) -> torch.Tensor:
    """GGML_FP32_TO_FP16 (round to nearest even) as two little-endian bytes per value: (N,) → (N, 2)."""
    return v.to(torch.float16).contiguous().view(torch.uint8).reshape(-1, 2)


def _fp16_round(v: torch.Tensor) -> torch.Tensor:
    """GGML_FP16_TO_FP32(GGML_FP32_TO_FP16(v)): the value the block will really hold."""
    return v.to(torch.float16).to(torch.float32)


def _read_fp16(b: torch.Tensor, offset: int) -> torch.Tensor:
    """The fp16 at byte `offset` of every block, as float32 (N, 1)."""
    return b[:, offset : offset + 2].contiguous().view(torch.float16).to(torch.float32)


def _as_int8(v: torch.Tensor) -> torch.Tensor:
    """Conversion of an int to int8_t (two's complement wrap, as gcc does)."""
    return ((v + 128) & 255) - 128


def _sub_blocks(x: torch.Tensor, n: int) -> torch.Tensor:
    """(N, B) blocks → (n, N·B/n): element i of every sub-block of n weights in one contiguous row."""
    return x.reshape(-1, n).t().contiguous()


def _from_sub_blocks(t: torch.Tensor, nb: int) -> torch.Tensor:
    """Inverse of `_sub_blocks`: (n, S) → (nb, S·n/nb)."""
    return t.t().reshape(nb, -1)


# ---------------------------------------------------------------------------------------------
# The search routines of the K types (ggml-quants.c helpers), on n × S sub-blocks
# ---------------------------------------------------------------------------------------------


def _make_qkx2_quants(
    X: torch.Tensor, W: torch.Tensor, nmax: int, rmin: float, rdelta: float, nstep: int, use_mad: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """make_qkx2_quants: asymmetric levels 0..nmax with weights W, the scale and offset fitted by
    weighted least squares over nstep+1 trial grids. Returns (scale, the_min, L); x ≈ scale·L − the_min."""
    # The sign of a zero min or max never reaches the result, so amin/amax stand for the C's scan.
    mn = X.amin(0)
    mx = X.amax(0)
    sum_w = _seq_sum(W, from_zero=False)
    sum_x = _seq_sum(W * X, from_zero=False)
    mn = torch.where(mn > 0, 0.0, mn)
    flat = mx == mn
    mn_flat = mn

    def error(scale: torch.Tensor, minimum: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
        diff = scale * levels + minimum - X
        diff = diff.abs() if use_mad else diff * diff
        return _seq_sum(W * diff)

    iscale = _div(float(nmax), mx - mn)
    scale = _div(1.0, iscale)
    L = _nearest_int(iscale * (X - mn)).clamp_(0, nmax)
    best = error(scale, mn, L.to(torch.float32))
    for step in range(nstep + 1):
        # min moves with the best fit, so max − min can vanish: nearest_int must survive NaN here
        grid = _f32(np.float32(rmin) + np.float32(rdelta) * np.float32(step) + np.float32(nmax))
        iscale = _div(grid, mx - mn)
        Laux = _nearest_int_nan0(iscale * (X - mn)).clamp_(0, nmax)
        La = Laux.to(torch.float32)
        wl = W * La
        sum_l = _seq_sum(wl)
        sum_l2 = _seq_sum(wl * La)
        sum_xl = _seq_sum(wl * X)
        D = sum_w * sum_l2 - sum_l * sum_l
        this_scale = _div(sum_w * sum_xl - sum_x * sum_l, D)
        this_min = _div(sum_l2 * sum_x - sum_l * sum_xl, D)
        clipped = this_min > 0
        this_min = torch.where(clipped, 0.0, this_min)
        this_scale = torch.where(clipped, _div(sum_xl, sum_l2), this_scale)
        cur = error(this_scale, this_min, La)
        better = (D > 0) & (cur < best)
        L = torch.where(better, Laux, L)
        best = torch.where(better, cur, best)
        scale = torch.where(better, this_scale, scale)
        mn = torch.where(better, this_min, mn)
    L = torch.where(flat, 0, L)
    scale = torch.where(flat, 0.0, scale)
    the_min = torch.where(flat, -mn_flat, -mn)
    return scale, the_min, L


def _make_qx_quants(X: torch.Tensor, nmax: int) -> tuple[torch.Tensor, torch.Tensor]:
    """make_qx_quants with rmse_type 1 and no quant weights (weights x²): symmetric levels
    −nmax..nmax−1, the best of 19 trial grids by weighted least squares. Returns (scale, L + nmax)."""
    amax, mx = _first_absmax(X, 0)
    zero = amax < GROUP_MAX_EPS
    W = X * X
    WX = W * X

    def trial(iscale: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        l = _nearest_int(iscale * X).clamp_(-nmax, nmax - 1)
        lf = l.to(torch.float32)
        return l, _seq_sum(WX * lf), _seq_sum(W * lf * lf)

    L, sumlx, suml2 = trial(_div(float(-nmax), mx))
    scale = torch.where(suml2 != 0, _div(sumlx, suml2), 0.0)
    best = scale * sumlx
    for step in range(-9, 10):
        if step == 0:
            continue
        l, sumlx, suml2 = trial(_div(_f32(-(np.float32(nmax) + np.float32(0.1) * np.float32(step))), mx))
        better = (suml2 > 0) & (sumlx * sumlx > best * suml2)
        new_scale = _div(sumlx, suml2)
        L = torch.where(better, l, L)
        scale = torch.where(better, new_scale, scale)
        best = torch.where(better, new_scale * sumlx, best)
    return torch.where(zero, 0.0, scale), torch.where(zero, 0, L + nmax)


def _make_q3_quants(X: torch.Tensor, nmax: int) -> tuple[torch.Tensor, torch.Tensor]:
    """make_q3_quants with do_rmse: symmetric levels −nmax..nmax−1, then up to 5 sweeps that move
    one level at a time while the weighted fit (weights x²) improves. Returns (scale, L + nmax).
    A sweep that changes nothing leaves the state as it was, so running all 5 equals the C's break."""
    amax, mx = _first_absmax(X, 0)
    zero = amax < GROUP_MAX_EPS
    W = X * X
    WX = W * X
    L = _nearest_int(_div(float(-nmax), mx) * X).clamp_(-nmax, nmax - 1)
    Lf = L.to(torch.float32)
    sumlx = _seq_sum(WX * Lf)
    suml2 = _seq_sum(W * Lf * Lf)
    for _ in range(5):
        for i in range(X.shape[0]):
            li = Lf[i]
            slx = sumlx - WX[i] * li
            sl2 = suml2 - W[i] * li * li
            new_l = _nearest_int(_div(X[i] * sl2, slx)).clamp_(-nmax, nmax - 1)
            nf = new_l.to(torch.float32)
            slx_new = slx + WX[i] * nf
            sl2_new = sl2 + W[i] * nf * nf
            accept = (
                (slx > 0)
                & (new_l != L[i])
                & (sl2_new > 0)
                & (slx_new * slx_new * suml2 > sumlx * sumlx * sl2_new)
            )
            L[i] = torch.where(accept, new_l, L[i])
            Lf[i] = torch.where(accept, nf, li)
            sumlx = torch.where(accept, slx_new, sumlx)
            suml2 = torch.where(accept, sl2_new, suml2)
    scale = torch.where(suml2 > 0, _div(sumlx, suml2), 0.0)
    return torch.where(zero, 0.0, scale), torch.where(zero, 0, L + nmax)


# ---------------------------------------------------------------------------------------------
# Bit packing shared by several layouts
# ---------------------------------------------------------------------------------------------


def _pack_2bit(L: torch.Tensor) -> torch.Tensor:
    """qs of Q2_K/Q3_K: per 128 weights, byte l holds L[l], L[l+32], L[l+64], L[l+96] (2 bits each)."""
    q = L.reshape(L.shape[0], -1, 4, 32)
    return (q[:, :, 0] | (q[:, :, 1] << 2) | (q[:, :, 2] << 4) | (q[:, :, 3] << 6)).reshape(L.shape[0], -1)


def _unpack_2bit(qs: torch.Tensor) -> torch.Tensor:
    """Inverse of `_pack_2bit`: (N, 64) bytes → (N, 256) levels 0..3 in weight order."""
    shifts = torch.tensor([0, 2, 4, 6], dtype=torch.int32, device=qs.device).reshape(1, 1, 4, 1)
    q = (qs.to(torch.int32).reshape(qs.shape[0], -1, 1, 32) >> shifts) & 3
    return q.reshape(qs.shape[0], -1)


def _pack_scales_k4(ls: torch.Tensor, lm: torch.Tensor) -> torch.Tensor:
    """The 12 scale bytes of Q4_K/Q5_K (quantize_row_q4_K_ref): eight 6-bit scales and mins."""
    lo_s, hi_s = ls[:, :4], ls[:, 4:]
    lo_m, hi_m = lm[:, :4], lm[:, 4:]
    return torch.cat(
        [lo_s | ((hi_s >> 4) << 6), lo_m | ((hi_m >> 4) << 6), (hi_s & 0xF) | ((hi_m & 0xF) << 4)], dim=1
    )


def _unpack_scales_k4(b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """get_scale_min_k4 for j = 0..7: (scales, mins) as int32 (N, 8) from the 12 bytes."""
    b = b.to(torch.int32)
    sc = torch.cat([b[:, 0:4] & 63, (b[:, 8:12] & 0xF) | ((b[:, 0:4] >> 6) << 4)], dim=1)
    mn = torch.cat([b[:, 4:8] & 63, (b[:, 8:12] >> 4) | ((b[:, 4:8] >> 6) << 4)], dim=1)
    return sc, mn


def _bits_to_bytes(bits: torch.Tensor) -> torch.Tensor:
    """(N, 8k) 0/1 → (N, k) bytes, bit b of byte k = bits[8k + b] (a little-endian bit field)."""
    weights = (1 << torch.arange(8, dtype=torch.int32, device=bits.device)).reshape(1, 1, 8)
    return (bits.reshape(bits.shape[0], -1, 8) * weights).sum(2)


def _bytes_to_bits(b: torch.Tensor) -> torch.Tensor:
    """Inverse of `_bits_to_bytes`."""
    shifts = torch.arange(8, dtype=torch.int32, device=b.device).reshape(1, 1, 8)
    return ((b.to(torch.int32).unsqueeze(2) >> shifts) & 1).reshape(b.shape[0], -1)


# ---------------------------------------------------------------------------------------------
# The 32-weight types (quantize_row_q4_0_ref … quantize_row_q8_0_ref, dequantize_row_q4_0 …)
# ---------------------------------------------------------------------------------------------


def _encode_q4_0(x: torch.Tensor) -> torch.Tensor:
    """quantize_row_q4_0_ref: d = max/−8 with max the signed value of largest |x|; q = x/d + 8."""
    _, mx = _first_absmax(x, 1)
    d = _div(mx, -8.0)
    inv = torch.where(d != 0, _div(1.0, d), 0.0).unsqueeze(1)
    q = torch.trunc(x * inv + 8.5).to(torch.int32).clamp_(max=15)
    return torch.cat([_fp16_bytes(d), q[:, :16] | (q[:, 16:] << 4)], dim=1)


def _decode_q4_0(b: torch.Tensor) -> torch.Tensor:
    """dequantize_row_q4_0: (q − 8)·d."""
    qs = b[:, 2:].to(torch.int32)
    q = torch.cat([(qs & 0xF) - 8, (qs >> 4) - 8], dim=1)
    return q.to(torch.float32) * _read_fp16(b, 0)


def _encode_q4_1(x: torch.Tensor) -> torch.Tensor:
    """quantize_row_q4_1_ref: d = (max − min)/15, m = min; q = (x − min)/d."""
    mn = _first_extreme(x, largest=False)
    mx = _first_extreme(x, largest=True)
    d = _div(mx - mn, 15.0)
    inv = torch.where(d != 0, _div(1.0, d), 0.0).unsqueeze(1)
    q = torch.trunc((x - mn.unsqueeze(1)) * inv + 0.5).to(torch.int32).clamp_(max=15)
    return torch.cat([_fp16_bytes(d), _fp16_bytes(mn), q[:, :16] | (q[:, 16:] << 4)], dim=1)


def _decode_q4_1(b: torch.Tensor) -> torch.Tensor:
    """dequantize_row_q4_1: q·d + m."""
    qs = b[:, 4:].to(torch.int32)
    q = torch.cat([qs & 0xF, qs >> 4], dim=1)
    return q.to(torch.float32) * _read_fp16(b, 0) + _read_fp16(b, 2)


def _pack_q5(q: torch.Tensor) -> torch.Tensor:
    """qh (bit j = 5th bit of weight j, a little-endian uint32) and qs (low nibbles) of Q5_0/Q5_1."""
    qh = _bits_to_bytes((q >> 4) & 1)
    qs = (q[:, :16] & 0xF) | ((q[:, 16:] & 0xF) << 4)
    return torch.cat([qh, qs], dim=1)


def _unpack_q5(b: torch.Tensor) -> torch.Tensor:
    """Inverse of `_pack_q5`: the 5-bit levels (N, 32) from qh (4 bytes) + qs (16 bytes)."""
    high = _bytes_to_bits(b[:, :4])
    qs = b[:, 4:].to(torch.int32)
    return torch.cat([qs & 0xF, qs >> 4], dim=1) | (high << 4)


def _encode_q5_0(x: torch.Tensor) -> torch.Tensor:
    """quantize_row_q5_0_ref: d = max/−16; q = x/d + 16, five bits."""
    _, mx = _first_absmax(x, 1)
    d = _div(mx, -16.0)
    inv = torch.where(d != 0, _div(1.0, d), 0.0).unsqueeze(1)
    q = torch.trunc(x * inv + 16.5).to(torch.int32).clamp_(max=31)
    return torch.cat([_fp16_bytes(d), _pack_q5(q)], dim=1)


def _decode_q5_0(b: torch.Tensor) -> torch.Tensor:
    """dequantize_row_q5_0: (q − 16)·d."""
    return (_unpack_q5(b[:, 2:]) - 16).to(torch.float32) * _read_fp16(b, 0)


def _encode_q5_1(x: torch.Tensor) -> torch.Tensor:
    """quantize_row_q5_1_ref: d = (max − min)/31, m = min; q = (x − min)/d (no clamp in the C)."""
    mn = _first_extreme(x, largest=False)
    mx = _first_extreme(x, largest=True)
    d = _div(mx - mn, 31.0)
    inv = torch.where(d != 0, _div(1.0, d), 0.0).unsqueeze(1)
    q = torch.trunc((x - mn.unsqueeze(1)) * inv + 0.5).to(torch.int32) & 0xFF
    return torch.cat([_fp16_bytes(d), _fp16_bytes(mn), _pack_q5(q)], dim=1)


def _decode_q5_1(b: torch.Tensor) -> torch.Tensor:
    """dequantize_row_q5_1: q·d + m."""
    return _unpack_q5(b[:, 4:]).to(torch.float32) * _read_fp16(b, 0) + _read_fp16(b, 2)


def _encode_q8_0(x: torch.Tensor) -> torch.Tensor:
    """quantize_row_q8_0_ref: d = max|x|/127; q = roundf(x/d) as int8."""
    d = _div(x.abs().amax(1), 127.0)
    inv = torch.where(d != 0, _div(1.0, d), 0.0).unsqueeze(1)
    q = _roundf(x * inv).to(torch.int32) & 0xFF
    return torch.cat([_fp16_bytes(d), q], dim=1)


def _decode_q8_0(b: torch.Tensor) -> torch.Tensor:
    """dequantize_row_q8_0: q·d."""
    return b[:, 2:].view(torch.int8).to(torch.float32) * _read_fp16(b, 0)


# ---------------------------------------------------------------------------------------------
# The K types: super-blocks of 256 weights (quantize_row_q2_K_ref … quantize_row_q6_K_ref)
# ---------------------------------------------------------------------------------------------


def _encode_q2_k(x: torch.Tensor) -> torch.Tensor:
    """quantize_row_q2_K_ref: 16 sub-blocks of 16, levels 0..3, 4-bit scales and mins under fp16
    d and dmin; fitted by make_qkx2_quants with weights |x| and absolute error."""
    nb = x.shape[0]
    X = _sub_blocks(x, 16)
    scales, mins, L = _make_qkx2_quants(X, X.abs(), 3, -0.5, 0.1, 15, True)
    scales, mins = scales.reshape(nb, 16), mins.reshape(nb, 16)
    L = _from_sub_blocks(L, nb)
    max_scale, max_min = _positive_max(scales), _positive_max(mins)
    has_scale, has_min = max_scale > 0, max_min > 0
    ls = torch.where(has_scale.unsqueeze(1), _nearest_int(_div(15.0, max_scale).unsqueeze(1) * scales), 0)
    lm = torch.where(has_min.unsqueeze(1), _nearest_int(_div(15.0, max_min).unsqueeze(1) * mins), 0)
    sc = (ls | (lm << 4)) & 0xFF
    d = torch.where(has_scale, _div(max_scale, 15.0), 0.0)
    dmin = torch.where(has_min, _div(max_min, 15.0), 0.0)
    # requantize against the scales the block really stores; a sub-block whose d is 0 keeps its L
    dj = (_fp16_round(d).unsqueeze(1) * (sc & 0xF).to(torch.float32)).unsqueeze(2)
    mj = (_fp16_round(dmin).unsqueeze(1) * (sc >> 4).to(torch.float32)).unsqueeze(2)
    Lnew = _nearest_int(_div(x.reshape(nb, 16, 16) + mj, dj)).clamp_(0, 3)
    L = torch.where(dj != 0, Lnew, L.reshape(nb, 16, 16)).reshape(nb, QK_K)
    return torch.cat([sc, _pack_2bit(L), _fp16_bytes(d), _fp16_bytes(dmin)], dim=1)


def _decode_q2_k(b: torch.Tensor) -> torch.Tensor:
    """dequantize_row_q2_K: d·(sc & 15)·q − dmin·(sc >> 4) per sub-block of 16."""
    nb = b.shape[0]
    sc = b[:, :16].to(torch.int32)
    dl = (_read_fp16(b, 80) * (sc & 0xF).to(torch.float32)).unsqueeze(2)
    ml = (_read_fp16(b, 82) * (sc >> 4).to(torch.float32)).unsqueeze(2)
    q = _unpack_2bit(b[:, 16:80]).reshape(nb, 16, 16).to(torch.float32)
    return (dl * q - ml).reshape(nb, QK_K)


def _encode_q3_k(x: torch.Tensor) -> torch.Tensor:
    """quantize_row_q3_K_ref: 16 sub-blocks of 16, levels −4..3 (2 bits in qs + a high bit in hmask),
    signed 6-bit scales under an fp16 d; fitted by make_q3_quants."""
    nb = x.shape[0]
    scales, L = _make_q3_quants(_sub_blocks(x, 16), 4)
    scales = scales.reshape(nb, 16)
    L = _from_sub_blocks(L, nb)
    _, max_scale = _first_absmax(scales, 1)
    nonzero = max_scale != 0
    iscale = _div(-32.0, max_scale)
    l = _as_int8(_nearest_int(iscale.unsqueeze(1) * scales)).clamp_(-32, 31) + 32
    l = torch.where(nonzero.unsqueeze(1), l, 0)  # the C leaves the scale bytes zeroed
    low = (l[:, :8] & 0xF) | ((l[:, 8:] & 0xF) << 4)
    high = l.reshape(nb, 4, 4) >> 4  # [q, r] = scale 4q + r
    high = high[:, 0] | (high[:, 1] << 2) | (high[:, 2] << 4) | (high[:, 3] << 6)
    d = torch.where(nonzero, _div(1.0, iscale), 0.0)
    dj = (_fp16_round(d).unsqueeze(1) * (l - 32).to(torch.float32)).unsqueeze(2)
    Lnew = _nearest_int(_div(x.reshape(nb, 16, 16), dj)).clamp_(-4, 3) + 4
    L = torch.where(dj != 0, Lnew, L.reshape(nb, 16, 16)).reshape(nb, QK_K)
    hmask = ((L > 3).to(torch.int32).reshape(nb, 8, 32) << torch.arange(8, device=x.device).reshape(1, 8, 1)).sum(1)
    L = torch.where(L > 3, L - 4, L)
    return torch.cat([hmask, _pack_2bit(L), low, high, _fp16_bytes(d)], dim=1)


def _decode_q3_k(b: torch.Tensor) -> torch.Tensor:
    """dequantize_row_q3_K: d·(sc − 32)·(q − (high bit ? 0 : 4)) per sub-block of 16."""
    nb = b.shape[0]
    s = b[:, 96:108].to(torch.int32)
    low = torch.cat([s[:, :8] & 0xF, s[:, :8] >> 4], dim=1)
    shifts = torch.tensor([0, 2, 4, 6], dtype=torch.int32, device=b.device).reshape(1, 4, 1)
    high = ((s[:, 8:12].unsqueeze(1) >> shifts) & 3).reshape(nb, 16)  # [q, r] = scale 4q + r
    dl = (_read_fp16(b, 108) * ((low | (high << 4)) - 32).to(torch.float32)).unsqueeze(2)
    hbit = _bytes_to_bits(b[:, :32]).reshape(nb, 32, 8).transpose(1, 2).reshape(nb, QK_K)
    q = _unpack_2bit(b[:, 32:96]) - torch.where(hbit == 1, 0, 4)
    return (dl * q.reshape(nb, 16, 16).to(torch.float32)).reshape(nb, QK_K)


def _encode_qk_asym(x: torch.Tensor, nmax: int, rmin: float, rdelta: float, nstep: int):
    """The shared part of quantize_row_q4_K_ref / quantize_row_q5_K_ref: 8 sub-blocks of 32 fitted by
    make_qkx2_quants with weights av_x + |x|, 6-bit scales and mins under fp16 d and dmin.
    Returns (d, dmin, the 12 scale bytes, L (nb, 256))."""
    nb = x.shape[0]
    X = _sub_blocks(x, 32)
    av_x = _sqrtf(_div(_seq_sum(X * X), 32.0))
    scales, mins, L = _make_qkx2_quants(X, av_x + X.abs(), nmax, rmin, rdelta, nstep, False)
    scales, mins = scales.reshape(nb, 8), mins.reshape(nb, 8)
    L = _from_sub_blocks(L, nb)
    max_scale, max_min = _positive_max(scales), _positive_max(mins)
    inv_scale = torch.where(max_scale > 0, _div(63.0, max_scale), 0.0).unsqueeze(1)
    inv_min = torch.where(max_min > 0, _div(63.0, max_min), 0.0).unsqueeze(1)
    ls = (_nearest_int(inv_scale * scales) & 0xFF).clamp_(max=63)  # uint8_t ls = nearest_int(…)
    lm = (_nearest_int(inv_min * mins) & 0xFF).clamp_(max=63)
    d, dmin = _div(max_scale, 63.0), _div(max_min, 63.0)
    dj = (_fp16_round(d).unsqueeze(1) * ls.to(torch.float32)).unsqueeze(2)
    mj = (_fp16_round(dmin).unsqueeze(1) * lm.to(torch.float32)).unsqueeze(2)
    Lnew = _nearest_int(_div(x.reshape(nb, 8, 32) + mj, dj)).clamp_(0, nmax)
    L = torch.where(dj != 0, Lnew, L.reshape(nb, 8, 32)).reshape(nb, QK_K)
    return d, dmin, _pack_scales_k4(ls, lm), L


def _encode_q4_k(x: torch.Tensor) -> torch.Tensor:
    """quantize_row_q4_K_ref: levels 0..15, two sub-blocks' nibbles per byte."""
    d, dmin, scales, L = _encode_qk_asym(x, 15, -1.0, 0.1, 20)
    q = L.reshape(x.shape[0], 4, 2, 32)
    qs = (q[:, :, 0] | (q[:, :, 1] << 4)).reshape(x.shape[0], 128)
    return torch.cat([_fp16_bytes(d), _fp16_bytes(dmin), scales, qs], dim=1)


def _decode_qk_asym(b: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """dequantize_row_q4_K / q5_K once the levels q (nb, 256) are unpacked: d·sc·q − dmin·m."""
    nb = b.shape[0]
    sc, mn = _unpack_scales_k4(b[:, 4:16])
    d1 = (_read_fp16(b, 0) * sc.to(torch.float32)).unsqueeze(2)
    m1 = (_read_fp16(b, 2) * mn.to(torch.float32)).unsqueeze(2)
    return (d1 * q.reshape(nb, 8, 32).to(torch.float32) - m1).reshape(nb, QK_K)


def _decode_q4_k(b: torch.Tensor) -> torch.Tensor:
    """dequantize_row_q4_K."""
    qs = b[:, 16:].to(torch.int32).reshape(b.shape[0], 4, 1, 32)
    q = torch.cat([qs & 0xF, qs >> 4], dim=2)
    return _decode_qk_asym(b, q)


def _encode_q5_k(x: torch.Tensor) -> torch.Tensor:
    """quantize_row_q5_K_ref: levels 0..31, low nibbles as in Q4_K and the fifth bits in qh."""
    nb = x.shape[0]
    d, dmin, scales, L = _encode_qk_asym(x, 31, -0.5, 0.1, 15)
    q = L.reshape(nb, 4, 2, 32)
    low = q & 0xF
    qs = (low[:, :, 0] | (low[:, :, 1] << 4)).reshape(nb, 128)
    shifts = torch.arange(8, device=x.device).reshape(1, 8, 1)  # bit 2n+t for chunk n, half t
    qh = ((q >> 4).reshape(nb, 8, 32) << shifts).sum(1)
    return torch.cat([_fp16_bytes(d), _fp16_bytes(dmin), scales, qh, qs], dim=1)


def _decode_q5_k(b: torch.Tensor) -> torch.Tensor:
    """dequantize_row_q5_K: (nibble + 16·high bit)."""
    nb = b.shape[0]
    qs = b[:, 48:].to(torch.int32).reshape(nb, 4, 1, 32)
    low = torch.cat([qs & 0xF, qs >> 4], dim=2).reshape(nb, 8, 32)
    shifts = torch.arange(8, dtype=torch.int32, device=b.device).reshape(1, 8, 1)
    high = (b[:, 16:48].to(torch.int32).unsqueeze(1) >> shifts) & 1
    return _decode_qk_asym(b, low + (high << 4))


def _encode_q6_k(x: torch.Tensor) -> torch.Tensor:
    """quantize_row_q6_K_ref: 16 sub-blocks of 16, levels −32..31 (4 bits in ql + 2 in qh),
    int8 scales under an fp16 d; fitted by make_qx_quants."""
    nb = x.shape[0]
    scales, L = _make_qx_quants(_sub_blocks(x, 16), 32)
    scales = scales.reshape(nb, 16)
    L = _from_sub_blocks(L, nb)
    max_abs, max_scale = _first_absmax(scales, 1)
    empty = max_abs < GROUP_MAX_EPS
    iscale = _div(-128.0, max_scale)
    d = _div(1.0, iscale)
    sc = _as_int8(_nearest_int(iscale.unsqueeze(1) * scales).clamp_(max=127))
    dj = (_fp16_round(d).unsqueeze(1) * sc.to(torch.float32)).unsqueeze(2)
    Lnew = _nearest_int(_div(x.reshape(nb, 16, 16), dj)).clamp_(-32, 31) + 32
    L = torch.where(dj != 0, Lnew, L.reshape(nb, 16, 16)).reshape(nb, 2, 4, 32)
    low, high = L & 0xF, L >> 4
    ql = torch.cat([low[:, :, 0] | (low[:, :, 2] << 4), low[:, :, 1] | (low[:, :, 3] << 4)], dim=2)
    qh = high[:, :, 0] | (high[:, :, 1] << 2) | (high[:, :, 2] << 4) | (high[:, :, 3] << 6)
    out = torch.cat([ql.reshape(nb, 128), qh.reshape(nb, 64), sc & 0xFF, _fp16_bytes(d).to(torch.int32)], dim=1)
    return torch.where(empty.unsqueeze(1), 0, out)  # memset(&y[i], 0, …) for an all-zero block


def _decode_q6_k(b: torch.Tensor) -> torch.Tensor:
    """dequantize_row_q6_K: d·sc·(q − 32) per sub-block of 16."""
    nb = b.shape[0]
    ql = b[:, :128].to(torch.int32).reshape(nb, 2, 1, 2, 32)  # [half, nibble, k mod 2, l]
    low = torch.cat([ql & 0xF, ql >> 4], dim=2).reshape(nb, 2, 4, 32)
    shifts = torch.tensor([0, 2, 4, 6], dtype=torch.int32, device=b.device).reshape(1, 1, 4, 1)
    high = (b[:, 128:192].to(torch.int32).reshape(nb, 2, 1, 32) >> shifts) & 3
    q = ((low | (high << 4)) - 32).reshape(nb, 16, 16).to(torch.float32)
    sc = b[:, 192:208].contiguous().view(torch.int8).to(torch.float32)
    return ((_read_fp16(b, 208) * sc).unsqueeze(2) * q).reshape(nb, QK_K)


# ---------------------------------------------------------------------------------------------
# Plain float types (one "block" per weight)
# ---------------------------------------------------------------------------------------------


def _encode_f32(x: torch.Tensor) -> torch.Tensor:
    return x.contiguous().view(torch.uint8).reshape(x.shape[0], 4)


def _decode_f32(b: torch.Tensor) -> torch.Tensor:
    return b.contiguous().view(torch.float32)


def _encode_f16(x: torch.Tensor) -> torch.Tensor:
    return _fp16_bytes(x.reshape(-1))


def _decode_f16(b: torch.Tensor) -> torch.Tensor:
    return _read_fp16(b, 0)


# ---------------------------------------------------------------------------------------------
# Registry and public API
# ---------------------------------------------------------------------------------------------

Codec = tuple[Callable[[torch.Tensor], torch.Tensor], Callable[[torch.Tensor], torch.Tensor]]

_TYPES: list[tuple[GgmlType, Codec]] = [
    (GgmlType("F32", 1, 4, 32, 1, 0), (_encode_f32, _decode_f32)),
    (GgmlType("F16", 1, 2, 16, 1, 1), (_encode_f16, _decode_f16)),
    (GgmlType("Q4_0", 32, 18, 4, 32, 2), (_encode_q4_0, _decode_q4_0)),
    (GgmlType("Q4_1", 32, 20, 4, 32, 3), (_encode_q4_1, _decode_q4_1)),
    (GgmlType("Q5_0", 32, 22, 5, 32, 6), (_encode_q5_0, _decode_q5_0)),
    (GgmlType("Q5_1", 32, 24, 5, 32, 7), (_encode_q5_1, _decode_q5_1)),
    (GgmlType("Q8_0", 32, 34, 8, 32, 8), (_encode_q8_0, _decode_q8_0)),
    (GgmlType("Q2_K", QK_K, 84, 2, 16, 10), (_encode_q2_k, _decode_q2_k)),
    (GgmlType("Q3_K", QK_K, 110, 3, 16, 11), (_encode_q3_k, _decode_q3_k)),
    (GgmlType("Q4_K", QK_K, 144, 4, 32, 12), (_encode_q4_k, _decode_q4_k)),
    (GgmlType("Q5_K", QK_K, 176, 5, 32, 13), (_encode_q5_k, _decode_q5_k)),
    (GgmlType("Q6_K", QK_K, 210, 6, 16, 14), (_encode_q6_k, _decode_q6_k)),
]

GGML_TYPES: dict[str, GgmlType] = {t.name: t for t, _ in _TYPES}
_CODECS: dict[str, Codec] = {t.name: codec for t, codec in _TYPES}


def _lookup(type_name: str) -> tuple[GgmlType, Codec]:
    if type_name not in GGML_TYPES:
        raise ParameterError(f"unknown ggml type {type_name!r}; known: {', '.join(GGML_TYPES)}")
    return GGML_TYPES[type_name], _CODECS[type_name]


def _chunk_blocks(block_size: int, device: torch.device) -> int:
    """Blocks per chunk: the K-type searches keep a dozen chunk-sized float32 temporaries alive."""
    return max(1, _CHUNK_ELEMS.get(device.type, _CHUNK_ELEMS["cuda"]) // block_size)


@torch.no_grad()
def encode(w: torch.Tensor, type_name: str) -> torch.Tensor:
    """The bytes llama.cpp's reference quantizer writes for w (quantize_row_<type>_ref, no imatrix).

    Args:
        w: weights, … × cols, any float dtype, on CPU or CUDA (computed there, in float32).
        type_name: a key of GGML_TYPES, e.g. "Q4_K".
    Returns:
        uint8 … × (cols / block_size · type_size) on w's device: each row is a run of ggml blocks.
    Raises:
        ParameterError: unknown type, or cols not a multiple of the type's block size.
    """
    gtype, (encode_blocks, _) = _lookup(type_name)
    if w.dim() == 0:
        raise ParameterError(f"{type_name}: cannot encode a 0-dimensional tensor")
    cols = w.shape[-1]
    if cols % gtype.block_size != 0:
        raise ParameterError(
            f"{type_name} packs blocks of {gtype.block_size} weights: cols {cols} is not a multiple of {gtype.block_size}"
        )
    x = w.detach().to(torch.float32).reshape(-1, gtype.block_size)
    out = torch.empty((x.shape[0], gtype.type_size), dtype=torch.uint8, device=x.device)
    step = _chunk_blocks(gtype.block_size, x.device)
    for start in range(0, x.shape[0], step):
        out[start : start + step] = encode_blocks(x[start : start + step]).to(torch.uint8)
    return out.reshape(*w.shape[:-1], cols // gtype.block_size * gtype.type_size)


@torch.no_grad()
def decode(blocks: torch.Tensor, type_name: str, cols: int | None = None) -> torch.Tensor:
    """float32 weights from ggml blocks, exactly as ggml's dequantize_row_<type> computes them.

    Args:
        blocks: uint8 … × bytes, each row a run of blocks (what `encode` returns).
        type_name: a key of GGML_TYPES.
        cols: expected weights per row; checked when given.
    Returns:
        float32 … × cols on the blocks' device.
    Raises:
        ParameterError: unknown type, a row length that is not whole blocks, or a cols mismatch.
    """
    gtype, (_, decode_blocks) = _lookup(type_name)
    if blocks.dtype != torch.uint8 or blocks.dim() == 0:
        raise ParameterError(f"{type_name}: blocks must be a uint8 tensor of rows, got {blocks.dtype} {tuple(blocks.shape)}")
    nbytes = blocks.shape[-1]
    if nbytes % gtype.type_size != 0:
        raise ParameterError(f"{type_name} blocks are {gtype.type_size} bytes: a row of {nbytes} bytes is not whole blocks")
    row_cols = nbytes // gtype.type_size * gtype.block_size
    if cols is not None and cols != row_cols:
        raise ParameterError(f"{type_name}: rows of {nbytes} bytes hold {row_cols} weights, not cols {cols}")
    b = blocks.reshape(-1, gtype.type_size)
    out = torch.empty((b.shape[0], gtype.block_size), dtype=torch.float32, device=b.device)
    step = _chunk_blocks(gtype.block_size, b.device)
    for start in range(0, b.shape[0], step):
        out[start : start + step] = decode_blocks(b[start : start + step]).reshape(-1, gtype.block_size)
    return out.reshape(*blocks.shape[:-1], row_cols)


@torch.no_grad()
def fake_quantize(w: torch.Tensor, type_name: str) -> torch.Tensor:
    """decode(encode(w)) in w's dtype and shape: the weights llama.cpp will compute with."""
    return decode(encode(w, type_name), type_name).to(w.dtype).reshape(w.shape)
