"""Bit packing of integer weight codes into int32 words, as published GPTQ and AWQ checkpoints store them.

GPTQ (AutoGPTQ `auto_gptq/nn_modules/qlinear/qlinear_cuda_old.py`, `QuantLinear.pack()`; the same
layout in GPTQModel's `nn_modules/qlinear/__init__.py` and transformers' GPTQ integration):
- `qweight`: int32 `(in_features * bits / 32, out_features)`; the codes of `intweight` (in × out) are
  packed along dim 0, little-endian: code k of a column occupies bits [k·bits, (k+1)·bits) of the
  column's word stream. For 2, 4 and 8 bits this is `32 / bits` codes per word; for 3 bits, 32 codes
  span 3 words and codes 10 and 21 cross a word boundary (AutoGPTQ's `intweight[i] << 30` then
  `(intweight[i] >> 2) & 1` in the next word) — which is exactly the continuous bit stream below.
- `qzeros`: int32 `(n_groups, out_features * bits / 32)`, the zero points packed the same way along dim 1.
  Checkpoint format v1 (`checkpoint_format: gptq`) stores zero − 1; v2 (`gptq_v2`) stores the zero.
  That offset is applied by the reader and writer (models/quantized.py, quant/export.py), not here: this module only moves bits.

AWQ GEMM (AutoAWQ `awq/modules/linear/gemm.py`, `WQLinear_GEMM.from_linear()`, and
`awq/utils/packing_utils.py`): 4 bits only; `qweight` int32 `(in_features, out_features / 8)` and
`qzeros` int32 `(n_groups, out_features / 8)`, both packed along dim 1, and within each word the slot
i (bits 4i..4i+3) holds column `AWQ_ORDER[i]` of its 8 columns (`[0, 2, 4, 6, 1, 3, 5, 7]`).
AWQ stores the zero point itself (no offset).
"""

from __future__ import annotations

import torch

GPTQ_FORMATS = ("gptq", "gptq_v2")  # checkpoint_format values polyquant reads and writes (v1 AutoGPTQ, v2 GPTQModel)

from ..errors import ParameterError

GPTQ_BITS = (2, 3, 4, 8)  # widths the GPTQ int32 layout defines (AutoGPTQ QuantLinear)
AWQ_BITS = (4,)  # AutoAWQ's WQLinear_GEMM packs 4-bit codes only
AWQ_ORDER = (0, 2, 4, 6, 1, 3, 5, 7)  # slot i of a word holds column AWQ_ORDER[i]
AWQ_REVERSE_ORDER = (0, 4, 1, 5, 2, 6, 3, 7)  # column c sits in slot AWQ_REVERSE_ORDER[c]

_WORD = 32
_MASK32 = (1 << 32) - 1


def _check_bits(bits: int, allowed: tuple[int, ...], what: str) -> None:
    if bits not in allowed:
        raise ParameterError(f"{what}: bits {bits} cannot be packed; supported: {', '.join(map(str, allowed))}")


def _to_int32(words: torch.Tensor) -> torch.Tensor:
    """uint32 values held in int64 → int32 with the same bits (two's complement wrap)."""
    return torch.where(words >= (1 << 31), words - (1 << 32), words).to(torch.int32)


def pack_dim0(codes: torch.Tensor, bits: int) -> torch.Tensor:
    """Pack integer codes (n, m) in [0, 2^bits) along dim 0 into int32 words (n·bits/32, m)."""
    _check_bits(bits, GPTQ_BITS, "pack")
    if codes.dim() != 2:
        raise ParameterError(f"pack: codes must be 2-D, got shape {tuple(codes.shape)}")
    n, m = codes.shape
    if (n * bits) % _WORD:
        raise ParameterError(f"pack: {n} codes of {bits} bits do not fill whole 32-bit words (n·bits must divide by 32)")
    v = codes.to(torch.int64)
    if v.numel() and (int(v.min()) < 0 or int(v.max()) > (1 << bits) - 1):
        raise ParameterError(f"pack: codes must lie in [0, {(1 << bits) - 1}] for {bits} bits, got [{int(v.min())}, {int(v.max())}]")
    n_words = n * bits // _WORD
    words = torch.zeros(n_words + 1, m, dtype=torch.int64)  # one spare word catches the last overflow (always 0)
    offset = torch.arange(n, dtype=torch.int64) * bits  # bit position of code k in the stream
    w, s = offset // _WORD, offset % _WORD
    low = (v << s[:, None]) & _MASK32
    words.index_add_(0, w, low)  # disjoint bit ranges: add == or
    cross = (s + bits) > _WORD
    if bool(cross.any()):
        high = v[cross] >> (_WORD - s[cross])[:, None]
        words.index_add_(0, w[cross] + 1, high)
    return _to_int32(words[:n_words])


