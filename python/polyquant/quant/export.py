"""Export a QuantResult as a checkpoint in the layout the peers publish, so that AutoGPTQ /
GPTQModel / transformers (GPTQ v1, v2), AutoAWQ (GEMM) or compressed-tensors (pack-quantized, any
of rtn, gptq, awq) read it and `model: {id: <path>, format: gptq|awq|compressed-tensors}` loads it
back. The layouts, and the sources they were
checked against, are described in models/quantized.py, the reader.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections import Counter
from typing import Any, Optional

import torch
from torch import nn

from ..errors import ParameterError
from ..models import structure
from . import pack
from .pack import GPTQ_FORMATS

log = logging.getLogger(__name__)


def _gptq_tensors(name: str, codes: Any, checkpoint_format: str) -> dict[str, torch.Tensor]:
    """The four tensors of one quantized linear in the GPTQ layout."""
    bits = codes.bits
    z = codes.zeros.to(torch.int64)  # (out, n_groups)
    if checkpoint_format == "gptq":
        if bool((z == 0).any()):
            raise ParameterError(
                f"module {name}: a zero point of 0 cannot be stored in GPTQ v1 (checkpoint_format 'gptq' stores z - 1); "
                "export with checkpoint_format 'gptq_v2'"
            )
        z = z - 1
    try:
        qweight = pack.pack_gptq_qweight(codes.codes.to(torch.int64), bits)
        qzeros = pack.pack_gptq_qzeros(z.t().contiguous(), bits)
    except ParameterError as exc:
        out_f, in_f = codes.codes.shape
        raise ParameterError(f"module {name} (out {out_f}, in {in_f}) cannot be packed in the GPTQ layout at {bits} bits: {exc}") from exc
    return {
        f"{name}.qweight": qweight,
        f"{name}.qzeros": qzeros,
        f"{name}.scales": codes.scales.t().contiguous().to(torch.float16),
        f"{name}.g_idx": codes.g_idx.to(torch.int32).contiguous(),
    }


def _gptq_config(modules: dict[str, Any], skipped: list[str], gptq_meta: dict, checkpoint_format: str) -> dict:
    settings = Counter((c.bits, c.group_size_config, c.sym) for c in modules.values())
    bits, group_size, sym = settings.most_common(1)[0][0]
    dynamic: dict[str, dict] = {}
    for name, c in modules.items():
        if (c.bits, c.group_size_config, c.sym) != (bits, group_size, sym):
            dynamic[f"+:^{re.escape(name)}$"] = {"bits": c.bits, "group_size": c.group_size_config, "sym": c.sym}
    for name in skipped:
        dynamic[f"-:^{re.escape(name)}$"] = {}
    cfg = {
        "bits": bits,
        "group_size": group_size,
        "desc_act": bool(gptq_meta.get("act_order", False)),
        "static_groups": bool(gptq_meta.get("static_groups", False)),
        "sym": sym,
        "damp_percent": gptq_meta.get("damp_percent", 0.01),
        "true_sequential": False,  # one Hessian pass per block (see gptq.py)
        "quant_method": "gptq",
        "checkpoint_format": checkpoint_format,
        "model_file_base_name": "model",
        "quantizer": ["polyquant"],
    }
    if dynamic:
        cfg["dynamic"] = dynamic
    return cfg


class _Coded:
    """A module's codes plus the group size as configs write it (−1 for per channel)."""

    def __init__(self, codes: Any, group_size_config: int):
        self.__dict__.update(codes.__dict__)
        self.group_size_config = group_size_config


@torch.no_grad()
def export_gptq(loaded: Any, result: Any, out_dir: str, checkpoint_format: str = "gptq") -> dict:
    """Write `result` (a GPTQ QuantResult of `loaded.model`) as a GPTQ checkpoint in `out_dir`.

    Writes model.safetensors (quantized linears in the packed layout, every other parameter as in
    the model or as `result.weights` changed it), config.json with `quantization_config`,
    quantize_config.json and the tokenizer. Returns the quantization config written.
    """
    if checkpoint_format not in GPTQ_FORMATS:
        raise ParameterError(f"checkpoint_format {checkpoint_format!r} is not one of {', '.join(GPTQ_FORMATS)}")
    coded = getattr(getattr(result, "gptq", None), "codes", None)
    if not coded:
        raise ParameterError(f"export_gptq needs a GPTQ result with integer codes (method gptq), got method {result.meta.get('method')!r}")
    from safetensors.torch import save_file

    model = loaded.model
    modules_meta = result.meta.get("modules", {})
    all_block_linears = set(structure.all_linears(model))
    state = {k: v.detach() for k, v in model.state_dict().items()}
    for name, value in result.weights.items():
        state[name] = value
    coded_cfg: dict[str, _Coded] = {}
    tensors: dict[str, torch.Tensor] = {}
    for name, codes in coded.items():
        gs = modules_meta.get(name, {}).get("group_size", codes.group_size)
        coded_cfg[name] = _Coded(codes, gs)
        tensors.update(_gptq_tensors(name, codes, checkpoint_format))
        state.pop(f"{name}.weight", None)
        if f"{name}.bias" in state:
            state[f"{name}.bias"] = state[f"{name}.bias"].to(torch.float16)
    for k, v in state.items():
        tensors.setdefault(k, v)
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}  # no shared storage (tied weights)
    skipped = sorted(all_block_linears - set(coded))
    qcfg = _gptq_config(coded_cfg, skipped, result.meta.get("gptq", {}), checkpoint_format)
    lm_head = structure.structure_of(model).lm_head
    if lm_head in coded:
        qcfg["lm_head"] = True  # GPTQModel's flag for a quantized lm_head
    os.makedirs(out_dir, exist_ok=True)
    save_file(tensors, os.path.join(out_dir, "model.safetensors"), metadata={"format": "pt"})
    _write_config(model, out_dir, qcfg, "quantize_config.json")
    _save_tokenizer(loaded, out_dir)
    log.info("exported %d GPTQ modules (%s) to %s", len(coded), checkpoint_format, out_dir)
    return qcfg


