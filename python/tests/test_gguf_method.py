"""`method: gguf`: llama.cpp's types as a quantization method (quant/gguf_method.py, plan.py).

The types each tensor gets are checked against llama.cpp's rule written out by hand here (the
use_more_bits layers), the weights against gguf-py decoding polyquant's bytes, and the coded form
a layer sweep keeps against the float result.
"""

from __future__ import annotations

import gguf
import numpy as np
import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from polyquant.errors import ParameterError
from polyquant.kernels import layer_sweep
from polyquant.context import KernelContext
from polyquant.quant import ggml_blocks
from polyquant.quant.methods import quant_summary, quantize_model
from polyquant.quant.plan import protected_names, resolve_targets
from quant_tiny import CORPUS, save_tiny, tiny_llama

pytestmark = pytest.mark.usefixtures("one_thread")


def _wide_llama(layers: int = 8) -> LlamaForCausalLM:
    """Rows of 256 and 512: the K types apply without llama.cpp's fallback."""
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=300, hidden_size=256, intermediate_size=512, num_hidden_layers=layers, num_attention_heads=4,
                      num_key_value_heads=4, max_position_embeddings=128, tie_word_embeddings=False)
    return LlamaForCausalLM(cfg).eval()


def _quant(type_name: str = "Q4_K_M", rules: str = "llama-quantize") -> dict:
    return {"method": "gguf", "bits": 4, "group_size": 128, "sym": False, "gguf": {"type": type_name, "rules": rules}}


def _types(targets) -> dict[str, str]:
    return {t.name: t.ggml_type for t in targets}


def test_q4_k_m_types_follow_llama_quantize():
    model = _wide_llama(layers=8)
    types = _types(resolve_targets(model, _quant("Q4_K_M")))
    # llama.cpp's use_more_bits(i, n) = i < n/8 || i >= 7n/8 || (i - n/8) % 3 == 2, for n = 8: layers 0, 3, 6, 7
    more = {0, 3, 6, 7}
    for i in range(8):
        want = "Q6_K" if i in more else "Q4_K"
        assert types[f"model.layers.{i}.mlp.down_proj"] == want, i
        assert types[f"model.layers.{i}.self_attn.v_proj"] == want, i
        assert types[f"model.layers.{i}.self_attn.q_proj"] == "Q4_K"
        assert types[f"model.layers.{i}.mlp.up_proj"] == "Q4_K"
    assert types["lm_head"] == "Q6_K"
    assert types["model.embed_tokens"] == "Q4_K"
    assert len(types) == 8 * 7 + 2


def test_protection_keeps_the_other_layers_types():
    model = _wide_llama(layers=8)
    full = _types(resolve_targets(model, _quant("Q4_K_M")))
    protected = _types(resolve_targets(model, _quant("Q4_K_M"), {"layers": [0, 1]}))
    assert not any(".layers.0." in n or ".layers.1." in n for n in protected)
    assert all(full[n] == t for n, t in protected.items())  # llama.cpp's counters run over the whole model


def test_fixture_rows_fall_back_as_llama_cpp_does():
    model = tiny_llama(layers=2)  # rows of 64 and 128: no 256-weight block fits
    targets = resolve_targets(model, _quant("Q4_K_M"))
    types = _types(targets)
    assert types["model.layers.0.self_attn.q_proj"] == "Q5_0"  # Q4_K's fallback
    assert types["lm_head"] == "Q8_0"  # the output rule when the default type cannot hold its rows
    reasons = {t.name: t.ggml_reason for t in targets}
    assert "not a multiple of 256" in reasons["model.layers.0.mlp.up_proj"]
    summary = quant_summary(_quant("Q4_K_M"))
    assert summary == {"method": "gguf", "bits": 4, "group_size": 32, "sym": False, "gguf_type": "Q4_K_M"}


def test_uniform_rules_and_overrides():
    model = _wide_llama(layers=4)
    uniform = _types(resolve_targets(model, _quant("Q4_K", rules="uniform")))
    assert set(uniform.values()) == {"Q4_K"}
    over = resolve_targets(model, _quant("Q4_K_M"), overrides=[{"layers": [1], "type": "Q8_0"}])
    assert {t.ggml_type for t in over if t.layer == 1} == {"Q8_0"}
    assert [t for t in over if t.layer == 1][0].bits == 8
    with pytest.raises(ParameterError, match=r"overrides\[0\] sets bits; with quant.method gguf an override sets `type`"):
        resolve_targets(model, _quant("Q4_K_M"), overrides=[{"layers": [1], "bits": 8}])
    with pytest.raises(ParameterError, match=r"overrides\[0\] sets type 'Q8_0', which only quant.method gguf reads"):
        resolve_targets(model, {"method": "rtn", "bits": 4, "group_size": 64, "sym": False}, overrides=[{"layers": [1], "type": "Q8_0"}])


def test_weights_are_what_gguf_py_decodes_from_the_bytes():
    model = _wide_llama(layers=2)
    quant = _quant("Q4_K_M")
    targets = resolve_targets(model, quant)
    result = quantize_model(type("L", (), {"model": model})(), quant, targets)
    for t in targets:
        W = t.weight().detach()
        blocks = ggml_blocks.encode(W.float(), t.ggml_type).numpy()
        want = torch.from_numpy(gguf.quants.dequantize(blocks, gguf.GGMLQuantizationType[t.ggml_type]).astype(np.float32))
        assert torch.equal(result.weights[t.param_name], want.reshape(W.shape)), t.name
        rel = float(torch.linalg.norm(W - want.reshape(W.shape)) / torch.linalg.norm(W))
        assert abs(result.module_errors[t.name] - rel) < 1e-6
    assert result.meta["types"]["lm_head"] == "Q6_K"
    coded = quantize_model(type("L", (), {"model": model})(), quant, targets, coded=True)
    for t in targets:
        assert torch.equal(coded.coded[t.param_name].dequantize(), result.weights[t.param_name]), t.name
    q4 = ggml_blocks.GGML_TYPES["Q4_K"]
    assert coded.coded["model.layers.1.mlp.up_proj.weight"].nbytes() == 512 * 256 * q4.bpw / 8  # 4.5 bits a weight


def test_protected_names_and_the_layer_sweep_run_with_gguf(tmp_path):
    model_dir = save_tiny(str(tmp_path / "m"), "tiny-llama", layers=2, seed=1)
    params = {"model": {"id": model_dir}, "corpus": CORPUS, "quant": _quant("Q8_0"), "protocol": {"context_length": 24}, "mode": "protect-one"}
    out = layer_sweep.run(params, KernelContext())
    assert out["quant"]["gguf_type"] == "Q8_0"
    assert len(out["rows"]) == 2
    tiny = tiny_llama(layers=2)
    targets = resolve_targets(tiny, _quant("Q8_0"), {"layers": [0]})
    assert all(".layers.0." in n for n in protected_names(tiny, _quant("Q8_0"), targets))