def unpack_dim0(words: torch.Tensor, bits: int, n: int | None = None) -> torch.Tensor:
    """Inverse of `pack_dim0`: int32 words (n·bits/32, m) → int64 codes (n, m)."""
    _check_bits(bits, GPTQ_BITS, "unpack")
    if words.dim() != 2:
        raise ParameterError(f"unpack: words must be 2-D, got shape {tuple(words.shape)}")
    n_words, m = words.shape
    n = n if n is not None else n_words * _WORD // bits
    if n * bits > n_words * _WORD:
        raise ParameterError(f"unpack: {n_words} words hold at most {n_words * _WORD // bits} codes of {bits} bits, asked for {n}")
    u = words.to(torch.int64) & _MASK32
    u = torch.cat([u, torch.zeros(1, m, dtype=torch.int64)])  # spare word for the last crossing code
    offset = torch.arange(n, dtype=torch.int64) * bits
    w, s = offset // _WORD, offset % _WORD
    out = u[w] >> s[:, None]
    out = out | (u[w + 1] << (_WORD - s)[:, None])  # the high bits of codes that cross a word boundary
    return out & ((1 << bits) - 1)


def pack_dim1(codes: torch.Tensor, bits: int) -> torch.Tensor:
    """Pack along dim 1: (n, m) codes → (n, m·bits/32) int32 (GPTQ `qzeros`)."""
    return pack_dim0(codes.t(), bits).t().contiguous()


def unpack_dim1(words: torch.Tensor, bits: int, m: int | None = None) -> torch.Tensor:
    return unpack_dim0(words.t(), bits, m).t().contiguous()


# --- GPTQ -------------------------------------------------------------------------------------


def pack_gptq_qweight(intweight_out_in: torch.Tensor, bits: int) -> torch.Tensor:
    """Codes laid out as a weight (out × in) → GPTQ `qweight` (in·bits/32, out)."""
    return pack_dim0(intweight_out_in.t(), bits)


def unpack_gptq_qweight(qweight: torch.Tensor, bits: int, in_features: int) -> torch.Tensor:
    """GPTQ `qweight` → codes (out × in)."""
    return unpack_dim0(qweight, bits, in_features).t().contiguous()


def pack_gptq_qzeros(zeros_groups_out: torch.Tensor, bits: int) -> torch.Tensor:
    """Stored zero codes (n_groups, out) → GPTQ `qzeros` (n_groups, out·bits/32). No offset applied here."""
    return pack_dim1(zeros_groups_out, bits)


def unpack_gptq_qzeros(qzeros: torch.Tensor, bits: int, out_features: int) -> torch.Tensor:
    return unpack_dim1(qzeros, bits, out_features)


# --- AWQ GEMM ---------------------------------------------------------------------------------


def _awq_column_perm(m: int, pack: int) -> torch.Tensor:
    """Index that puts, within each run of `pack` columns, column AWQ_ORDER[i] at position i."""
    order = torch.tensor(AWQ_ORDER, dtype=torch.int64)
    return (torch.arange(m // pack, dtype=torch.int64)[:, None] * pack + order[None, :]).reshape(-1)


def pack_awq(codes: torch.Tensor, bits: int = 4) -> torch.Tensor:
    """AWQ GEMM packing along dim 1 with the interleaved order: (n, m) codes → (n, m·bits/32) int32.

    Used for both `qweight` (codes as in × out) and `qzeros` (n_groups × out).
    """
    _check_bits(bits, AWQ_BITS, "AWQ GEMM pack")
    pack = _WORD // bits
    if codes.dim() != 2 or codes.shape[1] % pack:
        raise ParameterError(f"AWQ GEMM pack: out_features must be a multiple of {pack}, got shape {tuple(codes.shape)}")
    return pack_dim1(codes[:, _awq_column_perm(codes.shape[1], pack)], bits)


def unpack_awq(words: torch.Tensor, bits: int = 4) -> torch.Tensor:
    """Inverse of `pack_awq`: (n, m/8) int32 → (n, m) codes in natural column order."""
    _check_bits(bits, AWQ_BITS, "AWQ GEMM unpack")
    pack = _WORD // bits
    slots = unpack_dim1(words, bits)  # slot order
    inv = torch.argsort(_awq_column_perm(slots.shape[1], pack))
    return slots[:, inv]
