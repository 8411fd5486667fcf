"""compressed-tensors checkpoints (what llm-compressor saves: W4A16, W8A16, with group or channel
scales) read as dense weights. The library is not installed here; the layout follows its source
(neuralmagic/compressed-tensors `compressors/quantized_compressors/pack_quantized.py`
`pack_to_int32` / `unpack_from_int32` / `decompress_weight`, `naive_quantized.py`, and
`quantization/lifecycle/forward.py` `dequantize`):

- `pack-quantized`: `<name>.weight_packed` int32 (out, ceil(in·bits/32)): signed codes offset by
  2^(bits−1) to unsigned, field i of a word at bit bits·i, packed along the input dim;
  `<name>.weight_scale` (out, n_groups) (channel: (out, 1)); `<name>.weight_zero_point` for
  asymmetric group/channel weights, int32 (ceil(out·bits/32), n_groups), packed the same way along
  the output dim; `<name>.weight_g_idx` (in,) with activation ordering; `<name>.weight_shape` (2,).
- `int-quantized` / `naive-quantized`: `<name>.weight` int8 codes, same scale and zero point unpacked.

W[:, c] = (q[:, c] − zp[:, g(c)]) · scale[:, g(c)], g(c) = g_idx[c], else c // (in / n_groups).
Quantization settings come from `quantization_config.config_groups` (`weights.num_bits`, `type`,
`symmetric`), matched to modules by their `targets` (`Linear`, `re:<regex>` or a name) minus
`ignore`. Float formats and quantized activations are refused: dequantized weights alone would not
be the model those checkpoints describe.
"""

from __future__ import annotations

import re
from typing import Any

import torch

from ..errors import ModelError

FORMATS = ("pack-quantized", "int-quantized", "naive-quantized")
PARTS = ("weight_packed", "weight_scale", "weight_zero_point", "weight_g_idx", "weight_shape")


def unpack_int32(words: torch.Tensor, bits: int, size: int, dim: int) -> torch.Tensor:
    """Signed codes from int32 words packed along `dim` (0 or 1), `size` values long there."""
    per = 32 // bits
    mask = (1 << bits) - 1
    w = words.to(torch.int64) & 0xFFFFFFFF
    if dim == 0:
        w = w.t()
    fields = torch.stack([(w >> (bits * i)) & mask for i in range(per)], dim=-1).reshape(w.shape[0], -1)[:, :size]
    signed = fields - (1 << (bits - 1))
    return signed.t() if dim == 0 else signed


def _weights_args(qcfg: dict, name: str) -> dict:
    """The `weights` quantization args of the config group whose targets match module `name`."""
    for group in (qcfg.get("config_groups") or {}).values():
        for target in group.get("targets") or []:
            t = str(target)
            if t == "Linear" or (t.startswith("re:") and re.match(t[3:], name)) or t == name:
                return dict(group.get("weights") or {})
    raise ModelError(f"compressed-tensors: module {name} holds quantized weights but no config group targets it")


def _check_config(qcfg: dict, path: str) -> str:
    fmt = str(qcfg.get("format") or "")
    if fmt not in FORMATS:
        why = "a float format (fp8, nvfp4): polyquant dequantizes integer weights only" if "float" in fmt or "fp4" in fmt else "not a weight-only integer format"
        raise ModelError(f"compressed-tensors checkpoint {path!r} has format {fmt!r}: {why} (read: {', '.join(FORMATS)})")
    for key, group in (qcfg.get("config_groups") or {}).items():
        weights = group.get("weights") or {}
        if weights and str(weights.get("type", "int")) != "int":
            raise ModelError(f"compressed-tensors config group {key} of {path!r} quantizes weights as {weights.get('type')!r}; only int is read")
        if group.get("input_activations") or group.get("output_activations"):
            raise ModelError(
                f"compressed-tensors config group {key} of {path!r} also quantizes activations: its dense weights alone "
                "would not be the model it describes (weight-only schemes such as W4A16 and W8A16 are read)"
            )
    return fmt


def dequantize_all(tensors: dict[str, torch.Tensor], qcfg: dict, path: str) -> dict[str, tuple[int, int]]:
    """Replace each quantized module's parts in `tensors` by `<name>.weight` (out × in, float32);
    returns module → (bits, group size, −1 per channel)."""
    fmt = _check_config(qcfg, path)
    if fmt == "pack-quantized":
        names = sorted(k[: -len(".weight_packed")] for k in tensors if k.endswith(".weight_packed"))
    else:
        names = sorted(k[: -len(".weight_scale")] for k in tensors if k.endswith(".weight_scale") and tensors.get(k[: -len("_scale")], torch.empty(0)).dtype == torch.int8)
    if not names:
        raise ModelError(f"compressed-tensors checkpoint {path!r} ({fmt}) holds no quantized weights")
    out: dict[str, tuple[int, int]] = {}
    for name in names:
        args = _weights_args(qcfg, name)
        bits = int(args.get("num_bits", 8))
        scale = tensors.pop(f"{name}.weight_scale").float()
        if fmt == "pack-quantized":
            shape = [int(x) for x in tensors.pop(f"{name}.weight_shape").tolist()]
            q = unpack_int32(tensors.pop(f"{name}.weight_packed"), bits, shape[1], dim=1)
        else:
            q = tensors.pop(f"{name}.weight").to(torch.int64)
            shape = list(q.shape)
        zp = tensors.pop(f"{name}.weight_zero_point", None)
        if zp is not None and fmt == "pack-quantized" and zp.dtype == torch.int32 and not bool(args.get("symmetric", True)):
            zp = unpack_int32(zp, bits, shape[0], dim=0)
        g_idx = tensors.pop(f"{name}.weight_g_idx", None)
        if scale.dim() < 2:  # per tensor: one scale for every row
            scale = scale.reshape(-1)[:1].reshape(1, 1).expand(shape[0], 1)
        n_groups = scale.shape[1]
        if g_idx is not None and (g_idx < 0).all():  # compressed-tensors writes -1 when there is no activation ordering
            g_idx = None
        g = g_idx.long() if g_idx is not None else torch.arange(shape[1]) // (shape[1] // n_groups)
        z = zp.to(torch.float32).reshape(shape[0], -1) if zp is not None else torch.zeros(shape[0], n_groups)
        tensors[f"{name}.weight"] = ((q.to(torch.float32) - z[:, g]) * scale[:, g]).contiguous()
        # the config says the group size (a group as wide as the row is still "group" there)
        stated = args.get("group_size") if args.get("strategy") == "group" else -1 if args.get("strategy") in ("channel", "tensor") else None
        out[name] = (bits, int(stated) if stated is not None else -1 if n_groups == 1 else shape[1] // n_groups)
    return out


def is_compressed_tensors(qcfg: Any) -> bool:
    return isinstance(qcfg, dict) and str(qcfg.get("quant_method", "")).lower() == "compressed-tensors"