@torch.no_grad()
def export_awq(loaded: Any, result: Any, out_dir: str) -> dict:
    """Write an AWQ QuantResult as an AutoAWQ GEMM checkpoint (4-bit, one group size, asymmetric).

    Each target's codes, scales and zeros are the grid the AWQ run put its scaled (and clipped)
    weight on (`result.awq.grids`), not a grid derived again from the quantized values: with
    clipping, the min and max of those values need not give the same grid back.
    """
    from safetensors.torch import save_file

    if result.meta.get("method") != "awq":
        raise ParameterError(f"export_awq needs an AWQ result, got method {result.meta.get('method')!r}")
    grids = result.awq.grids if result.awq is not None else {}
    model = loaded.model
    mods = result.meta.get("modules", {})
    settings = {(m["bits"], m["group_size"], m["sym"]) for m in mods.values()}
    if len(settings) != 1 or next(iter(settings))[0] not in pack.AWQ_BITS or next(iter(settings))[2]:
        raise ParameterError(f"AWQ GEMM checkpoints hold one asymmetric 4-bit setting for all modules; this result has {sorted(settings)}")
    bits, group_size, _ = next(iter(settings))
    state = {k: v.detach() for k, v in model.state_dict().items()}
    state.update(result.weights)
    tensors: dict[str, torch.Tensor] = {}
    for name in mods:
        state.pop(f"{name}.weight")
        qw = grids.get(name)
        if qw is None:
            raise ParameterError(f"export_awq: module {name} has no grid in the AWQ result (a result computed in coded form cannot be exported)")
        tensors[f"{name}.qweight"] = pack.pack_awq(qw.codes.t().to(torch.int64), bits)  # (in, out/8)
        tensors[f"{name}.qzeros"] = pack.pack_awq(qw.zeros.t().to(torch.int64), bits)  # (G, out/8)
        tensors[f"{name}.scales"] = qw.scales.t().contiguous().to(torch.float16)
        if f"{name}.bias" in state:
            state[f"{name}.bias"] = state[f"{name}.bias"].to(torch.float16)
    for k, v in state.items():
        tensors.setdefault(k, v)
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
    skipped = sorted(set(structure.all_linears(model)) - set(mods))
    qcfg = {"quant_method": "awq", "bits": bits, "group_size": group_size, "zero_point": True, "version": "gemm",
            "modules_to_not_convert": skipped or None}
    os.makedirs(out_dir, exist_ok=True)
    save_file(tensors, os.path.join(out_dir, "model.safetensors"), metadata={"format": "pt"})
    _write_config(model, out_dir, qcfg, None)
    _save_tokenizer(loaded, out_dir)
    return qcfg


def _write_config(model: nn.Module, out_dir: str, qcfg: dict, side_file: Optional[str]) -> None:
    cfg = model.config.to_dict()
    cfg["quantization_config"] = qcfg
    cfg.pop("dtype", None)
    cfg["torch_dtype"] = "float16"  # what GPTQ/AWQ kernels run in
    with open(os.path.join(out_dir, "config.json"), "w", encoding="utf-8") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
    if side_file:
        with open(os.path.join(out_dir, side_file), "w", encoding="utf-8") as f:
            json.dump(qcfg, f, indent=2, sort_keys=True)


def _save_tokenizer(loaded: Any, out_dir: str) -> None:
    tok = getattr(loaded, "tokenizer", None)
    if tok is not None and hasattr(tok, "save_pretrained"):
        tok.save_pretrained(out_dir)


# --- load -----------------------------------------------------------------------------------------




