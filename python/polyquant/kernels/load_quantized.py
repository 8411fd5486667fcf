"""`load-quantized` kernel: read a pre-quantized GPTQ (v1 or v2), AWQ (GEMM, GEMV) or compressed-tensors
checkpoint, or a llama.cpp GGUF file, dequantize it onto its dense architecture, and keep it resident
for the steps that follow.

params (src/kernels/load-quantized.ts): {model with format gptq|awq|compressed-tensors|gguf}. The loading itself is `models.quantized.load_quantized`
(reached through `models.load`, so every kernel that names the same spec gets the same resident copy).
Returns {format, checkpoint_format, bits, group_size, modules, quantized, dense, fingerprint}: the most
common bits and group size over the quantized modules, how many were dequantized, each one's bits
and group size, and the block linears the checkpoint left dense.
"""

from __future__ import annotations

from ..context import KernelContext
from ..errors import ParameterError
from ..models import resident
from .contract import kernel


@kernel("load-quantized")
def run(params: dict, ctx: KernelContext) -> dict:
    spec = params["model"]
    if spec["format"] == "hf":  # a refinement of the TS schema, which JSON Schema does not carry
        raise ParameterError(f"load-quantized reads format gptq, awq, compressed-tensors or gguf checkpoints; model {spec.get('id')!r} has format 'hf'")
    ctx.progress(0, 1, "models", f"loading {spec['id']}")
    loaded = resident.get(spec)
    info = getattr(loaded, "quantization", None) or {}
    if not info.get("modules"):
        raise ParameterError(f"model {spec['id']!r} holds no quantized tensors ({info.get('checkpoint_format', 'all dense')}): name it as a model directly, no load-quantized needed")
    ctx.progress(1, 1, "models", f"loaded {spec['id']}")
    return {
        "format": spec["format"],
        "checkpoint_format": info.get("checkpoint_format"),
        "bits": info.get("bits"),
        "group_size": info.get("group_size"),
        "modules": info.get("modules", 0),
        "quantized": info.get("per_module", {}),
        "dense": info.get("dense", []),
        "fingerprint": loaded.fingerprint,
    }
