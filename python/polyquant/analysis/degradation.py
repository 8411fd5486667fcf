"""The one definition of perplexity degradation, used by every kernel that reports it.

    d = PPL_q / PPL_b − 1 = exp((NLL_q − NLL_b) / T) − 1

with NLL the summed negative log-likelihood (nats) of the same T tokens under the quantized and
the baseline model. Written through expm1 so that a small d keeps its digits.
"""

from __future__ import annotations

from typing import Union

import numpy as np

Number = Union[float, np.ndarray]


def degradation(nll_base: Number, nll_quant: Number, tokens: Number) -> Number:
    """d for summed NLLs over `tokens` tokens; elementwise for arrays, a float for scalars."""
    d = np.expm1((np.asarray(nll_quant, dtype=np.float64) - np.asarray(nll_base, dtype=np.float64)) / np.asarray(tokens, dtype=np.float64))
    return float(d) if d.ndim == 0 else d
