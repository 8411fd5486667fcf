"""`quantize` kernel: RTN, GPTQ or AWQ on the resident model, saved as a content-addressed artifact.

params (src/kernels/quantize.ts): {model, quant, protect, overrides, export}.
1. resolve the targets (protection and overrides, `quant/plan.py`);
2. compute the quantized weights (`quant/methods.py`): the resident model is not changed;
3. apply them in place and restore them (a check that every weight fits its parameter, and the
   resident model is bit-exact afterwards for the next step);
4. write the changed weights to `<artifacts_dir>/<sha256>.safetensors`: the name is the digest of
   the file's bytes, so equal results share one file, written atomically (temp file + rename).
   Its metadata records method, bits, group size, sym, the model fingerprint and every target.

Returns {method, bits, group_size, sym, artifact: {path, digest}, modules: [{name, layer, bits,
group_size, rel_error}], protected: [names], mean_rel_error}; rel_error = ‖W − Ŵ‖_F / ‖W‖_F.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import struct
import tempfile
from typing import Any, Optional

import torch

from ..context import KernelContext
from ..errors import ParameterError
from ..models import resident
from ..quant.apply import apply_weights
from ..quant.methods import quant_summary, quantize_model
from ..quant.result import QuantResult
from ..quant.plan import QuantTarget, grid_summary, protected_names, resolve_targets
from .contract import kernel

log = logging.getLogger(__name__)


def plan(loaded: Any, params: dict, quant: Optional[dict] = None) -> tuple[dict, list[QuantTarget], list[str]]:
    """(quant config, targets, protected module names) for a kernel's params, filled by its contract;
    `quant` replaces `params["quant"]` (a kernel whose `quant` is optional passes its defaults)."""
    quant = params["quant"] if quant is None else quant
    targets = resolve_targets(loaded.model, quant, params["protect"], params["overrides"])
    if not targets:
        raise ParameterError("protect leaves no module to quantize")
    return quant, targets, protected_names(loaded.model, quant, targets)


def module_rows(targets: list[QuantTarget], result: QuantResult) -> list[dict]:
    return [{**{k: v for k, v in t.describe().items() if k != "sym"}, "rel_error": result.module_errors.get(t.name)} for t in targets]


_DTYPES = {
    torch.float32: "F32",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.float64: "F64",
    torch.int64: "I64",
    torch.int32: "I32",
    torch.int16: "I16",
    torch.int8: "I8",
    torch.uint8: "U8",
    torch.bool: "BOOL",
}


def safetensors_bytes(tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> bytes:
    """A safetensors file with a canonical header (sorted keys), so equal content gives equal bytes.

    (`safetensors.torch.save` writes its header from a hash map: the key order, and so the file's
    digest, changes from call to call.) Layout: u64 little-endian header length, the JSON header
    padded with spaces to a multiple of 8, then the tensors' bytes in header order.
    """
    header: dict[str, Any] = {"__metadata__": dict(sorted(metadata.items()))}
    chunks, offset = [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().to("cpu").contiguous()
        if t.dtype not in _DTYPES:
            raise ParameterError(f"tensor {name} has dtype {t.dtype}, which the artifact format does not store")
        data = t.view(torch.uint8).numpy().tobytes() if t.numel() else b""
        header[name] = {"dtype": _DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    raw = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + b"".join(chunks)


def write_artifact(result: QuantResult, targets: list[QuantTarget], quant: dict, loaded: Any, artifacts_dir: Optional[str]) -> dict:
    """Save the changed weights as safetensors named by the sha256 of the file's bytes."""
    folder = artifacts_dir or os.path.join(tempfile.gettempdir(), "polyquant-artifacts")
    os.makedirs(folder, exist_ok=True)
    metadata = {
        "format": "polyquant-quantized",
        **{k: v if isinstance(v, str) else json.dumps(v) for k, v in quant_summary(quant).items()},
        "model": str(getattr(loaded, "spec", {}).get("id", "")),
        "fingerprint": str(getattr(loaded, "fingerprint", "")),
        "targets": json.dumps([t.describe() for t in targets]),
        # how the method ran: GPTQ/AWQ calibration (languages, bytes, tokens, samples, corpus digest);
        # wall time is left out so that the same weights always get the same content address
        "meta": json.dumps({k: v for k, v in result.meta.items() if k != "seconds"}, default=str, sort_keys=True),
    }
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in sorted(result.weights.items())}
    blob = safetensors_bytes(tensors, metadata)
    digest = hashlib.sha256(blob).hexdigest()
    path = os.path.join(folder, f"{digest}.safetensors")
    if not os.path.exists(path):
        tmp = f"{path}.tmp-{os.getpid()}"
        with open(tmp, "wb") as f:
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    return {"path": path, "digest": f"sha256:{digest}"}


