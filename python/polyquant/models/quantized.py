"""Pre-quantized checkpoints read as dense models with dequantized weights: GPTQ (v1, v2) and AWQ
(GEMM). Beside model loading (load.py), which sends `format: gptq|awq` here; the writer is
quant/export.py.

GPTQ layout, per quantized linear `<name>` (checked against AutoGPTQ
`auto_gptq/nn_modules/qlinear/qlinear_cuda_old.py` `QuantLinear.__init__`/`pack()`, GPTQModel
`gptqmodel/nn_modules/qlinear/__init__.py` and `gptqmodel/utils/model.py`
`convert_gptq_v1_to_v2_format_module`, and transformers `integrations`/optimum's `GPTQQuantizer`):
- `<name>.qweight` int32 (in·bits/32, out): codes packed along the input dim (pack.py);
- `<name>.qzeros`  int32 (n_groups, out·bits/32): zero points packed along the output dim;
- `<name>.scales`  fp16  (n_groups, out);
- `<name>.g_idx`   int32 (in,): the group of each input column (act-order makes it non-monotone);
- `<name>.bias`    fp16 when the linear has a bias.
Dequantization: W[:, c] = scales[g_idx[c]] · (q[:, c] − z[g_idx[c]]).
Zero points: checkpoint_format `gptq` (v1, AutoGPTQ) stores z − 1 and readers add 1 back, whatever
`sym` says (for sym the stored value is 2^(bits−1) − 1); `gptq_v2` (GPTQModel) stores z itself;
a config that names the format as `format` instead of `checkpoint_format` means the same. GPTQModel
writes v1 by subtracting the packed word of ones, so a z of 0 borrows from its neighbour; `v1_zeros`
undoes it as GPTQModel's loader does (a packed add), which for files without underflow is AutoGPTQ's
per-field +1. polyquant's own `export_gptq` still refuses v1 when a zero point is 0 (AutoGPTQ's
reader would get it wrong) and names the module: use `gptq_v2` there.
`quantize_config.json` and config.json's `quantization_config` carry bits, group_size, desc_act,
sym, damp_percent, static_groups, true_sequential, quant_method and checkpoint_format; modules
whose settings differ from the global ones (layer-aware quantization, protected modules) are listed
in GPTQModel's `dynamic` map: `"+:^name$": {bits, group_size, sym}` and `"-:^name$": {}` (skipped).

AWQ GEMM layout (AutoAWQ `awq/modules/linear/gemm.py` `WQLinear_GEMM`, `awq/utils/packing_utils.py`
`dequantize_gemm`; transformers `integrations/awq.py`): 4-bit, `qweight` int32 (in, out/8), `qzeros`
int32 (n_groups, out/8), both with the interleaved order [0, 2, 4, 6, 1, 3, 5, 7]; `scales` fp16
(n_groups, out); no g_idx (column c is in group c // group_size); zero points stored as is.
Config: `quantization_config` {quant_method: awq, bits|w_bit, group_size|q_group_size, zero_point,
version: gemm|gemv}, or `quant_config.json` (older AutoAWQ: no quant_method, `w_bit`, `q_group_size`,
`version: GEMM`). GEMV packing (`dequantize_awq_gemv`) stores per output row, in plain order.
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

from ..errors import ModelError
from ..quant import pack
from ..quant.pack import GPTQ_FORMATS
from . import structure
from . import compressed
from .spec import LoadedModel, fingerprint_dir, load_tokenizer, resolve_device, resolve_dtype

log = logging.getLogger(__name__)

QUANT_SUFFIXES = (".qweight", ".qzeros", ".scales", ".g_idx")


def read_quant_config(path: str) -> dict:
    """The checkpoint's quantization config: config.json's `quantization_config`, else the side file."""
    cfg_path = os.path.join(path, "config.json")
    if not os.path.isfile(cfg_path):
        raise ModelError(f"checkpoint {path!r} has no config.json")
    with open(cfg_path, encoding="utf-8") as f:
        cfg = json.load(f)
    q = cfg.get("quantization_config")
    if not q:
        for side in ("quantize_config.json", "quant_config.json"):
            p = os.path.join(path, side)
            if os.path.isfile(p):
                with open(p, encoding="utf-8") as f:
                    q = json.load(f)
                break
    if not q:
        raise ModelError(f"checkpoint {path!r} has no quantization_config in config.json and no quantize_config.json/quant_config.json")
    return dict(q)


def _weight_files(path: str) -> list[str]:
    """The checkpoint's weight files: those its index names (`model.safetensors.index.json`, as
    transformers reads a sharded save), else every *.safetensors, else every .bin/.pt/.pth."""
    index = os.path.join(path, "model.safetensors.index.json")
    if os.path.isfile(index):
        try:
            with open(index, encoding="utf-8") as f:
                weight_map = json.load(f)["weight_map"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"checkpoint {path!r}: its model.safetensors.index.json cannot be read ({type(exc).__name__}: {exc})") from exc
        files = sorted(set(weight_map.values()))
        missing = [f for f in files if not os.path.isfile(os.path.join(path, f))]
        if missing:
            raise ModelError(f"checkpoint {path!r}: its index names {', '.join(missing)}, which the folder does not hold")
        return files
    files = sorted(n for n in os.listdir(path) if n.endswith(".safetensors"))
    return files or sorted(n for n in os.listdir(path) if n.endswith((".bin", ".pt", ".pth")))


def _read_tensors(path: str) -> dict[str, torch.Tensor]:
    """Every tensor of the checkpoint's weight files; a name held by two files is an error naming
    both (which one should win is not for a reader to guess)."""
    files = _weight_files(path)
    if not files:
        raise ModelError(f"checkpoint {path!r} has no .safetensors or .bin weight files")
    out: dict[str, torch.Tensor] = {}
    where: dict[str, str] = {}
    for n in files:
        full = os.path.join(path, n)
        if n.endswith(".safetensors"):
            from safetensors.torch import load_file

            tensors = load_file(full)
        else:
            tensors = torch.load(full, map_location="cpu", weights_only=True)
        for key, value in tensors.items():
            if key in where:
                raise ModelError(f"checkpoint {path!r}: tensor {key!r} is in both {where[key]} and {n}")
            where[key] = n
            out[key] = value
    return out


def _dynamic_rule(dynamic: dict, name: str) -> Optional[dict]:
    """GPTQModel `dynamic`: the first matching rule; `-:` rules mean the module was not quantized."""
    for key, rule in (dynamic or {}).items():
        neg = key.startswith("-:")
        pattern = key[2:] if key.startswith(("+:", "-:")) else key
        if re.match(pattern, name):
            return {"skip": True} if neg else dict(rule)
    return None


def v1_zeros(qzeros: torch.Tensor, bits: int, out_features: int) -> torch.Tensor:
    """The zero points of a v1 (`checkpoint_format: gptq`) qzeros tensor, as GPTQModel's loader reads
    them (gptqmodel/utils/model.py `convert_gptq_v1_to_v2_format_module`): for 2, 4 and 8 bits it adds
    the packed word of ones (0x11111111 at 4 bits) to each int32 word, carries included, which undoes
    exactly the packed subtraction its v1 writer made, also where z − 1 underflowed (z = 0: about 13 %
    of asymmetric saves, by GPTQModel's own comment); for 3 bits, whose fields straddle words, it adds 1
    to each field modulo 8. For the usual v1 file (no field at 2^bits − 1) both are AutoGPTQ's +1.
    """
    if bits in (2, 4, 8):
        ones = sum(1 << (i * bits) for i in range(32 // bits))
        words = (qzeros.to(torch.int64) + ones) & 0xFFFFFFFF
        words = torch.where(words >= 1 << 31, words - (1 << 32), words).to(torch.int32)
        return pack.unpack_gptq_qzeros(words, bits, out_features)
    return (pack.unpack_gptq_qzeros(qzeros, bits, out_features) + 1) & ((1 << bits) - 1)


def dequantize_gptq(qweight, qzeros, scales, g_idx, bits: int, checkpoint_format: str) -> torch.Tensor:
    """GPTQ tensors → W (out × in) float32: W[:, c] = s[g(c)] · (q[:, c] − z[g(c)]); v1 zeros as `v1_zeros` reads them."""
    in_f = g_idx.numel() if g_idx is not None else qweight.shape[0] * 32 // bits
    out_f = scales.shape[1]
    q = pack.unpack_gptq_qweight(qweight, bits, in_f)  # (out, in)
    z = v1_zeros(qzeros, bits, out_f) if checkpoint_format == "gptq" else pack.unpack_gptq_qzeros(qzeros, bits, out_f)  # (G, out)
    if g_idx is None:
        g = torch.arange(in_f) // (in_f // scales.shape[0])
    else:
        g = g_idx.long()
    s = scales.float()
    return (s[g].t() * (q.float() - z[g].t().float())).contiguous()


def dequantize_awq(qweight, qzeros, scales, bits: int, group_size: int) -> torch.Tensor:
    """AWQ GEMM tensors → W (out × in) float32."""
    q = pack.unpack_awq(qweight, bits)  # (in, out)
    z = pack.unpack_awq(qzeros, bits)  # (G, out)
    g = torch.arange(q.shape[0]) // group_size
    return ((q.float() - z[g].float()) * scales.float()[g]).t().contiguous()


def dequantize_awq_gemv(qweight, qzeros, scales, bits: int, group_size: int) -> torch.Tensor:
    """AWQ GEMV tensors → W (out × in) float32 (AutoAWQ `awq/modules/linear/gemv.py`
    `WQLinear_GEMV.from_linear`): `qweight` (out, in/8) codes packed along the input dim in plain
    order (field i at bit 4i), `qzeros` (out, width) and `scales` (out, 8·width) per output row and
    group, padded past the last group (`calculate_zeros_width`)."""
    in_f = qweight.shape[1] * 32 // bits
    n_groups = in_f // group_size
    q = pack.unpack_dim1(qweight, bits, in_f)  # (out, in)
    z = pack.unpack_dim1(qzeros, bits, qzeros.shape[1] * 32 // bits)[:, :n_groups]  # (out, G)
    s = scales.float()[:, :n_groups]
    g = torch.arange(in_f) // group_size
    return (s[:, g] * (q.float() - z[:, g].float())).contiguous()


def _method_of(qcfg: dict) -> str:
    """The quantization method a config names: its `quant_method`, or, for configs older than that
    key, GPTQ's (`checkpoint_format`, `desc_act`) or AutoAWQ's (`w_bit`, `q_group_size`, `version`) keys."""
    if qcfg.get("quant_method"):
        return str(qcfg["quant_method"]).lower()
    if "checkpoint_format" in qcfg or "desc_act" in qcfg:
        return "gptq"
    if "w_bit" in qcfg or "q_group_size" in qcfg or str(qcfg.get("version", "")).lower() in ("gemm", "gemv"):
        return "awq"
    return ""


def _download(repo_id: str, revision: Optional[str], fmt: Any) -> str:
    """A hub checkpoint's files (config, tokenizer, weights) in the local hub cache."""
    try:
        from huggingface_hub import snapshot_download

        return snapshot_download(repo_id, revision=revision, allow_patterns=["*.json", "*.safetensors", "*.model", "*.txt", "tokenizer*"])
    except Exception as exc:  # noqa: BLE001 - offline, unknown repo, gated: one clear error
        raise ModelError(f"{fmt} checkpoint {repo_id!r} is not a local directory and could not be downloaded: {type(exc).__name__}: {exc}") from exc


def _new_model(path: str, dtype: torch.dtype, trust: bool) -> nn.Module:
    from transformers import AutoConfig, AutoModelForCausalLM

    cfg = AutoConfig.from_pretrained(path, trust_remote_code=trust)
    if hasattr(cfg, "quantization_config"):
        delattr(cfg, "quantization_config")  # build the dense architecture, not a quantized one
    try:
        from transformers.initialization import no_init_weights
    except ImportError:  # older transformers
        from transformers.modeling_utils import no_init_weights
    with no_init_weights():
        model = AutoModelForCausalLM.from_config(cfg, trust_remote_code=trust)
    return model.to(dtype)


@torch.no_grad()
def load_quantized(spec: dict, path: str) -> Any:
    """Load a GPTQ or AWQ checkpoint at `path` (spec.format says which) as a dense LoadedModel."""

    fmt = spec.get("format")
    local = os.path.isdir(path)
    if not local:
        path = _download(str(spec.get("id")), spec.get("revision"), fmt)
    qcfg = read_quant_config(path)
    method = _method_of(qcfg)
    if method != fmt:
        raise ModelError(f"model {spec.get('id')!r} has format {fmt!r} in the workflow, but its checkpoint says quant_method {method or 'unknown'!r}")
    device = resolve_device(str(spec.get("device", "auto")))
    dtype = resolve_dtype(str(spec.get("dtype", "auto")), device)
    trust = bool(spec.get("trust_remote_code", False))
    tensors = _read_tensors(path)
    names = sorted(k[: -len(".qweight")] for k in tensors if k.endswith(".qweight"))
    if not names and fmt != "compressed-tensors":
        raise ModelError(f"{fmt} checkpoint {path!r} holds no `.qweight` tensors")
    model = _new_model(path, dtype, trust)
    transposed = structure.structure_of(model).transposed
    info: dict[str, Any] = {"format": fmt, "modules": len(names)}
    per_module: dict[str, tuple[int, int]] = {}
    if fmt == "compressed-tensors":
        per_module = compressed.dequantize_all(tensors, qcfg, path)
        names = sorted(per_module)
        for name in names:
            if name in transposed:
                tensors[f"{name}.weight"] = tensors[f"{name}.weight"].t().contiguous()
        info.update(modules=len(names), checkpoint_format=str(qcfg.get("format")))
    elif fmt == "gptq":
        # GPTQModel writes `format` where AutoGPTQ wrote `checkpoint_format`; either names it
        ckpt = str(qcfg.get("checkpoint_format") or qcfg.get("format") or "gptq")
        if ckpt not in GPTQ_FORMATS:
            why = {
                "marlin": "its weights are repacked for the Marlin kernel, not in GPTQ's layout",
                "bitblas": "its weights are repacked for the BitBLAS kernel, not in GPTQ's layout",
                "gptq_p": "GPTQModel's gptq_p layout is not read by polyquant yet; save the model with format gptq_v2",
            }.get(ckpt.lower(), "")
            raise ModelError(f"GPTQ checkpoint_format {ckpt!r} of {path!r} is not supported{': ' + why if why else ''} (supported: {', '.join(GPTQ_FORMATS)})")
        info["checkpoint_format"] = ckpt
        for name in names:
            rule = _dynamic_rule(qcfg.get("dynamic"), name) or {}
            if rule.get("skip"):
                raise ModelError(f"module {name} has packed GPTQ tensors, but the checkpoint's `dynamic` rules skip it")
            bits = int(rule.get("bits", qcfg.get("bits", 4)))
            group_size = int(rule.get("group_size", qcfg.get("group_size", -1)))
            qweight, g_idx = tensors.pop(f"{name}.qweight"), tensors.pop(f"{name}.g_idx", None)
            in_f = g_idx.numel() if g_idx is not None else qweight.shape[0] * 32 // bits
            if qweight.shape[0] * 32 != in_f * bits:
                raise ModelError(f"module {name}: qweight has {qweight.shape[0]} rows, which is not {in_f}·{bits}/32 for bits {bits}")
            qzeros, scales = tensors.pop(f"{name}.qzeros"), tensors.pop(f"{name}.scales")
            if ckpt == "gptq" and bool(rule.get("sym", qcfg.get("sym", False))):
                # sym in v1: every stored zero is 2^(bits-1) - 1. All stored zeros at 2^(bits-1) instead means a
                # v2 file labelled v1 (its weights would come out shifted by one step): say so.
                stored = pack.unpack_gptq_qzeros(qzeros, bits, scales.shape[1])
                if bool((stored == 1 << (bits - 1)).all()):
                    log.warning("module %s: symmetric v1 zeros look like v2 (stored %d); check checkpoint_format", name, 1 << (bits - 1))
                    info.setdefault("warnings", []).append(f"{name}: symmetric zeros stored as {1 << (bits - 1)}, as v2 would")
            W = dequantize_gptq(qweight, qzeros, scales, g_idx, bits, ckpt)
            tensors[f"{name}.weight"] = W.t().contiguous() if name in transposed else W
            per_module[name] = (bits, group_size)
    else:
        version = str(qcfg.get("version", "gemm")).lower()
        if version not in ("gemm", "gemv"):
            raise ModelError(f"AWQ version {version!r} of {path!r} is not supported (GEMM and GEMV packing are read)")
        info["checkpoint_format"] = version
        bits = int(qcfg.get("bits", qcfg.get("w_bit", 4)))
        group_size = int(qcfg.get("group_size", qcfg.get("q_group_size", 128)))
        for name in names:
            qweight = tensors.pop(f"{name}.qweight")
            gs = qweight.shape[0] if group_size == -1 else group_size
            if version == "gemv":
                gs = qweight.shape[1] * 32 // bits if group_size == -1 else group_size
                W = dequantize_awq_gemv(qweight, tensors.pop(f"{name}.qzeros"), tensors.pop(f"{name}.scales"), bits, gs)
            else:
                W = dequantize_awq(qweight, tensors.pop(f"{name}.qzeros"), tensors.pop(f"{name}.scales"), bits, gs)
            tensors[f"{name}.weight"] = W.t().contiguous() if name in transposed else W
            per_module[name] = (bits, group_size)
    missing, unexpected = model.load_state_dict({k: v.to(dtype) if v.is_floating_point() else v for k, v in tensors.items()}, strict=False)
    if hasattr(model, "tie_weights"):
        model.tie_weights()
    tied = {k for k in missing if k.endswith("lm_head.weight") and getattr(model.config, "tie_word_embeddings", False)}
    missing = [k for k in missing if k not in tied]
    if missing or unexpected:
        raise ModelError(f"checkpoint {path!r} does not match its architecture: missing {missing[:5]}, unexpected {list(unexpected)[:5]}")
    model.to(device)
    model.eval()
    bits_used = Counter(b for b, _ in per_module.values())
    groups_used = Counter(g for _, g in per_module.values())
    info.update({"bits": bits_used.most_common(1)[0][0], "group_size": groups_used.most_common(1)[0][0],
                 "per_module": {n: {"bits": b, "group_size": g} for n, (b, g) in per_module.items()},
                 # block linears the checkpoint left in full precision (protected, or skipped by `dynamic`)
                 "dense": sorted(set(structure.all_linears(model)) - set(per_module))})
    tokenizer, from_eos = load_tokenizer(path, spec.get("revision"), trust)
    loaded = LoadedModel(
        model=model,
        tokenizer=tokenizer,
        spec=spec,
        fingerprint=spec.get("fingerprint") or (fingerprint_dir(path, spec["id"]) if local else f"{spec.get('id')}@{spec.get('revision') or 'main'}"),
        device=device,
        dtype=dtype,
        n_params=sum(p.numel() for p in model.parameters()),
        path=path,
        pad_token_from_eos=from_eos,
        notes=[f"dequantized {len(names)} {fmt} modules ({info.get('checkpoint_format', 'gemm')}) to {str(dtype).removeprefix('torch.')}"],
    )
    loaded.quantization = info  # type: ignore[attr-defined]
    log.info("loaded %s checkpoint %s: %d modules dequantized", fmt, path, len(names))
    return loaded
