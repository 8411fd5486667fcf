"""Quantized weights that exist only while the module using them runs.

`apply.apply_weights` copies the new weights into the model and keeps a copy of each original: for
a configuration that changes nearly every linear (a protect-one layer sweep) the process holds the
model, the new weights and the originals, three models' worth. `swapped_in(model, coded, names)`
leaves every original where it is. A forward pre-hook on each module that holds a named parameter
points the parameter at its dequantized weight (`param.data = …`, `quant/coded.py`) and a forward
hook points it back, so beyond the model and the codes only the weight of the running module
exists. Restoring is pointing back: bit-exact and free, and it also happens when a forward fails.

The price is time: every forward pass dequantizes every swapped weight once, where
`apply_weights` copies once per configuration. It matters when a batch holds few tokens next to
the model's size (a small model on a CPU with short windows); with full batches the matmuls dwarf
it. Measured on the benchmarks' CPU models (three short batches per evaluation) a configuration
cost about what copying in and restoring did, 12-25% over a plain evaluation either way; on an
H100 the sweep got faster (no copies between the CPU and the GPU).
The dequantized weights are written into work tensors reused from module to module, so the
forward passes allocate no weight-sized memory; that makes this for evaluation only (no_grad): a
weight saved for a backward pass would be overwritten by the next module's.

Only a weight that the model uses through its own module's forward can be swapped like this. The
block linears of models/structure.py are (leaf `nn.Linear` / Conv1D modules called by their block); an
embedding or a tied lm_head may be read as a tensor by the model's code, so callers apply those
with `apply_weights`. A named parameter whose module never ran during the block is an error: its
quantized value would silently not have been used.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Mapping

import torch
from torch import nn

from ..errors import ModelError, ParameterError
from .coded import CodedWeight


@contextmanager
def swapped_in(model: nn.Module, coded: Mapping[str, CodedWeight], names: list[str]) -> Iterator[None]:
    """Within the block, every forward call of a module holding parameter `n` (of `names`) sees `coded[n]`."""
    params = dict(model.named_parameters(remove_duplicate=False))
    chosen: dict[int, str] = {}  # id(parameter) → the name whose codes it takes (tied parameters: the first name)
    for name in names:
        if name not in coded:
            raise ParameterError(f"parameter {name!r} has no quantized weight")
        if name not in params:
            raise ParameterError(f"model has no parameter {name!r}")
        if tuple(params[name].shape) != tuple(coded[name].shape):
            raise ParameterError(f"quantized weight for {name} has shape {tuple(coded[name].shape)}; the parameter has {tuple(params[name].shape)}")
        chosen.setdefault(id(params[name]), name)
    originals: dict[int, torch.Tensor] = {}  # id(parameter) → its own tensor, put back after every call
    buffers: dict = {}  # dequantization work tensors, reused from module to module (CodedWeight.dequantize)
    swaps = {name: 0 for name in chosen.values()}
    handles = []

    def held(module: nn.Module) -> list[tuple[nn.Parameter, str]]:
        return [(p, chosen[id(p)]) for p in module._parameters.values() if p is not None and id(p) in chosen]

    for module in model.modules():
        mine = held(module)
        if not mine:
            continue

        def swap_in(_module: nn.Module, _args: tuple, mine: list = mine) -> None:
            shared = buffers if len(mine) == 1 else None  # two weights of one module must not share a buffer
            for p, name in mine:
                p.data = coded[name].dequantize(originals[id(p)].device, shared)
                swaps[name] += 1

        def swap_out(_module: nn.Module, _args: tuple, _out: object, mine: list = mine) -> None:
            for p, _ in mine:
                p.data = originals[id(p)]

        for p, _ in mine:
            originals[id(p)] = p.data
        handles.append(module.register_forward_pre_hook(swap_in))
        handles.append(module.register_forward_hook(swap_out))
    if chosen:  # the work tensors, sized for the largest weight, go below the activations rather than among them
        largest = max(chosen.values(), key=lambda name: coded[name].numel)
        coded[largest].reserve(buffers, params[largest].device)
    try:
        yield
    finally:
        for h in handles:
            h.remove()
        for p in params.values():
            if id(p) in originals:
                p.data = originals[id(p)]
    unused = [name for name, n in swaps.items() if n == 0]
    if unused and len(unused) < len(swaps):  # the model ran, but not through this module
        raise ModelError(f"parameter {unused[0]} was never used through its module's forward, so its quantized weight cannot be swapped in")
