"""Perplexity: windows against lm-eval's own gold, losses against transformers' `labels=` loss,
batched against unbatched, and the per-language arithmetic against hand computations."""

from __future__ import annotations

import math

import pytest
import torch

from polyquant.errors import CorpusError, ParameterError
from polyquant.eval.perplexity import (
    IGNORE,
    Protocol,
    encode,
    iterate_batches,
    make_windows,
    measure,
    prefix_token_id,
    rolling_token_windows,
    summarize,
)


def test_rolling_windows_match_lm_eval_gold():
    # gold from lm-evaluation-harness tests/test_utils.py::test_get_rolling_token_windows_v1
    gold = [
        ([-100, 0, 1, 2, 3, 4, 5, 6, 7, 8], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]),
        ([9, 10, 11, 12, 13, 14, 15, 16, 17, 18], [10, 11, 12, 13, 14, 15, 16, 17, 18, 19]),
        ([19, 20, 21, 22, 23, 24, 25, 26, 27, 28], [20, 21, 22, 23, 24, 25, 26, 27, 28, 29]),
        ([23, 24, 25, 26, 27, 28, 29, 30, 31, 32], [30, 31, 32, 33]),
    ]
    assert list(rolling_token_windows(list(range(34)), -100, 10)) == gold


def _hf_labels_nll(model, window) -> tuple[float, int]:
    """transformers' own loss on the window: input + the last target, labels shifted by one."""
    ids = window.input_ids + [window.labels[-1] if window.labels[-1] != IGNORE else 0]
    hf_labels = [IGNORE] + list(window.labels)
    for t, y in enumerate(window.labels):  # the shifted labels really are the next input tokens
        if y != IGNORE:
            assert ids[t + 1] == y
    n = sum(1 for y in window.labels if y != IGNORE)
    with torch.no_grad():
        out = model(input_ids=torch.tensor([ids]), labels=torch.tensor([hf_labels]))
    return float(out.loss) * n, n


@pytest.mark.parametrize("name", ["rolling", "chunked", "sliding"])
def test_measure_equals_transformers_labels_loss(tiny_loaded, sample_corpus, name):
    protocol = Protocol(name=name, context_length=16, stride=5 if name == "sliding" else None, batch_size=3)
    stats = measure(tiny_loaded, sample_corpus, protocol)
    resolved = protocol.resolve(tiny_loaded.max_positions)
    for lang, docs in sample_corpus["languages"].items():
        windows = make_windows(tiny_loaded.tokenizer, docs, resolved)
        total, count = 0.0, 0
        for w in windows:
            nll, n = _hf_labels_nll(tiny_loaded.model, w)
            total += nll
            count += n
        assert stats[lang]["tokens"] == count
        assert stats[lang]["nll"] == pytest.approx(total, rel=1e-5)
        assert stats[lang]["nll"] / count == pytest.approx(total / count, abs=1e-5)
        assert sum(stats[lang]["segments"]["nll"]) == pytest.approx(stats[lang]["nll"], rel=1e-12)
        assert len(stats[lang]["segments"]["nll"]) == len(windows)


def test_batched_equals_unbatched(tiny_loaded, sample_corpus):
    docs = [d for ds in sample_corpus["languages"].values() for d in ds]
    protocol = Protocol(name="rolling", context_length=40).resolve(tiny_loaded.max_positions)
    windows = make_windows(tiny_loaded.tokenizer, docs, protocol)
    lengths = {len(w.input_ids) for w in windows}
    assert len(lengths) > 1, "the test needs windows of different lengths so padding happens"
    single = {}
    for idx, logits, labels in iterate_batches(tiny_loaded.model, windows, 1):
        single[idx[0]] = logits[0]
    for idx, logits, labels in iterate_batches(tiny_loaded.model, windows, 7, pad_id=tiny_loaded.tokenizer.pad_token_id):
        for row, i in enumerate(idx):
            n = len(windows[i].input_ids)
            torch.testing.assert_close(logits[row, :n], single[i], atol=1e-5, rtol=0)
            assert (labels[row, n:] == IGNORE).all()
            assert labels[row, :n].tolist() == windows[i].labels