def _pack_ct(values: torch.Tensor, bits: int, dim: int) -> torch.Tensor:
    """compressed-tensors `pack_to_int32`: signed values + 2^(bits−1), field i of a word at bit
    bits·i, packed along `dim` (padded to whole words); the reader is models/compressed.py."""
    per = 32 // bits
    v = values.to(torch.int64) + (1 << (bits - 1))
    if dim == 0:
        v = v.t()
    rows, cols = v.shape
    v = torch.nn.functional.pad(v, (0, -cols % per))
    words = torch.zeros(rows, v.shape[1] // per, dtype=torch.int64)
    for i in range(per):
        words |= v[:, i::per] << (bits * i)
    words = torch.where(words >= 1 << 31, words - (1 << 32), words).to(torch.int32)
    return words.t().contiguous() if dim == 0 else words


def _grids_of(result: Any, targets: Optional[list[Any]]) -> dict[str, Any]:
    """Each target's grid: GPTQ's codes, AWQ's kept grids, or (RTN, deterministic) the grid of the
    target's weight, checked against the weight the result holds."""
    from .grid import quantize_weight

    method = result.meta.get("method")
    if method == "gptq" and result.gptq is not None:
        return dict(result.gptq.codes)
    if method == "awq" and result.awq is not None and result.awq.grids:
        return dict(result.awq.grids)
    if method == "rtn" and targets is not None:
        grids = {}
        for t in targets:
            qw = quantize_weight(t.weight().detach().float(), t.bits, t.group_size, t.sym, t.name)
            held = result.weights.get(t.param_name)
            if held is None or not torch.equal(t.to_param_layout(qw.dequantize(held.dtype)).to(held.device), held):
                raise ParameterError(f"export: the RTN grid of {t.name} does not give back the weight the step evaluated")
            grids[t.name] = qw
        return grids
    raise ParameterError(f"export compressed-tensors needs an rtn (with its targets), gptq or awq result with its grids, got method {method!r}")


@torch.no_grad()
def export_compressed_tensors(loaded: Any, result: Any, out_dir: str, targets: Optional[list[Any]] = None) -> dict:
    """Write `result` as a compressed-tensors `pack-quantized` checkpoint (what llm-compressor saves,
    and vLLM and transformers read with the compressed-tensors package): per quantized linear
    `weight_packed`, `weight_scale` (fp16), `weight_zero_point` when asymmetric, `weight_g_idx` with
    GPTQ's activation order, `weight_shape`; one config group per (bits, group size, sym) setting,
    the dense linears under `ignore`. `model: {id: <path>, format: compressed-tensors}` loads it back."""
    from safetensors.torch import save_file

    model = loaded.model
    grids = _grids_of(result, targets)
    state = {k: v.detach() for k, v in model.state_dict().items()}
    state.update(result.weights)
    tensors: dict[str, torch.Tensor] = {}
    settings: dict[tuple, list[str]] = {}
    for name, g in grids.items():
        bits, offset = g.bits, 1 << (g.bits - 1)
        zeros = g.zeros.to(torch.int64)
        sym = bool(g.sym) and bool((zeros == offset).all())  # compressed-tensors' symmetric means a zero point of 0
        out_f, in_f = g.codes.shape
        n_groups = g.scales.shape[1]
        g_idx = getattr(g, "g_idx", None)
        ordered = g_idx is not None and not torch.equal(g_idx.long(), torch.arange(in_f) // (in_f // n_groups))
        tensors[f"{name}.weight_packed"] = _pack_ct(g.codes.to(torch.int64) - offset, bits, dim=1)
        tensors[f"{name}.weight_scale"] = g.scales.to(torch.float16).contiguous()
        tensors[f"{name}.weight_shape"] = torch.tensor([out_f, in_f], dtype=torch.int32)
        if not sym:
            tensors[f"{name}.weight_zero_point"] = _pack_ct(zeros - offset, bits, dim=0)
        if ordered:
            tensors[f"{name}.weight_g_idx"] = g_idx.to(torch.int32).contiguous()
        state.pop(f"{name}.weight", None)
        group_size = -1 if n_groups == 1 else in_f // n_groups
        settings.setdefault((bits, group_size, sym, ordered), []).append(name)
    for k, v in state.items():
        tensors.setdefault(k, v)
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
    groups = {}
    for i, ((bits, group_size, sym, ordered), names) in enumerate(sorted(settings.items())):
        groups[f"group_{i}"] = {
            "targets": [f"re:^{re.escape(n)}$" for n in sorted(names)],
            "weights": {
                "num_bits": bits, "type": "int", "symmetric": sym,
                "strategy": "channel" if group_size == -1 else "group", "group_size": None if group_size == -1 else group_size,
                "actorder": "group" if ordered else None, "dynamic": False, "observer": "minmax",
            },
            "input_activations": None,
            "output_activations": None,
        }
    dense = sorted(set(structure.all_linears(model)) - set(grids))
    lm_head = structure.structure_of(model).lm_head
    ignore = dense + ([lm_head] if lm_head is not None and lm_head not in grids else [])
    qcfg = {"quant_method": "compressed-tensors", "format": "pack-quantized", "quantization_status": "compressed",
            "config_groups": groups, "ignore": ignore}
    os.makedirs(out_dir, exist_ok=True)
    save_file(tensors, os.path.join(out_dir, "model.safetensors"), metadata={"format": "pt"})
    _write_config(model, out_dir, qcfg, None)
    _save_tokenizer(loaded, out_dir)
    log.info("exported %d modules as compressed-tensors pack-quantized to %s", len(grids), out_dir)
    return qcfg
