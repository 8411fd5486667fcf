"""`QuantResult`: what a quantization method hands back, in a module of its own so that the
methods (rtn, gptq, awq) and their dispatcher (methods.py) import it without importing each other.

`weights` are CPU tensors in each parameter's own layout and dtype; `module_errors[name]` is the
relative Frobenius error ‖W − Ŵ‖_F / ‖W‖_F of the module's weight. With `coded=True` the targets'
new weights come as `coded` instead (integer codes, scales and zeros, coded.py), and `weights`
holds only the other parameters a method changes (AWQ's norms). `gptq` and `awq` carry what the
method found beyond the weights: GPTQ's codes for export, AWQ's scales, clips and groups.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional

import torch

from .coded import CodedWeight

if TYPE_CHECKING:  # only for the annotations: gptq.py and awq.py import this module
    from .awq import AwqResults
    from .gptq_model import GptqModelResult


@dataclass
class QuantResult:
    """What a quantization method found: new weights, their errors, and how they were made."""

    weights: dict[str, torch.Tensor]  # parameter name → new value (parameter layout, CPU)
    module_errors: dict[str, float]  # module name → ‖W − Ŵ‖_F / ‖W‖_F
    meta: dict[str, Any] = field(default_factory=dict)  # method, bits, timings, method-specific notes
    coded: dict[str, CodedWeight] = field(default_factory=dict)  # parameter name → a target's new value as codes (coded=True only)
    gptq: Optional["GptqModelResult"] = None  # GPTQ: the integer codes an exporter packs
    awq: Optional["AwqResults"] = None  # AWQ: the searched scales, clips and verified groups
