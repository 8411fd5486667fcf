"""llama.cpp's mixed file types on polyquant's targets (quant/ggml_mix.py).

Expected types are written out by hand from llama.cpp's src/llama-quant.cpp
(llama_tensor_get_type_impl, tensor_type_fallback), not computed with the module's helpers.
"""

import pytest

from polyquant.errors import ParameterError
from polyquant.quant.ggml_mix import BLOCK_SIZES, PRESETS, ModelFacts, TensorRole, choose_types, role_of, use_more_bits

# use_more_bits for 32 layers, by hand: i < 32/8 = 4, i >= 7*32/8 = 28, or (i - 4) % 3 == 2
MORE_BITS_32 = [0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31]
# for 12 layers (GPT-2): i < 1, i >= 10, or (i - 1) % 3 == 2
MORE_BITS_12 = [0, 3, 6, 9, 10, 11]

def llama_tensors(n_layers=32, hidden=4096, ffn=11008, kv_rows=4096, head=True):
    """A Llama-shaped target list in model order, roles found by role_of from the HF names."""
    shapes = {  # (rows, cols) = (out_features, in_features)
        "self_attn.q_proj": (hidden, hidden), "self_attn.k_proj": (kv_rows, hidden),
        "self_attn.v_proj": (kv_rows, hidden), "self_attn.o_proj": (hidden, hidden),
        "mlp.gate_proj": (ffn, hidden), "mlp.up_proj": (ffn, hidden), "mlp.down_proj": (hidden, ffn),
    }  # fmt: skip
    names = [("model.embed_tokens", 32000, hidden)]
    names += [(f"model.layers.{i}.{lin}", *shape) for i in range(n_layers) for lin, shape in shapes.items()]
    if head:
        names.append(("lm_head", 32000, hidden))
    return [TensorRole(name, *role_of(name), rows=rows, cols=cols) for name, rows, cols in names]


LLAMA_7B = ModelFacts(n_layers=32, n_head=32, n_head_kv=32)


def types(choices):
    return {c.tensor.name: c.ggml_type for c in choices}


def reasons(choices):
    return {c.tensor.name: c.reason for c in choices}


def per_layer(got, linear, n_layers=32):
    return [got[f"model.layers.{i}.{linear}"] for i in range(n_layers)]


def test_use_more_bits_matches_the_hand_computed_layers():
    assert [i for i in range(32) if use_more_bits(i, 32)] == MORE_BITS_32
    assert [i for i in range(12) if use_more_bits(i, 12)] == MORE_BITS_12


@pytest.mark.parametrize("preset, base", [("Q4_K_M", "Q4_K"), ("Q5_K_M", "Q5_K")])
def test_k_m_gives_q6_k_to_attn_v_and_ffn_down_where_use_more_bits(preset, base):
    got = types(choose_types(preset, llama_tensors(), LLAMA_7B))
    bumped = [("Q6_K" if i in MORE_BITS_32 else base) for i in range(32)]
    assert per_layer(got, "mlp.down_proj") == bumped
    assert per_layer(got, "self_attn.v_proj") == bumped
    for lin in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj"):
        assert per_layer(got, lin) == [base] * 32, lin
    assert got["lm_head"] == "Q6_K"
    assert got["model.embed_tokens"] == base  # untied: the embedding keeps the default


def test_reasons_name_the_rule():
    why = reasons(choose_types("Q4_K_M", llama_tensors(), LLAMA_7B))
    assert why["model.layers.0.mlp.down_proj"] == "use_more_bits(ffn_down 0/32) -> Q6_K"
    assert why["model.layers.6.self_attn.v_proj"] == "use_more_bits(attn_v 6/32) -> Q6_K"
    assert why["model.layers.4.mlp.down_proj"] == "preset default"
    assert why["lm_head"] == "output -> Q6_K"


