"""Calibration sets: byte-balanced mixtures, determinism, clamping, metadata, and errors."""

import pytest
import torch

import calib_tiny as ct
from polyquant.errors import CorpusError, ParameterError
from polyquant.quant.calibration import build_calibration, capture_block_inputs, run_block
from polyquant.models import structure
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
    calls = capture_block_inputs(model, ids, batch_size=2)
    assert [h.shape for h in calls.hidden] == [(2, 12, 64), (2, 12, 64), (1, 12, 64)]
    hidden = calls.hidden
    for i, block in enumerate(structure.blocks(model)):
        hidden = run_block(block, calls.inputs(i, hidden))
    norm = model.model.norm if hasattr(model, "model") else model.transformer.ln_f
    with torch.no_grad():
        logits = torch.cat([model.lm_head(norm(h)) for h in hidden])
        torch.testing.assert_close(logits, model(ids).logits)


def test_replay_gives_each_block_its_own_mask_sliding_and_global_layers():
    """Gemma-2 alternates sliding-window (window 8) and global layers: block 1 must not get block 0's mask."""
    import archs

    model = _gemma2()
    ids = torch.randint(1, 250, (3, 32), generator=torch.Generator().manual_seed(0))
    own_in, own_out = {}, {}
    hooks = []
    for i, b in enumerate(structure.blocks(model)):
        hooks.append(b.register_forward_pre_hook(lambda _m, a, kw, i=i: own_in.update({i: a[0] if a else kw["hidden_states"]}), with_kwargs=True))
        hooks.append(b.register_forward_hook(lambda _m, _a, out, i=i: own_out.update({i: out[0] if isinstance(out, tuple) else out})))
    with torch.no_grad():
        model(input_ids=ids, use_cache=False)
    for h in hooks:
        h.remove()
    calls = capture_block_inputs(model, ids, batch_size=3)
    blocks = structure.blocks(model)
    for i in range(archs.LAYERS):
        torch.testing.assert_close(run_block(blocks[i], calls.inputs(i, [own_in[i]]))[0], own_out[i], rtol=0, atol=0)
    # block 0's arguments replayed for block 1 (what calibration did before) give another output
    wrong = run_block(blocks[1], [(own_in[1], *calls.extras[0][0])])[0]
    assert float((wrong - own_out[1]).abs().max()) > 1e-3 * float(own_out[1].abs().max())


def _gemma2():
    import archs
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(archs.config("gemma2", 300)).eval()
