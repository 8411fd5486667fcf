"""Tiny randomly initialised models and synthetic "languages" for the analysis tests.

A synthetic language is a disjoint range of token ids; its windows are seeded random sequences
from that range, so each window is single-language, as a corpus document is.
"""

from __future__ import annotations

import torch
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM


def tiny_llama(vocab: int = 96, hidden: int = 64, layers: int = 2, heads: int = 4, seed: int = 0, inter: int = 128):
    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=vocab,
        hidden_size=hidden,
        intermediate_size=inter,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=128,
        bos_token_id=None,
        eos_token_id=None,
        pad_token_id=None,
    )
    cfg._attn_implementation = "eager"
    return LlamaForCausalLM(cfg).eval()


def tiny_gpt2(vocab: int = 96, hidden: int = 64, layers: int = 2, heads: int = 4, seed: int = 0):
    torch.manual_seed(seed)
    cfg = GPT2Config(
        vocab_size=vocab, n_embd=hidden, n_layer=layers, n_head=heads, n_positions=128, bos_token_id=0, eos_token_id=0
    )
    cfg._attn_implementation = "eager"
    return GPT2LMHeadModel(cfg).eval()


def language_windows(langs: list[str], per_lang: int = 32, n: int = 4, length: int = 24, seed: int = 0):
    """langs[i] uses token ids [i·per_lang, (i+1)·per_lang)."""
    g = torch.Generator().manual_seed(seed)
    return {
        lang: [torch.randint(i * per_lang, (i + 1) * per_lang, (length,), generator=g) for _ in range(n)]
        for i, lang in enumerate(langs)
    }


@torch.no_grad()
def plant_language_head(model, layer: int = 0, head: int = 1, per_lang: int = 32, boost: float = 6.0):
    """Make (layer, head) matter for language 0 (tokens [0, per_lang)) and for nothing else.

    Token embeddings live in a 16-dim block per language (dims [16i, 16i+16)) with dim 16i set
    to +1, so after RMSNorm each token lies in its language's block. The planted head's V reads
    only language 0's block, so for other languages its output is exactly 0. Its O projection
    maps v[0] (> 0 for language-0 tokens) onto a spare residual direction u = e_48, and the LM
    head reads u into every language-0 logit: the head raises the probability of language-0
    tokens on language-0 text, so ablating it raises language 0's NLL and nothing else's.
    """
    cfg = model.config
    d, hs = cfg.hidden_size, cfg.hidden_size // cfg.num_attention_heads
    assert d == 64 and hs == 16
    emb = model.model.embed_tokens.weight
    g = torch.Generator().manual_seed(1)
    emb.zero_()
    for t in range(cfg.vocab_size):
        lang = t // per_lang
        emb[t, 16 * lang : 16 * lang + 16] = torch.randn(16, generator=g) * 0.5
        emb[t, 16 * lang] = 1.0
    attn = model.model.layers[layer].self_attn
    rows = slice(head * hs, (head + 1) * hs)
    attn.v_proj.weight[rows] = 0
    attn.v_proj.weight[rows, 0:16] = torch.eye(16)  # v = language-0 block of norm(x)
    attn.o_proj.weight[:, rows] = 0
    attn.o_proj.weight[48, head * hs] = boost  # u · v[0]
    lm = model.lm_head.weight
    lm[:, 48] = 0
    lm[:per_lang, 48] = 1.0
    return model