def test_q4_k_s_bumps_the_first_four_attn_v_and_the_first_eighth_of_ffn_down():
    got = types(choose_types("Q4_K_S", llama_tensors(), LLAMA_7B))
    first_four = ["Q5_K"] * 4 + ["Q4_K"] * 28
    assert per_layer(got, "self_attn.v_proj") == first_four
    assert per_layer(got, "mlp.down_proj") == first_four  # i < 32/8
    assert per_layer(got, "self_attn.o_proj") == ["Q4_K"] * 32
    assert got["lm_head"] == "Q6_K"


def test_q3_k_m():
    got = types(choose_types("Q3_K_M", llama_tensors(), LLAMA_7B))
    assert per_layer(got, "self_attn.v_proj") == ["Q5_K"] * 2 + ["Q4_K"] * 30  # i_attention_wv < 2
    assert per_layer(got, "mlp.down_proj") == ["Q5_K"] * 2 + ["Q4_K"] * 30  # i < 32/16, then Q4_K (not falcon)
    assert per_layer(got, "self_attn.o_proj") == ["Q4_K"] * 32
    for lin in ("self_attn.q_proj", "self_attn.k_proj", "mlp.gate_proj", "mlp.up_proj"):
        assert per_layer(got, lin) == ["Q3_K"] * 32, lin
    assert got["lm_head"] == "Q6_K"


def test_q3_k_l():
    got = types(choose_types("Q3_K_L", llama_tensors(), LLAMA_7B))
    for lin in ("self_attn.v_proj", "mlp.down_proj", "self_attn.o_proj"):
        assert per_layer(got, lin) == ["Q5_K"] * 32, lin
    assert per_layer(got, "mlp.up_proj") == ["Q3_K"] * 32


@pytest.mark.parametrize("preset, base, output", [
    ("Q3_K_S", "Q3_K", "Q6_K"), ("Q5_K_S", "Q5_K", "Q6_K"), ("Q6_K", "Q6_K", "Q6_K"),
    ("Q8_0", "Q8_0", "Q8_0"), ("Q4_0", "Q4_0", "Q6_K"), ("Q5_1", "Q5_1", "Q6_K"),
])  # fmt: skip
def test_presets_without_layer_rules_change_only_the_output(preset, base, output):
    got = choose_types(preset, llama_tensors(), LLAMA_7B)
    assert {c.ggml_type for c in got if c.tensor.role != "output"} == {base}
    assert types(got)["lm_head"] == output


