"""GGUF files (llama.cpp's format) read as dense models: `format: gguf` (models/llamacpp.py).

The files are written by tests/gguf_writer.py the way llama.cpp's converter writes them (gguf-py's
names and packing, the converter's q/k permutation and Conv1D transpose), so the reader is checked
against the peers' rules, not against itself:
- an F32 file is lossless, so the loaded model's logits must equal the original's exactly, for
  every architecture the reader supports (a wrong permutation or transpose would show at once);
- a quantized file's weights must equal gguf-py's own `dequantize` of its bytes, bit for bit;
- Llama 3's `rope_freqs` must give the rotary embedding transformers' llama3 rope computes.
"""

from __future__ import annotations

import math
import os
import shutil

import gguf
import numpy as np
import pytest
import torch

import archs
from gguf_writer import converter_permute, write_gguf
from polyquant.errors import ModelError
from polyquant.models.load import load_model

TEXT = "All human beings are born free. כל בני האדם נולדו בני חורין. 人人生而自由。"


def _hf(name: str, tokenizer, path: str, **overrides):
    from transformers import AutoModelForCausalLM

    archs.build(name, tokenizer, path)
    model = AutoModelForCausalLM.from_pretrained(path).eval()
    return model


def _gguf_dir(tmp_path, src: str, model, qtype: str, tokenizer_json: bool = True, name: str = "model.gguf", **kw) -> str:
    out = tmp_path / f"gguf-{qtype}"
    out.mkdir(exist_ok=True)
    if tokenizer_json:
        for f in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
            if os.path.exists(os.path.join(src, f)):
                shutil.copy(os.path.join(src, f), out / f)
    write_gguf(model, src, str(out / name), qtype, **kw)
    return str(out)


def _logits(model, tokenizer, text: str = TEXT) -> torch.Tensor:
    ids = tokenizer(text, return_tensors="pt").input_ids
    with torch.no_grad():
        return model(ids).logits


@pytest.mark.parametrize("arch", ["llama", "llama-gqa", "qwen2", "qwen3", "gpt2"])
def test_f32_file_is_the_model(tmp_path, tiny_tokenizer, arch):
    src = str(tmp_path / "hf")
    model = _hf(arch, tiny_tokenizer, src)
    folder = _gguf_dir(tmp_path, src, model, "F32")
    loaded = load_model({"id": folder, "format": "gguf", "device": "cpu"})
    assert loaded.model.config.model_type == model.config.model_type
    assert torch.equal(_logits(loaded.model, loaded.tokenizer), _logits(model, loaded.tokenizer))
    assert loaded.quantization["modules"] == 0 and loaded.quantization["checkpoint_format"] == "F32"


@pytest.mark.parametrize("qtype", ["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "F16"])
def test_quantized_weights_are_gguf_py_dequantized(tmp_path, tiny_tokenizer, qtype):
    src = str(tmp_path / "hf")
    model = _hf("llama-gqa", tiny_tokenizer, src)
    folder = _gguf_dir(tmp_path, src, model, qtype)
    loaded = load_model({"id": folder, "format": "gguf", "device": "cpu"})
    reader = gguf.GGUFReader(os.path.join(folder, "model.gguf"))
    by_name = {t.name: t for t in reader.tensors}
    cfg = model.config

    def expected(gguf_name: str) -> torch.Tensor:
        t = by_name[gguf_name]
        return torch.from_numpy(gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32).reshape(tuple(reversed(t.shape.tolist()))))

    got = loaded.model.state_dict()
    q0 = expected("blk.0.attn_q.weight")
    # undo the converter's permutation independently: permute(x) ∘ unpermute = identity on the HF layout
    assert torch.equal(converter_permute(got["model.layers.0.self_attn.q_proj.weight"], cfg.num_attention_heads, cfg.num_attention_heads), q0)
    k0 = expected("blk.0.attn_k.weight")
    assert torch.equal(converter_permute(got["model.layers.0.self_attn.k_proj.weight"], cfg.num_attention_heads, cfg.num_key_value_heads), k0)
    assert torch.equal(got["model.layers.1.mlp.down_proj.weight"], expected("blk.1.ffn_down.weight"))
    assert torch.equal(got["model.embed_tokens.weight"], expected("token_embd.weight"))
    info = loaded.quantization
    if qtype == "F16":
        assert info["modules"] == 0
        assert torch.equal(got["model.layers.0.mlp.up_proj.weight"], model.state_dict()["model.layers.0.mlp.up_proj.weight"].half().float())
    else:
        assert info["per_module"]["model.layers.0.self_attn.v_proj"]["type"] == qtype
        assert info["checkpoint_format"] == qtype and info["dense"] == []
        assert info["per_module"]["model.layers.0.self_attn.v_proj"]["group_size"] == 32


def test_k_types_decode_as_gguf_py_does(tmp_path, tiny_tokenizer):
    """Rows of 256 (hidden 256, ffn 512): the K types apply; bytes packed by polyquant, read by gguf-py."""
    from transformers import AutoModelForCausalLM, LlamaConfig

    from polyquant.quant import ggml_blocks

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tiny_tokenizer), hidden_size=256, intermediate_size=512, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128)
    model = AutoModelForCausalLM.from_config(cfg).eval()
    src = str(tmp_path / "hf")
    model.save_pretrained(src)
    tiny_tokenizer.save_pretrained(src)
    types = ["Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"]
    for qtype in types:
        folder = _gguf_dir(tmp_path, src, model, qtype, encode=lambda a, t: ggml_blocks.encode(torch.from_numpy(a), t).numpy())
        loaded = load_model({"id": folder, "format": "gguf", "device": "cpu"})
        reader = gguf.GGUFReader(os.path.join(folder, "model.gguf"))
        t = {x.name: x for x in reader.tensors}["blk.1.ffn_up.weight"]
        want = torch.from_numpy(gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32))
        assert torch.equal(loaded.model.state_dict()["model.layers.1.mlp.up_proj.weight"], want.reshape(512, 256)), qtype
        assert loaded.quantization["types"] == {qtype: 2 * 7 + 2}


