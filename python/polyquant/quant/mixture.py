"""Block linears switched in place between precomputed quantizations and their originals.

A search over per-module quantization choices (the `allocate` kernel: which layer gets 3, 4 or 8
bits) evaluates many mixtures of a few precomputed quantizations of the same model. Each
candidate's weights are kept as codes (`quant/coded.py`); the originals go once to a temporary
file (`quant/spill.py`). `set(want)` then writes only the parameters whose value changes from the
previous mixture, so consecutive configurations that differ in one layer rewrite one layer, and
every evaluation runs on plain parameters. `close()` puts every original back, bit for bit.
"""

from __future__ import annotations

from typing import Iterable, Optional

import torch
from torch import nn

from .coded import CodedWeight
from .spill import SpilledOriginals


class MixedWeights:
    """Parameters each holding one `CodedWeight`'s value or their original one."""

    def __init__(self, model: nn.Module, names: Iterable[str], folder: Optional[str] = None):
        self.model = model
        self.names = sorted(names)
        self.spilled: Optional[SpilledOriginals] = SpilledOriginals(model, self.names, folder)
        self.current: dict[str, CodedWeight] = {}  # parameter → the code it holds now (absent: original)

    def set(self, want: dict[str, CodedWeight]) -> None:
        """Bring every managed parameter to `want[name]`'s value, or its original where absent."""
        if self.spilled is None:
            raise RuntimeError("MixedWeights used after close()")
        unknown = set(want) - set(self.names)
        if unknown:
            raise KeyError(f"not a managed parameter: {sorted(unknown)[:3]}")
        for name in self.names:
            target, now = want.get(name), self.current.get(name)
            if target is now:
                continue
            if target is None:
                self.spilled.restore(name)
                del self.current[name]
                continue
            param = self.model.get_parameter(name)
            with torch.no_grad():
                param.copy_(target.dequantize(param.device))
            self.current[name] = target

    def close(self) -> None:
        """Every original back; the temporary file closed."""
        if self.spilled is None:
            return
        try:
            self.set({})
        finally:
            self.spilled.close()
            self.spilled = None
