"""tokenizer-stats against hand counts: a bytes-only BPE (one token per UTF-8 byte) and a
whitespace word-level tokenizer (one token per word)."""

from __future__ import annotations

import json
import os

import pytest

from polyquant import api
from polyquant.errors import ParameterError
from polyquant.kernels.tokenizer_stats import measure_tokenizer

PARALLEL = {
    "en": ["All are equal.", "Everyone has rights."],
    "he": ["כולם שווים.", "לכל אדם זכויות."],
    "zh": ["人人平等。", "人人有权利。"],
}


def _save(tokenizer_object, path: str) -> str:
    from transformers import PreTrainedTokenizerFast

    tok = PreTrainedTokenizerFast(tokenizer_object=tokenizer_object, bos_token="<s>", eos_token="</s>", pad_token="<pad>")
    os.makedirs(path, exist_ok=True)
    from polyquant.models.fixture import save_tokenizer

    save_tokenizer(tok, path, 128)
    return path


@pytest.fixture(scope="module")
def byte_tokenizer_dir(tmp_path_factory):
    """A byte-level BPE with no merges: every UTF-8 byte is one token."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    trainer = trainers.BpeTrainer(vocab_size=3 + len(alphabet), special_tokens=["<pad>", "<s>", "</s>"], initial_alphabet=alphabet, show_progress=False)
    tok.train_from_iterator(["x"], trainer)
    return _save(tok, str(tmp_path_factory.mktemp("tok") / "bytes"))


@pytest.fixture(scope="module")
def word_tokenizer_dir(tmp_path_factory):
    from tokenizers import Tokenizer, models, pre_tokenizers

    words = sorted({w for docs in PARALLEL.values() for d in docs for w in d.split()})
    vocab = {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3, **{w: i + 4 for i, w in enumerate(words)}}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return _save(tok, str(tmp_path_factory.mktemp("tok") / "words"))


def _call(params: dict) -> dict:
    out = json.loads(api.call("tokenizer-stats", json.dumps(params)))
    assert out["ok"], out.get("error")
    return out["result"]


def test_byte_tokenizer_spends_one_token_per_byte(byte_tokenizer_dir):
    result = _call({"model": {"id": byte_tokenizer_dir}, "corpus": {"source": "t", "split": "x", "digest": "d", "languages": PARALLEL}})
    en_bytes = len("All are equal.".encode()) + len("Everyone has rights.".encode())  # 14 + 20
    he_bytes = sum(len(d.encode("utf-8")) for d in PARALLEL["he"])
    assert en_bytes == 34
    for lang, s in result["languages"].items():
        assert s["tokens"] == s["bytes"]
        assert s["tokens_per_byte"] == 1.0
    assert result["languages"]["he"]["premium"] == pytest.approx(he_bytes / 34)
    assert result["languages"]["zh"]["tokens"] == 3 * (4 + 1) + 3 * (5 + 1)  # CJK chars and full stops: 3 bytes each
    assert result["languages"]["zh"]["tokens_per_char"] == pytest.approx(33 / 11)
    assert result["reference"] == "en" and result["languages"]["en"]["premium"] == 1.0


def test_word_tokenizer_counts_words(word_tokenizer_dir):
    result = _call({"model": {"id": word_tokenizer_dir}, "corpus": {"languages": PARALLEL}, "reference": "he"})
    words = {"en": 3 + 3, "he": 2 + 3, "zh": 1 + 1}
    for lang, n in words.items():
        assert result["languages"][lang]["tokens"] == n
        assert result["languages"][lang]["premium"] == pytest.approx(n / 5)
    assert result["languages"]["en"]["bytes_per_token"] == pytest.approx(34 / 6)


def test_reference_must_be_in_the_corpus(word_tokenizer_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(word_tokenizer_dir)
    with pytest.raises(ParameterError, match="reference language 'fr'"):
        measure_tokenizer(tok, PARALLEL, "fr")
    out = json.loads(api.call("tokenizer-stats", json.dumps({"model": {"id": word_tokenizer_dir}, "corpus": {"languages": PARALLEL}, "oops": 1})))
    assert out["ok"] is False and "oops" in out["error"]["message"]


@pytest.mark.fixture
def test_fixture_tokenizer_stats(trained_fixtures, heldout_corpus):
    from transformers import AutoTokenizer

    result = _call({"model": {"id": "fixture:tiny-gpt2"}, "corpus": heldout_corpus})
    tok = AutoTokenizer.from_pretrained(trained_fixtures["tiny-gpt2"])
    counts = {lang: sum(len(tok.encode(d, add_special_tokens=False)) for d in docs) for lang, docs in heldout_corpus["languages"].items()}
    for lang, n in counts.items():
        assert result["languages"][lang]["tokens"] == n
        assert result["languages"][lang]["premium"] == pytest.approx(n / counts["en"])
    assert result["tokenizer"]["vocab_size"] == 2000
