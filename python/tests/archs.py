"""Tiny random models of the architectures researchers bring, built from transformers' real configs.

`build(name, tokenizer, path)` saves a model of architecture `name` (hidden 64, 4 layers, the
tokenizer's vocabulary) with its tokenizer to `path`: no download. Sliding windows (Mistral,
Gemma-2/3) are shorter than the tests' calibration sequences, so a replay that reused block 0's
mask for every block would show. Used by test_architectures.py and docs/models.md.
"""

from __future__ import annotations

import os

import torch

HIDDEN, LAYERS, HEADS, INTER, POSITIONS, WINDOW = 64, 4, 4, 128, 256, 8

_COMMON = dict(hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS, intermediate_size=INTER, max_position_embeddings=POSITIONS)

# name → (model_type, config kwargs beyond the vocabulary)
ARCHS: dict[str, tuple[str, dict]] = {
    "llama": ("llama", dict(_COMMON)),
    "llama-gqa": ("llama", dict(_COMMON, num_key_value_heads=2)),
    "mistral": ("mistral", dict(_COMMON, num_key_value_heads=2, sliding_window=WINDOW)),
    "qwen2": ("qwen2", dict(_COMMON, num_key_value_heads=2)),
    "qwen3": ("qwen3", dict(_COMMON, num_key_value_heads=2, head_dim=16)),
    "gemma": ("gemma", dict(_COMMON, num_key_value_heads=2, head_dim=16)),
    "gemma2": ("gemma2", dict(_COMMON, num_key_value_heads=2, head_dim=16, sliding_window=WINDOW, query_pre_attn_scalar=16)),
    "gemma3_text": ("gemma3_text", dict(_COMMON, num_key_value_heads=2, head_dim=16, sliding_window=WINDOW, query_pre_attn_scalar=16,
                                        layer_types=["sliding_attention", "full_attention"] * (LAYERS // 2))),
    "gpt2": ("gpt2", dict(n_embd=HIDDEN, n_layer=LAYERS, n_head=HEADS, n_inner=INTER, n_positions=POSITIONS)),
    "phi3": ("phi3", dict(_COMMON, num_key_value_heads=2, pad_token_id=0)),
    "phi": ("phi", dict(_COMMON, partial_rotary_factor=0.5)),
    "gpt_neox": ("gpt_neox", dict(_COMMON, use_parallel_residual=True, rotary_pct=0.25)),
    "opt": ("opt", dict(hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS, ffn_dim=INTER,
                        max_position_embeddings=POSITIONS, word_embed_proj_dim=HIDDEN)),
    "falcon": ("falcon", dict(hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS, multi_query=True,
                              parallel_attn=True, new_decoder_architecture=False, bias=False)),
    "bloom": ("bloom", dict(hidden_size=HIDDEN, n_layer=LAYERS, n_head=HEADS)),
    "olmo": ("olmo", dict(_COMMON)),
    "olmo2": ("olmo2", dict(_COMMON)),
    "stablelm": ("stablelm", dict(_COMMON, num_key_value_heads=2)),
    "gptj": ("gptj", dict(n_embd=HIDDEN, n_layer=LAYERS, n_head=HEADS, n_inner=INTER, n_positions=POSITIONS, rotary_dim=8)),
    "cohere": ("cohere", dict(_COMMON, num_key_value_heads=2)),
    "granite": ("granite", dict(_COMMON, num_key_value_heads=2)),
    "starcoder2": ("starcoder2", dict(_COMMON, num_key_value_heads=2, sliding_window=WINDOW)),
    "gpt_bigcode": ("gpt_bigcode", dict(n_embd=HIDDEN, n_layer=LAYERS, n_head=HEADS, n_inner=INTER, n_positions=POSITIONS)),
    "codegen": ("codegen", dict(n_embd=HIDDEN, n_layer=LAYERS, n_head=HEADS, n_inner=INTER, n_positions=POSITIONS, n_ctx=POSITIONS, rotary_dim=8)),
}


def config(name: str, vocab_size: int):
    from transformers import AutoConfig

    model_type, kwargs = ARCHS[name]
    return AutoConfig.for_model(model_type, vocab_size=vocab_size, **kwargs)


def build(name: str, tokenizer, path: str, seed: int = 0) -> str:
    """Save a random model of architecture `name` and `tokenizer` to `path`; returns path."""
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    cfg = config(name, len(tokenizer))
    model = AutoModelForCausalLM.from_config(cfg).eval()
    with torch.no_grad():  # random init has near-uniform logits; larger weights make quantization damage visible
        for n, p in model.named_parameters():
            if p.dim() > 1:
                p.mul_(3.0)
            elif "norm" in n or "ln" in n:  # norms away from 1 (and (1 + w) norms away from 0) so folds are exercised
                p.add_(torch.rand_like(p) * 0.5)
    os.makedirs(path, exist_ok=True)
    model.save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    return path


if __name__ == "__main__":  # python archs.py OUT_DIR NAME...: models with the trained fixture's tokenizer
    import sys

    from transformers import AutoTokenizer

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    from polyquant.models.load import fixture_dir

    out, names = sys.argv[1], sys.argv[2:]
    tok = AutoTokenizer.from_pretrained(fixture_dir("tiny-llama"))
    for n in names:
        build(n, tok, os.path.join(out, n))
