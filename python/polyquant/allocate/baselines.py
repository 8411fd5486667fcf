"""The allocations a researcher would otherwise ship, on the same candidate grids.

Each returns a per-module assignment (module name → Choice) for a base choice b:
- `uniform`: every block linear at b (what most quantized checkpoints are);
- `protect_ends`: b, with the first and the last block in full precision (COLAB-001's L0 + last);
- `q4_k_m_rule`: llama.cpp's Q4_K_M mixture on this grid: attn_v and ffn_down of the
  `use_more_bits` layers (the first and last eighth and every third one between) one step of
  +2 bits up (Q4_K → Q6_K), the rest at b (ggml-org/llama.cpp src/llama-quant.cpp,
  `llama_tensor_get_type_impl`, via `quant/ggml_mix.use_more_bits`); the output tensor's bump is
  outside the block linears and left out here, as for every strategy.
The fourth baseline, the average-loss optimum at the same size, is `solve.min_mean`.
"""

from __future__ import annotations

from typing import Optional

from ..quant.ggml_mix import ATTN_V_LIKE, use_more_bits
from .units import Choice, Module


FP = Choice(None)


def uniform(modules: list[Module], base: Choice) -> dict[str, Choice]:
    return {m.name: FP if m.fixed else base for m in modules}


def protect_ends(modules: list[Module], base: Choice, n_layers: int) -> dict[str, Choice]:
    ends = {0, n_layers - 1}
    return {m.name: FP if m.fixed or m.layer in ends else base for m in modules}


def more_bits_choice(base: Choice, choices: list[Choice]) -> Optional[Choice]:
    """The grid Q4_K_M would use for its bumped tensors: the smallest candidate with at least two
    more bits than `base` (same group size and symmetry first), else the largest above it."""
    above = [c for c in choices if c.quantized and c.bits > base.bits]  # type: ignore[operator]
    if not above:
        return None
    plus2 = [c for c in above if c.bits >= base.bits + 2]  # type: ignore[operator]
    pool = plus2 or above
    best = min(pool, key=lambda c: (c.bits if plus2 else -c.bits, c.group_size != base.group_size, c.sym != base.sym))
    return best


def q4_k_m_rule(modules: list[Module], base: Choice, choices: list[Choice], n_layers: int) -> Optional[dict[str, Choice]]:
    bumped = more_bits_choice(base, choices)
    if bumped is None:
        return None
    out = {}
    for m in modules:
        more = (m.role in ATTN_V_LIKE or m.role == "ffn_down") and use_more_bits(m.layer, n_layers)
        out[m.name] = FP if m.fixed else bumped if more else base
    return out