# export format → the methods whose results it packs
EXPORT_METHODS = {"gptq": ("gptq",), "gptq_v2": ("gptq",), "awq": ("awq",), "compressed-tensors": ("rtn", "gptq", "awq")}


def export_checkpoint(loaded: Any, result: QuantResult, fmt: Optional[str], artifact: dict, artifacts_dir: Optional[str], targets: Optional[list[QuantTarget]] = None) -> Optional[dict]:
    """Write a loadable GPTQ (v1/v2) or AWQ GEMM checkpoint beside the artifact, named after its digest.

    The folder appears complete or not at all (written under a temporary name, then renamed), and an
    existing one is reused: the same quantized weights always give the same checkpoint.
    """
    if not fmt:
        return None
    if fmt not in EXPORT_METHODS:
        raise ParameterError(f"export {fmt!r} is not one of {', '.join(EXPORT_METHODS)}")
    method = result.meta.get("method")
    if method not in EXPORT_METHODS[fmt]:
        raise ParameterError(f"export {fmt!r} needs quant.method {' or '.join(EXPORT_METHODS[fmt])}, got {method!r}")
    from ..quant.export import export_awq, export_compressed_tensors, export_gptq

    folder = os.path.join(os.path.dirname(artifact["path"]), "checkpoints")
    out_dir = os.path.join(folder, f"{artifact['digest'].split(':', 1)[1][:32]}-{fmt}")
    if not os.path.isdir(out_dir):
        tmp = f"{out_dir}.tmp-{os.getpid()}"
        os.makedirs(tmp, exist_ok=True)
        if fmt == "awq":
            export_awq(loaded, result, tmp)
        elif fmt == "compressed-tensors":
            export_compressed_tensors(loaded, result, tmp, targets)
        else:
            export_gptq(loaded, result, tmp, checkpoint_format=fmt)
        os.replace(tmp, out_dir)
    return {"format": fmt, "path": out_dir}


def structure_outputs(loaded: Any, result: QuantResult) -> dict:
    """`architecture` (what structure discovery found) and `awq` (the verified scale groups, and the
    linears left unscaled with the reason) for a step's outputs."""
    found = loaded.structure.describe()
    arch = {k: found[k] for k in ("model_type", "blocks", "layers", "linears_per_block", "linears", "conv1d", "attn_out")}
    search = result.meta.get("search") if result.meta.get("method") == "awq" else None
    awq = None
    if search is not None:
        awq = {
            "groups": [{k: g[k] for k in ("prev", "linears", "fold", "alpha")} for g in search["scales"]],
            "unscaled": list(search["skipped"]),
            "fold_logit_change": search["fold_logit_change"],
        }
    return {"architecture": arch, "awq": awq}


@kernel("quantize")
def run(params: dict, ctx: KernelContext) -> dict:
    loaded = resident.get(params["model"])
    quant, targets, protected = plan(loaded, params)
    result = quantize_model(loaded, quant, targets, ctx)
    with apply_weights(loaded.model, result.weights) as snap:
        log.info("applied %d changed parameters (%d bytes kept for restore)", len(snap.changed), snap.nbytes())
    artifact = write_artifact(result, targets, quant, loaded, ctx.artifacts_dir)
    checkpoint = export_checkpoint(loaded, result, params.get("export"), artifact, ctx.artifacts_dir, targets)
    rows = module_rows(targets, result)
    errors = [r["rel_error"] for r in rows if r["rel_error"] is not None]
    return {
        **quant_summary(quant),
        "artifact": artifact,
        "modules": rows,
        "protected": protected,
        "mean_rel_error": math.fsum(errors) / len(errors) if errors else None,
        "storage": grid_summary(loaded.model, quant, targets),
        "checkpoint": checkpoint,
        **structure_outputs(loaded, result),
    }
