"""Tiny randomly initialised models for the quantization tests (fast, no training dependency)."""

from __future__ import annotations

import torch
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM


def tiny_llama(layers: int = 4, seed: int = 0, vocab: int = 300) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=vocab, hidden_size=64, intermediate_size=128, num_hidden_layers=layers,
        num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=256, tie_word_embeddings=False,
    )
    return LlamaForCausalLM(cfg).eval()


def tiny_gpt2(layers: int = 2, seed: int = 0, vocab: int = 300) -> GPT2LMHeadModel:
    torch.manual_seed(seed)
    cfg = GPT2Config(vocab_size=vocab, n_embd=64, n_layer=layers, n_head=4, n_positions=256, bos_token_id=0, eos_token_id=0)
    return GPT2LMHeadModel(cfg).eval()


CORPUS = {
    "source": "test",
    "split": "heldout",
    "digest": "test",
    "languages": {
        "en": [
            "All human beings are born free and equal in dignity and rights.",
            "Everyone has the right to life, liberty and security of person.",
            "No one shall be held in slavery or servitude.",
            "Everyone has the right to recognition everywhere as a person before the law.",
        ],
        "de": [
            "Alle Menschen sind frei und gleich an Würde und Rechten geboren.",
            "Jeder hat das Recht auf Leben, Freiheit und Sicherheit der Person.",
            "Niemand darf in Sklaverei oder Leibeigenschaft gehalten werden.",
        ],
        "he": [
            "כל בני האדם נולדו בני חורין ושווים בערכם ובזכויותיהם.",
            "לכל אדם הזכות לחיים, לחירות ולבטחון אישי.",
            "לא יהיה אדם עבד או משועבד.",
        ],
    },
}


def save_tiny(out_dir: str, name: str = "tiny-llama", layers: int = 2, seed: int = 0, vocab: int = 320, context: int = 64) -> str:
    """A randomly initialised fixture-architecture model with a byte-level BPE tokenizer, saved in HF format."""
    from polyquant.models.fixture import FixtureConfig, build_model, save_tokenizer, train_tokenizer

    texts = [d for docs in CORPUS["languages"].values() for d in docs]
    tok = train_tokenizer(texts, vocab)
    cfg = FixtureConfig(vocab_size=vocab, layers=layers, context=context)
    model = build_model(name, cfg, tok, seed)
    model.save_pretrained(out_dir)
    save_tokenizer(tok, out_dir, context)
    return out_dir