def test_rolling_document_longer_than_context_scores_each_token_once(tiny_loaded):
    tok = tiny_loaded.tokenizer
    doc = " ".join(["All human beings are born free and equal in dignity and rights."] * 4)
    tokens = encode(tok, doc)
    assert len(tokens) > 3 * 16
    protocol = Protocol(name="rolling", context_length=16).resolve(tiny_loaded.max_positions)
    windows = make_windows(tok, [doc], protocol)
    assert len(windows) == math.ceil(len(tokens) / 16)
    assert windows[0].input_ids[0] == prefix_token_id(tok) == tok.bos_token_id
    scored = [y for w in windows for y in w.labels if y != IGNORE]
    assert scored == tokens
    assert all(len(w.input_ids) == 16 for w in windows)  # the last window is filled with earlier context
    assert [w.segment for w in windows] == list(range(len(windows)))


def test_sliding_scores_each_token_once_with_bounded_context(tiny_loaded):
    tok = tiny_loaded.tokenizer
    doc = "Everyone has the right to life, liberty and security of person. " * 3
    tokens = encode(tok, doc)
    protocol = Protocol(name="sliding", context_length=10, stride=4).resolve(tiny_loaded.max_positions)
    windows = make_windows(tok, [doc], protocol)
    assert [y for w in windows for y in w.labels if y != IGNORE] == tokens
    assert all(len(w.input_ids) <= 10 for w in windows)
    # after the first window, each window scores at most `stride` new tokens
    assert all(w.scored <= 4 for w in windows[1:])


def test_chunked_tiles_the_joined_text(tiny_loaded, sample_corpus):
    tok = tiny_loaded.tokenizer
    docs = sample_corpus["languages"]["en"]
    protocol = Protocol(name="chunked", context_length=8).resolve(tiny_loaded.max_positions)
    windows = make_windows(tok, docs, protocol)
    ids = [tok.bos_token_id] + encode(tok, "\n\n".join(docs))
    rebuilt = [t for w in windows for t in [w.input_ids[0]] + w.labels]
    assert rebuilt == ids[: len(rebuilt)] and len(ids) - len(rebuilt) <= 1
    assert all(len(w.input_ids) == 7 for w in windows[:-1])


def test_summary_arithmetic_by_hand():
    s = summarize(nll=10.0, tokens=4, n_bytes=5, chars=3)
    assert s["ppl"] == pytest.approx(12.182493960703473)  # e^2.5
    assert s["bits_per_byte"] == pytest.approx(2.8853900817779268)  # 10 / (5 ln 2)
    assert s["bits_per_char"] == pytest.approx(4.808983469629878)  # 10 / (3 ln 2)


def test_measure_counts_bytes_and_chars(tiny_loaded):
    corpus = {"languages": {"he": ["שלום עולם", "אבג"], "en": ["hello"]}}
    stats = measure(tiny_loaded, corpus, Protocol(name="rolling"))
    he = stats["he"]
    assert (he["bytes"], he["chars"], he["documents"]) == (2 * 8 + 1 + 2 * 3, 9 + 3, 2)  # Hebrew letters: 2 bytes
    assert he["doc_bytes"] == [17, 6]
    assert he["bits_per_byte"] == pytest.approx(he["nll"] / (23 * math.log(2)))
    assert he["ppl"] == pytest.approx(math.exp(he["nll"] / he["tokens"]))
    assert stats["en"]["tokens"] == len(encode(tiny_loaded.tokenizer, "hello"))


