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
