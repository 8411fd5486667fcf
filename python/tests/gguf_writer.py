"""Tests' GGUF writer: an HF model written as llama.cpp's `convert_hf_to_gguf.py` writes it.

Independent of polyquant's reader (models/llamacpp.py): the names come from gguf-py's
`TensorNameMap`, the packing from gguf-py's `quants.quantize` (or bytes a test hands in), and the
two transforms llama.cpp's converter applies are written here from its source:
- `LlamaModel.permute` on Llama's q_proj / k_proj (weights and biases), k with n_kv_head;
- `GPT2Model.modify_tensors` transposes GPT-2's Conv1D weights (c_attn, c_proj, c_fc) to out × in.
Metadata keys are the ones `TextModel.set_gguf_parameters` writes (`<arch>.block_count`, ...), and
the tokenizer is a byte-level BPE (`tokenizer.ggml.model = gpt2`) like the fixtures'.
"""

from __future__ import annotations

import json
import os
from typing import Callable, Optional

import gguf
import numpy as np
import torch

ARCH = {"llama": gguf.MODEL_ARCH.LLAMA, "qwen2": gguf.MODEL_ARCH.QWEN2, "qwen3": gguf.MODEL_ARCH.QWEN3, "gpt2": gguf.MODEL_ARCH.GPT2}
FLOAT_TYPES = {"F32", "F16"}


def converter_permute(weights: torch.Tensor, n_head: int, n_head_kv: Optional[int]) -> torch.Tensor:
    """llama.cpp convert_hf_to_gguf.py `LlamaModel.permute`: HF's rotary half-split to GGML's interleave."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:]).swapaxes(1, 2).reshape(weights.shape)


def _metadata(w: gguf.GGUFWriter, model_type: str, cfg) -> None:
    if model_type == "gpt2":
        w.add_block_count(cfg.n_layer)
        w.add_context_length(cfg.n_positions)
        w.add_embedding_length(cfg.n_embd)
        w.add_feed_forward_length(4 * cfg.n_embd)  # as the converter writes it, whatever n_inner says
        w.add_head_count(cfg.n_head)
        w.add_layer_norm_eps(cfg.layer_norm_epsilon)
        return
    w.add_block_count(cfg.num_hidden_layers)
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_head_count(cfg.num_attention_heads)
    w.add_head_count_kv(cfg.num_key_value_heads)
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    rope = getattr(cfg, "rope_parameters", None) or {}
    w.add_rope_freq_base(float(rope.get("rope_theta", getattr(cfg, "rope_theta", 10000.0))))
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    w.add_key_length(head_dim)
    w.add_value_length(head_dim)
    w.add_rope_dimension_count(head_dim)


def _tokenizer(w: gguf.GGUFWriter, folder: str) -> None:
    with open(os.path.join(folder, "tokenizer.json"), encoding="utf-8") as f:
        tok = json.load(f)
    vocab = tok["model"]["vocab"]
    tokens = [None] * len(vocab)
    for text, index in vocab.items():
        tokens[index] = text
    special = {t["content"]: t["id"] for t in tok.get("added_tokens", [])}
    merges = [m if isinstance(m, str) else " ".join(m) for m in tok["model"]["merges"]]
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_types([gguf.TokenType.CONTROL if t in special else gguf.TokenType.NORMAL for t in tokens])
    w.add_token_merges(merges)
    with open(os.path.join(folder, "config.json"), encoding="utf-8") as f:
        cfg = json.load(f)
    for key, add in (("bos_token_id", w.add_bos_token_id), ("eos_token_id", w.add_eos_token_id), ("pad_token_id", w.add_pad_token_id)):
        if cfg.get(key) is not None:
            add(int(cfg[key]))


def write_gguf(
    model,
    folder: str,
    out_path: str,
    qtype: str = "Q8_0",
    encode: Optional[Callable[[np.ndarray, str], np.ndarray]] = None,
    keep_float: Callable[[str], bool] = lambda name: False,
    with_tokenizer: bool = True,
    extra: Optional[dict[str, np.ndarray]] = None,
    drop: tuple[str, ...] = (),
    metadata: Optional[dict[str, str]] = None,
) -> dict[str, str]:
    """Write `model` (tokenizer from `folder`) to `out_path`; 2-D weights as `qtype`. Returns gguf name → type.

    encode(array, type) → bytes overrides gguf-py's quantizer (for the K types, which it cannot
    quantize); keep_float(gguf_name) keeps a tensor F32; `extra` adds F32 tensors (rope_freqs),
    `drop` leaves tensors out and `metadata` adds string keys (to make broken files).
    """
    cfg = model.config
    model_type = cfg.model_type
    arch = ARCH[model_type]
    n_blocks = cfg.n_layer if model_type == "gpt2" else cfg.num_hidden_layers
    names = gguf.get_tensor_name_map(arch, n_blocks)
    w = gguf.GGUFWriter(out_path, gguf.MODEL_ARCH_NAMES[arch])
    _metadata(w, model_type, cfg)
    for key, value in (metadata or {}).items():
        w.add_string(key, value)
    if with_tokenizer:
        _tokenizer(w, folder)
    types: dict[str, str] = {}
    tied = bool(getattr(cfg, "tie_word_embeddings", False))
    for key, tensor in model.state_dict().items():
        if key.endswith((".attn.bias", ".attn.masked_bias")) or (tied and key == "lm_head.weight"):
            continue  # GPT-2's causal mask buffers; a tied head is the embedding
        data = tensor.detach().to(torch.float32).clone()
        if model_type == "llama" and key.endswith(("q_proj.weight", "q_proj.bias")):
            data = converter_permute(data, cfg.num_attention_heads, cfg.num_attention_heads)
        if model_type == "llama" and key.endswith(("k_proj.weight", "k_proj.bias")):
            data = converter_permute(data, cfg.num_attention_heads, cfg.num_key_value_heads)
        if model_type == "gpt2" and key.endswith((".c_attn.weight", ".c_proj.weight", ".c_fc.weight")):
            data = data.transpose(1, 0)
        name = names.get_name(key, try_suffixes=(".weight", ".bias"))
        assert name is not None, key
        if name in drop:
            continue
        array = data.contiguous().numpy()
        kind = qtype if array.ndim == 2 and not keep_float(name) else "F32"
        if kind == "F32":
            w.add_tensor(name, array)
        elif kind == "F16":
            w.add_tensor(name, array.astype(np.float16))
        else:
            ggml = gguf.GGMLQuantizationType[kind]
            packed = encode(array, kind) if encode is not None else gguf.quants.quantize(array, ggml)
            w.add_tensor(name, packed, raw_shape=packed.shape, raw_dtype=ggml)
        types[name] = kind
    for name, array in (extra or {}).items():
        w.add_tensor(name, array)
        types[name] = "F32"
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return types