def test_measure_reports_progress_and_partials(tiny_loaded, sample_corpus):
    events = []

    class Ctx:
        def progress(self, done, total, unit, message=""):
            events.append(("progress", done, total, unit))

        def partial(self, result):
            events.append(("partial", result["language"], result["bits_per_byte"]))

        def should_stop(self):
            return False

    stats = measure(tiny_loaded, sample_corpus, Protocol(name="rolling", batch_size=2), Ctx())
    progress = [e for e in events if e[0] == "progress"]
    assert progress[-1][1] == progress[-1][2] and progress[-1][3] == "windows"
    assert [e[1] for e in events if e[0] == "partial"] == list(sample_corpus["languages"])
    assert {e[1]: e[2] for e in events if e[0] == "partial"} == {k: v["bits_per_byte"] for k, v in stats.items()}


def test_protocol_errors_name_the_bad_value(tiny_loaded, sample_corpus):
    with pytest.raises(ParameterError, match="'beam'"):
        Protocol(name="beam").validate()
    with pytest.raises(ParameterError, match="stride 4 is only used by the sliding"):
        Protocol(name="rolling", stride=4).validate()
    with pytest.raises(ParameterError, match="context_length 4096 exceeds the model's 128"):
        measure(tiny_loaded, sample_corpus, Protocol(context_length=4096))
    with pytest.raises(CorpusError, match="'xx' has no text"):
        measure(tiny_loaded, {"languages": {"xx": ["", "  "]}}, Protocol())
    with pytest.raises(ParameterError, match="unknown perplexity protocol key"):
        Protocol.from_params({"name": "rolling", "window": 3})


def test_default_context_is_the_models_max_positions(tiny_loaded):
    assert Protocol().resolve(tiny_loaded.max_positions).context_length == 128
    assert Protocol(name="sliding").resolve(128).stride == 64


@pytest.mark.fixture
@pytest.mark.parametrize("name", ["tiny-llama", "tiny-gpt2"])
def test_trained_fixtures_match_transformers_loss(trained_fixtures, heldout_corpus, name):
    from polyquant.models.load import load_model

    loaded = load_model({"id": f"fixture:{name}"})
    corpus = {**heldout_corpus, "languages": {k: v[:2] for k, v in heldout_corpus["languages"].items()}}
    protocol = Protocol(name="rolling", context_length=64)
    stats = measure(loaded, corpus, protocol)
    resolved = protocol.resolve(loaded.max_positions)
    for lang, docs in corpus["languages"].items():
        total = sum(_hf_labels_nll(loaded.model, w)[0] for w in make_windows(loaded.tokenizer, docs, resolved))
        assert stats[lang]["nll"] == pytest.approx(total, rel=1e-5)
        # a trained model is far better than uniform over its 2000 tokens
        assert stats[lang]["ppl"] < 2000 / 4


def test_batches_are_length_sorted_with_bounded_padding():
    """Every window once; longest first; no batch over batch_size or over PADDING_WASTE_MAX padding
    (and within PADDING_POSITIONS_FREE positions; UDHR's en documents at Llama-2's tokenizer: 138, 61, 27, 108, 47 tokens)."""
    from polyquant.eval.perplexity import PADDING_POSITIONS_FREE, PADDING_WASTE_MAX, Window, batch_indices

    lengths = [138, 61, 27, 108, 47, 140, 139, 12, 12, 12, 12, 12, 12, 12, 12, 12]
    windows = [Window(doc=i, segment=0, input_ids=[1] * n, labels=[1] * n) for i, n in enumerate(lengths)]
    batches = batch_indices(windows, 8)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    assert [lengths[b[0]] for b in batches] == sorted((lengths[b[0]] for b in batches), reverse=True)
    for b in batches:
        assert len(b) <= 8
        padded = len(b) * lengths[b[0]]
        assert padded - sum(lengths[i] for i in b) <= max(PADDING_WASTE_MAX * padded, PADDING_POSITIONS_FREE)
    # 140..47 share a pass (207 of 840 positions padding); 27 takes four 12s (waste 60), the other five 12s the last
    assert batches == [[5, 6, 0, 3, 1, 4], [2, 7, 8, 9, 10], [11, 12, 13, 14, 15]]
