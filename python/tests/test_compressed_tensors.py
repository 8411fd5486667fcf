"""compressed-tensors checkpoints (llm-compressor's format) read as dense weights. The tensors are
packed here by the rules of compressed-tensors' own `pack_to_int32` (signed codes + 2^(bits−1), field
i at bit bits·i, along dim 1 for weights and dim 0 for zero points), written independently of
polyquant's reader, and the loaded weights must equal (q − zp) · scale exactly."""

from __future__ import annotations

import json
import os

import pytest
import torch

import calib_tiny as ct
from polyquant.errors import ModelError
from polyquant.models.load import load_model
from quant_tiny import tiny_llama


def _pack(codes: torch.Tensor, bits: int, dim: int) -> torch.Tensor:
    """compressed-tensors `pack_to_int32`, written from its published description."""
    per = 32 // bits
    v = (codes.to(torch.int64) + (1 << (bits - 1)))
    if dim == 0:
        v = v.t()
    rows, cols = v.shape
    padded = (cols + per - 1) // per * per
    v = torch.nn.functional.pad(v, (0, padded - cols))
    words = torch.zeros(rows, padded // per, dtype=torch.int64)
    for i in range(per):
        words |= v[:, i::per] << (bits * i)
    words = torch.where(words >= 1 << 31, words - (1 << 32), words).to(torch.int32)
    return words.t().contiguous() if dim == 0 else words


def _quantize(W: torch.Tensor, bits: int, group: int, sym: bool):
    """Signed codes, scales and zero points of W (out × in) per group: the expected weights follow."""
    out_f, in_f = W.shape
    g = W.reshape(out_f, in_f // group, group)
    qmin, qmax = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    if sym:
        scale = g.abs().amax(-1) / qmax
        zp = torch.zeros_like(scale, dtype=torch.int64)
    else:
        lo, hi = g.amin(-1), g.amax(-1)
        scale = (hi - lo) / (qmax - qmin)
        zp = torch.round(qmin - lo / scale).clamp(qmin, qmax).to(torch.int64)
    scale = scale.clamp(min=1e-8).half()
    q = torch.round(g / scale.float()[..., None] + zp[..., None]).clamp(qmin, qmax).to(torch.int64).reshape(out_f, in_f)
    return q, scale, zp


def _checkpoint(tmp_path, bits: int, group: int, sym: bool, fmt: str = "pack-quantized", activations: bool = False):
    model = tiny_llama(layers=2)
    loaded = ct.loaded(model, ct.hf_byte_tokenizer())
    out = str(tmp_path / f"ct-{bits}-{group}-{sym}")
    model.save_pretrained(out, safe_serialization=True)
    loaded.tokenizer.save_pretrained(out)
    from safetensors.torch import load_file, save_file

    tensors = load_file(os.path.join(out, "model.safetensors"))
    expected = {}
    for name, mod in model.named_modules():
        if not isinstance(mod, torch.nn.Linear) or name == "lm_head":
            continue
        W = mod.weight.detach().float()
        gs = W.shape[1] if group == -1 else group
        q, scale, zp = _quantize(W, bits, gs, sym)
        tensors.pop(f"{name}.weight")
        if fmt == "pack-quantized":
            tensors[f"{name}.weight_packed"] = _pack(q, bits, dim=1)
            tensors[f"{name}.weight_shape"] = torch.tensor(list(W.shape), dtype=torch.int32)
            if not sym:
                tensors[f"{name}.weight_zero_point"] = _pack(zp, bits, dim=0)
        else:
            tensors[f"{name}.weight"] = q.to(torch.int8)
            if not sym:
                tensors[f"{name}.weight_zero_point"] = zp.to(torch.int8)
        tensors[f"{name}.weight_scale"] = scale
        g_of = torch.arange(W.shape[1]) // gs
        expected[name] = (q.float() - zp.float()[:, g_of]) * scale.float()[:, g_of]
    save_file(tensors, os.path.join(out, "model.safetensors"))
    config = json.load(open(os.path.join(out, "config.json")))
    weights = {"num_bits": bits, "type": "int", "symmetric": sym, "strategy": "channel" if group == -1 else "group", "group_size": None if group == -1 else group}
    config["quantization_config"] = {
        "quant_method": "compressed-tensors",
        "format": fmt,
        "config_groups": {"group_0": {"targets": ["Linear"], "weights": weights, "input_activations": {"num_bits": 8, "type": "int"} if activations else None}},
        "ignore": ["lm_head"],
    }
    json.dump(config, open(os.path.join(out, "config.json"), "w"))
    return out, expected


@pytest.mark.parametrize("bits, group, sym", [(4, 32, True), (4, 32, False), (8, 64, True), (8, -1, False), (4, -1, True)])
def test_pack_quantized_reads_exactly(tmp_path, bits, group, sym):
    out, expected = _checkpoint(tmp_path, bits, group, sym)
    for fmt in ("compressed-tensors", "hf"):  # found under format: hf too
        back = load_model({"id": out, "format": fmt, "device": "cpu", "dtype": "float32"})
        params = dict(back.model.named_parameters())
        for name, W in expected.items():
            assert torch.equal(params[f"{name}.weight"].detach(), W), name
        assert back.quantization["format"] == "compressed-tensors" and back.quantization["checkpoint_format"] == "pack-quantized"
        assert back.quantization["bits"] == bits and back.quantization["group_size"] == group and back.quantization["modules"] == len(expected)


def test_int_quantized_reads_exactly(tmp_path):
    out, expected = _checkpoint(tmp_path, 8, 32, False, fmt="int-quantized")
    back = load_model({"id": out, "format": "compressed-tensors", "device": "cpu", "dtype": "float32"})
    params = dict(back.model.named_parameters())
    for name, W in expected.items():
        assert torch.equal(params[f"{name}.weight"].detach(), W), name


def test_quantized_activations_and_float_formats_are_refused_with_the_reason(tmp_path):
    out, _ = _checkpoint(tmp_path, 4, 32, True, activations=True)
    with pytest.raises(ModelError, match="also quantizes activations: its dense weights alone would not be the model it describes"):
        load_model({"id": out, "format": "compressed-tensors", "device": "cpu"})
    config = json.load(open(os.path.join(out, "config.json")))
    config["quantization_config"]["format"] = "float-quantized"
    json.dump(config, open(os.path.join(out, "config.json"), "w"))
    with pytest.raises(ModelError, match="has format 'float-quantized': a float format"):
        load_model({"id": out, "format": "compressed-tensors", "device": "cpu"})


def test_activation_order_g_idx_maps_each_column_to_its_group(tmp_path):
    """With activation ordering a group is any set of columns: `weight_g_idx[c]` names column c's group."""
    from safetensors.torch import load_file, save_file

    out, _ = _checkpoint(tmp_path, 4, 32, False)
    tensors = load_file(os.path.join(out, "model.safetensors"))
    gen = torch.Generator().manual_seed(0)
    expected = {}
    model = tiny_llama(layers=2)
    for name, mod in model.named_modules():
        if not isinstance(mod, torch.nn.Linear) or name == "lm_head":
            continue
        W = mod.weight.detach().float()
        out_f, in_f = W.shape
        perm = torch.randperm(in_f, generator=gen)
        g_idx = torch.empty(in_f, dtype=torch.int64)
        g_idx[perm] = torch.arange(in_f) // 32  # the columns in perm order form the groups
        q_perm, scale, zp = _quantize(W[:, perm], 4, 32, False)
        q = torch.empty_like(q_perm)
        q[:, perm] = q_perm
        tensors[f"{name}.weight_packed"] = _pack(q, 4, dim=1)
        tensors[f"{name}.weight_zero_point"] = _pack(zp, 4, dim=0)
        tensors[f"{name}.weight_scale"] = scale
        tensors[f"{name}.weight_g_idx"] = g_idx.to(torch.int32)
        expected[name] = (q.float() - zp.float()[:, g_idx]) * scale.float()[:, g_idx]
    save_file(tensors, os.path.join(out, "model.safetensors"))
    back = load_model({"id": out, "format": "compressed-tensors", "device": "cpu", "dtype": "float32"})
    params = dict(back.model.named_parameters())
    for name, W in expected.items():
        assert torch.equal(params[f"{name}.weight"].detach(), W), name


@pytest.mark.parametrize("method", ["rtn", "gptq", "awq"])
def test_export_compressed_tensors_loads_back_as_the_evaluated_weights(tmp_path, method):
    """`export: compressed-tensors` for every method: the checkpoint's weights are the step's grid,
    s(fp16) · (q − z), for each quantized linear; the config names one group per setting, the
    dense linears are ignored."""
    from polyquant.quant.export import export_compressed_tensors
    from polyquant.quant.methods import quantize_model
    from polyquant.quant.plan import resolve_targets

    model = tiny_llama(layers=2)
    loaded = ct.loaded(model, ct.hf_byte_tokenizer())
    quant = {"method": method, "bits": 4, "group_size": 32, "sym": method == "gptq"}
    if method == "gptq":
        quant["gptq"] = {"act_order": True}
    if method == "awq":
        quant["awq"] = {"grid": 3, "clip": True, "clip_grid": 10}
    if method != "rtn":
        quant["calibration"] = {"corpus": ct.corpus(), "samples": 8, "seq_len": 32}
    targets = resolve_targets(model, quant, protect={"layers": [1]}, overrides=[{"modules": r"down_proj$", "bits": 8}])
    res = quantize_model(loaded, quant, targets)
    out = str(tmp_path / method)
    qcfg = export_compressed_tensors(loaded, res, out, targets)
    assert qcfg["format"] == "pack-quantized" and len(qcfg["config_groups"]) == 2  # 4-bit and the 8-bit down_proj
    assert sorted(qcfg["ignore"]) == sorted([n for n in dict(model.named_modules()) if n.startswith("model.layers.1.") and isinstance(dict(model.named_modules())[n], torch.nn.Linear)] + ["lm_head"])
    back = load_model({"id": out, "format": "compressed-tensors", "device": "cpu", "dtype": "float32"})
    params = dict(back.model.named_parameters())
    for t in targets:
        held = res.weights[t.param_name]
        torch.testing.assert_close(params[t.param_name].detach(), held.float(), rtol=2e-3, atol=2e-4)  # the scales are fp16 in the file
    assert back.quantization["per_module"]["model.layers.0.mlp.down_proj"] == {"bits": 8, "group_size": 32}
    assert len(back.quantization["dense"]) == 7
