"""Round-to-nearest (RTN) weight quantization: every weight rounded independently onto its group's grid.

RTN is the baseline every other method must beat: no calibration data, no error compensation.
Given W (out × in), each group of `group_size` input columns of a row gets a scale s and a zero z
from its min and max (see `grid.py`), and Ŵ = s · (clamp(round(W / s) + z, 0, 2^b − 1) − z).
"""

from __future__ import annotations

import torch

from .grid import QuantizedWeight, quantize_weight


@torch.no_grad()
def rtn_quantize(W: torch.Tensor, bits: int, group_size: int = -1, sym: bool = False) -> torch.Tensor:
    """Quantize and dequantize W (out × in, an nn.Linear weight) with RTN.

    Args:
        W: the weight, out_features × in_features.
        bits: 2 to 8.
        group_size: input columns per group; −1 is one group per row (per channel). Must divide in_features.
        sym: symmetric grid (zero at the mid-point) instead of asymmetric min/max.
    Returns:
        Ŵ, the dequantized weight: same shape, dtype and device as W.
    Raises:
        ParameterError: bits out of range, or a group_size that does not divide in_features.
    """
    return rtn_codes(W, bits, group_size, sym).dequantize(W.dtype).to(W.device)


@torch.no_grad()
def rtn_codes(W: torch.Tensor, bits: int, group_size: int = -1, sym: bool = False, module: str = "") -> QuantizedWeight:
    """RTN as integer codes, scales and zeros (for exporters); `module` names W in error messages."""
    return quantize_weight(W, bits, group_size, sym, module)


def relative_error(W: torch.Tensor, W_hat: torch.Tensor, overwrite: bool = False) -> float:
    """‖W − Ŵ‖_F / ‖W‖_F (0 for an all-zero W that stays zero).

    overwrite: W − Ŵ may be computed in Ŵ's own storage (a caller done with Ŵ spares a
    weight-sized temporary). Only when both are contiguous: the difference then has the layout
    it would have had anyway, so the norm sums in the same order and gives the same bits.
    """
    W32 = W.detach().float()
    W_hat32 = W_hat.detach().float().to(W32.device)
    if overwrite and W32.is_contiguous() and W_hat32.is_contiguous() and W_hat32.data_ptr() != W32.data_ptr():
        num = torch.linalg.vector_norm(torch.sub(W32, W_hat32, out=W_hat32)).item()
    else:
        num = torch.linalg.vector_norm(W32 - W_hat32).item()
    den = torch.linalg.vector_norm(W32).item()
    if den == 0.0:
        return 0.0 if num == 0.0 else float("inf")
    return num / den