@pytest.mark.parametrize("n_head_kv, attn_v", [(32, "Q3_K"), (8, "Q4_K")])  # n_gqa 1, then 4
def test_q2_k(n_head_kv, attn_v):
    facts = ModelFacts(n_layers=32, n_head=32, n_head_kv=n_head_kv)
    got = types(choose_types("Q2_K", llama_tensors(kv_rows=4096 * n_head_kv // 32), facts))
    assert per_layer(got, "self_attn.v_proj") == [attn_v] * 32
    assert per_layer(got, "mlp.down_proj") == ["Q3_K"] * 32
    assert per_layer(got, "self_attn.o_proj") == ["Q3_K"] * 32
    for lin in ("self_attn.q_proj", "self_attn.k_proj", "mlp.gate_proj", "mlp.up_proj"):
        assert per_layer(got, lin) == ["Q2_K"] * 32, lin
    assert got["model.embed_tokens"] == "Q2_K"
    assert got["lm_head"] == "Q6_K"


def test_a_tied_embedding_takes_the_output_rule():
    facts = ModelFacts(n_layers=32, n_head=32, n_head_kv=32, tied_output=True)
    got = choose_types("Q4_K_M", llama_tensors(head=False), facts)
    assert types(got)["model.embed_tokens"] == "Q6_K"
    assert reasons(got)["model.embed_tokens"] == "tied token_embd (output rule) -> Q6_K"


@pytest.mark.parametrize("hidden", [192, 64])
def test_row_lengths_that_256_does_not_divide_fall_back(hidden):
    tensors = llama_tensors(hidden=hidden, ffn=512, kv_rows=hidden)
    got = choose_types("Q4_K_M", tensors, LLAMA_7B)
    t, why = types(got), reasons(got)
    assert t["model.layers.4.self_attn.q_proj"] == "Q5_0"
    assert why["model.layers.4.self_attn.q_proj"] == f"row length {hidden} not a multiple of 256 -> fallback Q5_0"
    assert t["model.layers.0.self_attn.v_proj"] == "Q8_0"  # Q6_K by use_more_bits, then its fallback
    assert why["model.layers.0.self_attn.v_proj"] == (
        f"use_more_bits(attn_v 0/32) -> Q6_K; row length {hidden} not a multiple of 256 -> fallback Q8_0"
    )
    assert t["model.layers.0.mlp.down_proj"] == "Q6_K"  # 512 columns fit
    assert t["lm_head"] == "Q8_0"  # the output rule itself picks Q8_0 when the default's block does not fit
    assert why["lm_head"] == f"output row length {hidden} not a multiple of 256 -> Q8_0"
    assert types(choose_types("Q5_K_M", tensors, LLAMA_7B))["model.layers.4.self_attn.q_proj"] == "Q5_1"
    q2 = types(choose_types("Q2_K", tensors, LLAMA_7B))
    assert q2["model.layers.4.self_attn.q_proj"] == "Q4_0"
    assert q2["model.layers.4.self_attn.v_proj"] == "Q4_0"  # Q3_K, then its fallback


def test_a_row_length_32_does_not_divide_ends_in_f16_or_fails():
    odd = [TensorRole("x.proj", "other", 0, rows=8, cols=48)]
    assert choose_types("Q4_K_M", odd, LLAMA_7B)[0].ggml_type == "F16"  # Q4_K -> Q5_0, which needs 32
    with pytest.raises(ParameterError, match="row length 48 is not a multiple of 32, and Q4_0 has no fallback"):
        choose_types("Q4_0", odd, LLAMA_7B)


def test_plain_types_and_pure_apply_one_type_everywhere():
    tensors = llama_tensors(n_layers=4)
    facts = ModelFacts(n_layers=4, n_head=32, n_head_kv=32)
    assert {c.ggml_type for c in choose_types("Q4_K", tensors, facts)} == {"Q4_K"}
    assert {c.reason for c in choose_types("Q4_K", tensors, facts)} == {"plain type"}
    assert {c.ggml_type for c in choose_types("Q4_K_M", tensors, facts, pure=True)} == {"Q4_K"}
    # the preset Q4_0 is not the plain type Q4_0: llama-quantize gives the output Q6_K
    assert types(choose_types("Q4_0", tensors, facts))["lm_head"] == "Q6_K"
    assert types(choose_types("Q4_0", tensors, facts, pure=True))["lm_head"] == "Q4_0"


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ParameterError, match="'Q4_K_X'") as err:
        choose_types("Q4_K_X", llama_tensors(n_layers=1), LLAMA_7B)
    assert "Q4_K_M" in str(err.value) and "Q3_K," in str(err.value)


@pytest.mark.parametrize("name, role, layer", [
    ("transformer.wte", "token_embd", None),
    ("transformer.wpe", "other", None),
    ("transformer.h.3.attn.c_attn", "attn_qkv", 3),
    ("transformer.h.3.attn.c_proj", "attn_output", 3),
    ("transformer.h.3.mlp.c_fc", "ffn_up", 3),
    ("transformer.h.11.mlp.c_proj", "ffn_down", 11),
    ("model.embed_tokens", "token_embd", None),
    ("model.layers.10.self_attn.q_proj", "attn_q", 10),
    ("model.layers.10.self_attn.k_proj", "attn_k", 10),
    ("model.layers.10.self_attn.v_proj", "attn_v", 10),
    ("model.layers.10.self_attn.o_proj", "attn_output", 10),
    ("model.layers.10.mlp.gate_proj", "ffn_gate", 10),
    ("model.layers.10.mlp.up_proj", "ffn_up", 10),
    ("model.layers.10.mlp.down_proj", "ffn_down", 10),
    ("lm_head", "output", None),
    ("model.layers.2.self_attn.dense", "attn_output", 2),  # phi
    ("model.layers.2.mlp.fc1", "ffn_up", 2),
    ("model.layers.2.mlp.fc2", "ffn_down", 2),
    ("transformer.h.5.self_attention.query_key_value", "attn_qkv", 5),  # bloom / falcon
    ("transformer.h.5.mlp.dense_h_to_4h", "ffn_up", 5),
    ("transformer.h.5.mlp.dense_4h_to_h", "ffn_down", 5),
    ("transformer.word_embeddings", "token_embd", None),
])  # fmt: skip
def test_role_of(name, role, layer):
    assert role_of(name) == (role, layer)


def test_gpt2_fused_qkv_takes_the_attn_v_rule():
    """At the llama.cpp commit read, category_is_attn_v sends attn_qkv down the attn_v branch."""
    shapes = {"attn.c_attn": (2304, 768), "attn.c_proj": (768, 768), "mlp.c_fc": (3072, 768), "mlp.c_proj": (768, 3072)}
    names = [("transformer.wte", 50257, 768)]
    names += [(f"transformer.h.{i}.{lin}", *shape) for i in range(12) for lin, shape in shapes.items()]
    tensors = [TensorRole(n, *role_of(n), rows=r, cols=c) for n, r, c in names]
    facts = ModelFacts(n_layers=12, n_head=12, n_head_kv=12, tied_output=True, arch="gpt2")
    got = types(choose_types("Q4_K_M", tensors, facts))
    bumped = [("Q6_K" if i in MORE_BITS_12 else "Q4_K") for i in range(12)]
    assert [got[f"transformer.h.{i}.attn.c_attn"] for i in range(12)] == bumped
    assert [got[f"transformer.h.{i}.mlp.c_proj"] for i in range(12)] == bumped
    assert {got[f"transformer.h.{i}.{lin}"] for i in range(12) for lin in ("attn.c_proj", "mlp.c_fc")} == {"Q4_K"}
    assert got["transformer.wte"] == "Q6_K"


def test_llama_70b_bumps_q4_k_attn_v_to_q5_k():
    facts = ModelFacts(n_layers=80, n_head=64, n_head_kv=8)
    got = types(choose_types("Q4_K_S", llama_tensors(n_layers=80, hidden=8192, ffn=28672, kv_rows=1024), facts))
    assert per_layer(got, "self_attn.v_proj", 80) == ["Q5_K"] * 80  # i < 4 by rule, the rest by the 70B bump
    assert per_layer(got, "self_attn.q_proj", 80) == ["Q4_K"] * 80


def test_eight_experts():
    """Mixtral: attn_v and attn_k to Q8_0, attn_output to Q5_K, ffn_down's layer read from the tensor."""
    facts = ModelFacts(n_layers=32, n_head=32, n_head_kv=8, n_expert=8)
    got = types(choose_types("Q4_K_M", llama_tensors(kv_rows=1024), facts))
    assert per_layer(got, "self_attn.v_proj") == ["Q8_0"] * 32
    assert per_layer(got, "self_attn.k_proj") == ["Q8_0"] * 32
    assert per_layer(got, "self_attn.o_proj") == ["Q5_K"] * 32
    # three experts per layer: a counter would put layer 6's experts at 18, 19, 20 (only 18 more bits)
    experts = [TensorRole(f"model.layers.{i}.experts.{e}.w2", "ffn_down", i, 4096, 14336) for i in range(32) for e in range(3)]
    layer6 = [c.ggml_type for c in choose_types("Q4_K_M", experts, facts) if c.tensor.layer == 6]
    assert layer6 == ["Q6_K"] * 3


def test_falcon_output_is_q8_0():
    facts = ModelFacts(n_layers=32, n_head=71, n_head_kv=1, arch="falcon")
    assert types(choose_types("Q4_K_M", llama_tensors(), facts))["lm_head"] == "Q8_0"


def test_block_sizes_and_presets_agree_with_gguf_py():
    gguf = pytest.importorskip("gguf")
    for name, block in BLOCK_SIZES.items():
        assert gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType[name]][0] == block, name
    for preset in PRESETS:
        assert hasattr(gguf.LlamaFileType, f"MOSTLY_{preset}"), preset
