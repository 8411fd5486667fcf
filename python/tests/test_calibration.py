"""Calibration sets: byte-balanced mixtures, determinism, clamping, metadata, and errors."""

import pytest
import torch

import calib_tiny as ct
from polyquant.errors import CorpusError, ParameterError
from polyquant.quant.calibration import build_calibration, capture_block_inputs, run_block
from polyquant.models import registry
from quant_tiny import tiny_gpt2, tiny_llama


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: many tiny ops run faster on one thread


def _bytes_of(tok, ids, lang_of_row):
    """Independent count: decode each row and add its UTF-8 bytes to its language."""
    out = {}
    for row, lang in zip(ids, lang_of_row):
        out[lang] = out.get(lang, 0) + len(tok.decode(row.tolist()).encode("utf-8"))
    return out


def _lang_of(row, tok):
    text = tok.decode(row.tolist())
    if any("\u0590" <= c <= "\u05ff" for c in text):
        return "he"
    if any("\u4e00" <= c <= "\u9fff" for c in text):
        return "zh"
    return "en"


def test_bytes_mix_balances_bytes_not_samples():
    tok = ct.tokenizer()
    ids, meta = build_calibration(tok, ct.corpus(), ["en", "he", "zh"], "bytes", samples=60, seq_len=16, seed=1)
    assert ids.shape == (60, 16) and ids.dtype == torch.long
    per = meta["per_language"]
    counts = {l: per[l]["samples"] for l in per}
    # tokens per byte: en 1, he ≈ 0.55, zh ≈ 0.36 → samples ∝ that, so en gets the most samples
    assert counts["en"] > counts["he"] > counts["zh"] and sum(counts.values()) == 60
    measured = _bytes_of(tok, ids, [_lang_of(r, tok) for r in ids])
    assert measured == {l: per[l]["bytes"] for l in per}
    assert max(measured.values()) / min(measured.values()) < 1.2
    assert per["he"]["tokens"] == counts["he"] * 16


def test_samples_mix_gives_equal_counts_and_unequal_bytes():
    tok = ct.tokenizer()
    ids, meta = build_calibration(tok, ct.corpus(), None, "samples", samples=31, seq_len=16, seed=0)
    counts = [meta["per_language"][l]["samples"] for l in ("en", "he", "zh")]
    assert counts == [11, 10, 10]
    b = {l: meta["per_language"][l]["bytes"] for l in ("en", "zh")}
    assert b["zh"] > 2 * b["en"]  # 3-byte characters: same tokens, far more bytes


def test_deterministic_for_a_seed_and_recorded():
    tok = ct.tokenizer()
    a, ma = build_calibration(tok, ct.corpus(), ["en", "zh"], samples=8, seq_len=16, seed=3)
    b, mb = build_calibration(tok, ct.corpus(), ["en", "zh"], samples=8, seq_len=16, seed=3)
    c, mc = build_calibration(tok, ct.corpus(), ["en", "zh"], samples=8, seq_len=16, seed=4)
    assert torch.equal(a, b) and ma == mb
    assert not torch.equal(a, c) and ma["ids_digest"] != mc["ids_digest"]
    assert ma["corpus"] == {"source": "test", "split": "train", "digest": "test-digest"}
    assert ma["languages"] == ["en", "zh"] and ma["seed"] == 3 and ma["mix"] == "bytes"


def test_windows_are_consecutive_tokens_of_one_language():
    tok = ct.tokenizer()
    ids, _ = build_calibration(tok, ct.corpus(), ["en"], samples=5, seq_len=20, seed=0)
    stream = "\n\n".join(ct.EN)
    for row in ids:
        assert tok.decode(row.tolist()) in stream


def test_seq_len_clamped_to_model_context_and_short_languages_repeat():
    tok = ct.tokenizer()
    ids, meta = build_calibration(tok, ct.corpus(), ["zh"], samples=2, seq_len=512, seed=0, max_positions=128)
    assert ids.shape == (2, 128)
    assert meta["seq_len"] == 128 and meta["seq_len_requested"] == 512 and meta["seq_len_clamped"]
    assert meta["per_language"]["zh"]["repeated"]  # 64 source tokens < 128


def test_bad_calibration_input_names_the_value():
    tok = ct.tokenizer()
    with pytest.raises(CorpusError, match="'fr'"):
        build_calibration(tok, ct.corpus(), ["en", "fr"], samples=4, seq_len=8)
    with pytest.raises(ParameterError, match="mix 'tokens'"):
        build_calibration(tok, ct.corpus(), None, "tokens", samples=4, seq_len=8)
    with pytest.raises(ParameterError, match="samples 2 is fewer than the 3 languages"):
        build_calibration(tok, ct.corpus(), None, samples=2, seq_len=8)
    with pytest.raises(ParameterError, match="seq_len 0"):
        build_calibration(tok, ct.corpus(), None, samples=4, seq_len=0)


@pytest.mark.parametrize("make", [tiny_llama, tiny_gpt2])
def test_block_inputs_replay_the_model(make):
    model = make(layers=2)
    ids = torch.randint(1, 200, (5, 12))
    inputs = capture_block_inputs(model, ids, batch_size=2)
    assert [h.shape for h, _, _ in inputs] == [(2, 12, 64), (2, 12, 64), (1, 12, 64)]
    hidden = inputs
    for block in registry.blocks(model):
        hidden = [(o, a, k) for o, (_, a, k) in zip(run_block(block, hidden), hidden)]
    fam = registry.family_of(model)
    norm = registry.module(model, fam.final_norm)
    logits = torch.cat([model.lm_head(norm(h)) for h, _, _ in hidden])
    with torch.no_grad():
        torch.testing.assert_close(logits, model(ids).logits)
