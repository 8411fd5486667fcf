"""One entry point for every quantization method: `quantize_model(loaded, quant, targets, ctx)`.

Search returns data; applying it is separate (llm-awq's `apply_awq` habit): the result holds
the new weights by parameter name, and `apply.apply_weights` swaps them in. RTN is computed
here; GPTQ, AWQ and llama.cpp's block formats (gguf) live in their own modules and are imported
only when asked for.

The result is a `result.QuantResult`. With `coded=True` the targets' new weights come as
`QuantResult.coded` (a seventh of float32's memory at 4 bits), for a caller that keeps them all
for long (a layer sweep).
"""

from __future__ import annotations

import logging
from typing import Any, Optional

import torch

from ..context import KernelContext
from ..errors import KernelStopped, ParameterError
from .coded import CodeArena, CodedWeight
from .plan import QuantTarget
from .result import QuantResult
from .grid import quantize_weight
from .rtn import relative_error, rtn_quantize

log = logging.getLogger(__name__)

METHODS = ("rtn", "gptq", "awq", "gguf")


@torch.no_grad()
def quantize_rtn(targets: list[QuantTarget], ctx: Optional[KernelContext] = None, arena: Optional[CodeArena] = None) -> QuantResult:
    """RTN for every target with its own bits, group size and symmetry; with an `arena`, as codes kept in it."""
    weights: dict[str, torch.Tensor] = {}
    codes: dict[str, CodedWeight] = {}
    errors: dict[str, float] = {}
    for i, t in enumerate(targets):
        if ctx is not None and ctx.should_stop():
            raise KernelStopped(f"stopped while quantizing, after {i} of {len(targets)} modules")
        W = t.weight()  # out × in
        qw = quantize_weight(W, t.bits, t.group_size, t.sym, t.name)
        W_hat = qw.dequantize(W.dtype)
        if arena is not None:  # Ŵ is needed for its error only: let the error overwrite it
            codes[t.param_name] = CodedWeight.from_grid(qw, W.dtype, t.transposed, arena)
            errors[t.name] = relative_error(W, W_hat, overwrite=True)
        else:
            errors[t.name] = relative_error(W, W_hat)
            weights[t.param_name] = t.to_param_layout(W_hat).to("cpu")
        if ctx is not None:
            ctx.progress(i + 1, len(targets), "modules", f"rtn {t.name}")
    return QuantResult(weights, errors, {"method": "rtn"}, codes)


def quantize_model(
    loaded: Any, quant: dict, targets: list[QuantTarget], ctx: Optional[KernelContext] = None, coded: bool = False
) -> QuantResult:
    """Quantize `targets` of `loaded.model` with `quant["method"]`; the model itself is left unchanged.

    coded: return the targets' new weights as `result.coded` instead of float tensors (module docstring).
    """
    method = quant.get("method", "rtn")
    # gguf keeps its own coded form (its GGUF blocks); the others share the code arena
    arena = CodeArena.for_targets(targets) if coded and method != "gguf" else None
    if method == "rtn":
        result = quantize_rtn(targets, ctx, arena)
    elif method == "gptq":
        from .gptq_model import quantize_model_gptq

        result = quantize_model_gptq(loaded, quant, targets, ctx, arena)
    elif method == "awq":
        from .awq import quantize_model_awq

        result = quantize_model_awq(loaded, quant, targets, ctx, arena)
    elif method == "gguf":
        from .gguf_method import quantize_gguf

        result = quantize_gguf(targets, ctx, coded)
    else:
        raise ParameterError(f"quant.method {method!r} is not one of {', '.join(METHODS)}")
    result.meta.setdefault("method", method)
    log.info("%s: %d modules quantized", method, len(result.module_errors))
    return result


def quant_summary(quant: dict) -> dict:
    """{method, bits, group_size, sym} of a quant config as step outputs record it (QuantSummary, src/kernels/quantize.ts).

    Method gguf has no bits or group size of its own: the file type's default block type stands
    for it (Q4_K_M: 4 bits, a scale per 32 weights), and `gguf_type` names the file type.
    """
    if quant.get("method") != "gguf":
        return {"method": quant["method"], "bits": quant["bits"], "group_size": quant["group_size"], "sym": bool(quant["sym"])}
    from .ggml_blocks import GGML_TYPES
    from .gguf_method import options, summary_type

    kind = GGML_TYPES[summary_type(quant)]
    return {"method": "gguf", "bits": kind.bits, "group_size": kind.scale_group, "sym": False, "gguf_type": options(quant)[0]}


__all__ = ["QuantResult", "quant_summary", "quantize_model", "quantize_rtn", "rtn_quantize"]
