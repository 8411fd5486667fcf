"""Swap quantized weights into a resident model in place, and restore exactly what changed.

`apply_weights(model, weights)` copies each new tensor into its parameter (`weights` maps a
parameter name to a tensor in that parameter's own layout) and keeps a copy of the original of
only the parameters it changed. `snapshot.restore()` copies those originals back: bit-exact, and
its cost is the size of the changed weights, never the size of the model. No state-dict clone,
no reload (the seed's template does both, once per configuration).

Originals are kept on the CPU, so that a sweep that swaps nearly every linear of a model on a
16 GB GPU does not need a second copy of the model in GPU memory.

    with apply_weights(model, result.weights):
        measure(...)          # the quantized model
    measure(...)              # the original again, bit for bit
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from ..errors import ParameterError


class WeightSnapshot:
    """The original values of the parameters an `apply_weights` call changed."""

    def __init__(self, model: nn.Module):
        self.model = model
        self.originals: dict[str, torch.Tensor] = {}  # parameter name → CPU copy of its original value
        self.restored = False

    @property
    def changed(self) -> list[str]:
        return list(self.originals)

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.originals.values())

    @torch.no_grad()
    def restore(self) -> None:
        """Copy the originals back (idempotent)."""
        if self.restored:
            return
        params = dict(self.model.named_parameters(remove_duplicate=False))
        for name, original in self.originals.items():
            params[name].copy_(original.to(params[name].device))
        self.restored = True

    def __enter__(self) -> "WeightSnapshot":
        return self

    def __exit__(self, *exc) -> None:
        self.restore()


@torch.no_grad()
def apply_weights(model: nn.Module, weights: dict[str, torch.Tensor], names: Optional[list[str]] = None) -> WeightSnapshot:
    """Copy `weights` (parameter name → tensor, parameter layout) into `model` in place.

    `names` restricts the swap to a subset of `weights` (a layer sweep applies part of one
    precomputed quantization). Returns the snapshot that restores the originals.
    """
    params = dict(model.named_parameters(remove_duplicate=False))
    snap = WeightSnapshot(model)
    done: set[int] = set()  # tied parameters appear under several names: copy once
    for name in names if names is not None else list(weights):
        if name not in weights:
            raise ParameterError(f"parameter {name!r} has no precomputed weight")
        if name not in params:
            raise ParameterError(f"model has no parameter {name!r}")
        p = params[name]
        new = weights[name]
        if tuple(new.shape) != tuple(p.shape):
            raise ParameterError(f"weight for {name} has shape {tuple(new.shape)}; the parameter has {tuple(p.shape)}")
        if id(p) in done:
            continue
        done.add(id(p))
        new = new.to(device=p.device, dtype=p.dtype)
        if torch.equal(new, p):
            continue  # unchanged: nothing to keep
        snap.originals[name] = p.detach().to("cpu", copy=True)
        p.copy_(new)
    return snap