def test_rope_freqs_give_llama3_rope(tmp_path, tiny_tokenizer):
    """Llama 3.x files carry rope_freqs (the converter's per-frequency divisors), not a rope type."""
    from transformers import AutoModelForCausalLM, LlamaConfig

    torch.manual_seed(0)
    rope = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 16, "rope_theta": 10000.0}
    base_kwargs = dict(vocab_size=len(tiny_tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=256)
    llama3 = AutoModelForCausalLM.from_config(LlamaConfig(**base_kwargs, rope_parameters=rope)).eval()
    src = str(tmp_path / "hf")
    llama3.save_pretrained(src)
    tiny_tokenizer.save_pretrained(src)
    # llama.cpp's converter (LlamaModel.generate_extra_tensors): one factor per rotary frequency
    dim, factors = 16, []
    for freq in 1.0 / (10000.0 ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim)):
        wavelen = 2 * math.pi / float(freq)
        low, high = 16 / 1.0, 16 / 4.0
        if wavelen < high:
            factors.append(1.0)
        elif wavelen > low:
            factors.append(8.0)
        else:
            smooth = (16 / wavelen - 1.0) / (4.0 - 1.0)
            factors.append(1 / ((1 - smooth) / 8.0 + smooth))
    out = tmp_path / "gguf"
    out.mkdir()
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(src, f), out / f)
    path = str(out / "llama3.gguf")
    write_gguf(llama3, src, path, "F32", extra={"rope_freqs.weight": np.array(factors, dtype=np.float32)})
    loaded = load_model({"id": str(out), "format": "gguf", "device": "cpu"})
    long_text = TEXT * 6  # past original_max_position_embeddings, where the factors matter
    got, want = _logits(loaded.model, loaded.tokenizer, long_text), _logits(llama3, loaded.tokenizer, long_text)
    assert torch.allclose(got, want, atol=1e-5, rtol=0), float((got - want).abs().max())
    plain = AutoModelForCausalLM.from_config(LlamaConfig(**base_kwargs)).eval()
    plain.load_state_dict(llama3.state_dict())
    assert not torch.allclose(_logits(plain, loaded.tokenizer, long_text), want, atol=1e-3)  # the factors do matter here


def test_tokenizer_from_the_file(tmp_path, tiny_tokenizer):
    src = str(tmp_path / "hf")
    model = _hf("llama", tiny_tokenizer, src)
    folder = _gguf_dir(tmp_path, src, model, "Q8_0", tokenizer_json=False)
    assert not os.path.exists(os.path.join(folder, "tokenizer.json"))
    loaded = load_model({"id": folder, "format": "gguf", "device": "cpu"})
    assert loaded.tokenizer(TEXT).input_ids == tiny_tokenizer(TEXT).input_ids


def test_errors_name_what_is_wrong(tmp_path, tiny_tokenizer):
    src = str(tmp_path / "hf")
    model = _hf("llama", tiny_tokenizer, src)
    folder = _gguf_dir(tmp_path, src, model, "Q8_0")
    write_gguf(model, src, os.path.join(folder, "second.gguf"), "Q4_0")
    with pytest.raises(ModelError, match="name the GGUF file with `file:`.*several: model.gguf, second.gguf"):
        load_model({"id": folder, "format": "gguf", "device": "cpu"})
    loaded = load_model({"id": folder, "format": "gguf", "device": "cpu", "file": "second.gguf"})
    assert loaded.quantization["checkpoint_format"] == "Q4_0"
    with pytest.raises(ModelError, match="no file 'third.gguf'"):
        load_model({"id": folder, "format": "gguf", "device": "cpu", "file": "third.gguf"})
    # a file whose tensors do not fill the architecture
    broken = tmp_path / "broken"
    broken.mkdir()
    write_gguf(model, src, str(broken / "m.gguf"), "F32", drop=("blk.1.ffn_down.weight",))
    with pytest.raises(ModelError, match="lacks tensors.*model.layers.1.mlp.down_proj.weight"):
        load_model({"id": str(broken), "format": "gguf", "device": "cpu"})
    # a rope the reader cannot reproduce
    yarn = tmp_path / "yarn"
    yarn.mkdir()
    write_gguf(model, src, str(yarn / "m.gguf"), "F32", metadata={"llama.rope.scaling.type": "yarn"})
    with pytest.raises(ModelError, match="rope scaling 'yarn'"):
        load_model({"id": str(yarn), "format": "gguf", "device": "cpu"})
    # an architecture polyquant does not read
    other = tmp_path / "other"
    other.mkdir()
    w = gguf.GGUFWriter(str(other / "m.gguf"), "mamba")
    w.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    with pytest.raises(ModelError, match="architecture 'mamba'.*supported: llama, qwen2, qwen3, gpt2"):
        load_model({"id": str(other), "format": "gguf", "device": "cpu"})
