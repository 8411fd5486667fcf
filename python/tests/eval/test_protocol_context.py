"""The perplexity protocol's context and BOS handling against what lm-eval does.

- The context defaults to the model's own length (lm-eval's HFLM.max_length), not a cap: a random
  Llama with 8192 positions is measured in 8192-token windows, recorded as `context_from: model`.
- Memory permitting: when one window does not fit, the context halves (recorded `memory`), and a
  batch that does not fit halves the batch, which changes no number.
- `compat: lm_eval` reproduces lm-eval's loglikelihood_rolling on a tokenizer that adds BOS
  itself (the real Llama-2 tokenizer): lm-eval's tok_encode with add_bos_token unset keeps the
  tokenizer's default, so the token list starts with BOS, and the rolling windows put the prefix
  token (BOS again) in front. The reference below is written from lm-eval's code
  (lm_eval/models/huggingface.py loglikelihood_rolling, lm_eval/utils.py get_rolling_token_windows)
  for documents shorter than the context: one window, input [BOS] + L[:-1], predicting all of L.
"""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from polyquant.errors import ParameterError
from polyquant.eval.perplexity import Protocol, measure
from polyquant.eval.window_memory import window_memory
from real_tokenizers import random_llama

DOCS = {"en": ["All human beings are born free and equal in dignity and rights.", "Everyone has the right to life."],
        "he": ["כל בני האדם נולדו בני חורין ושווים בערכם ובזכויותיהם."]}
CORPUS = {"source": "test", "split": "heldout", "digest": "t", "languages": DOCS}


@pytest.fixture(scope="module")
def llama(tmp_path_factory):
    tok, _model, loaded = random_llama("llama2", str(tmp_path_factory.mktemp("llama8k")), positions=8192)
    return tok, loaded


def test_the_context_defaults_to_the_model_length_beyond_4096(llama):
    _, loaded = llama
    resolved = Protocol().resolve_for(loaded)
    assert resolved.context_length == 8192 and resolved.context_from == "model"
    assert Protocol(context_length=512).resolve_for(loaded).context_from == "given"
    assert resolved.resolve_for(loaded) == resolved  # a resolved protocol resolves to itself


def test_memory_halves_the_context_then_the_batch_and_says_so(llama):
    _, loaded = llama
    mem = window_memory(loaded)
    assert mem is not None and mem.vocab == 32000 and mem.hidden == 32 and mem.ffn == 64
    # the estimate, by hand: two logits and their float32 log-probs, 3 MLP tensors, 4 residual tensors
    # per token (float32), scores on a CPU; the larger NLL/KL chunk; the forward and the scoring apart
    T = 1024
    forward = 2 * (T * 4 * (3 * 64 + 4 * 32) + 4 * 2 * T * T)
    scoring = 2 * T * 12 * 32000 + max(2 * 4 * (1 << 26), 4 * 8 * (1 << 24))
    assert mem.batch_bytes(2, T) == max(forward, scoring)
    short = dataclasses.replace(mem, available=mem.batch_bytes(1, 2048))
    r = Protocol(batch_size=8).resolve(loaded.max_positions, short)
    assert (r.context_length, r.context_from, r.batch_size) == (2048, "memory", 1)
    roomy = dataclasses.replace(mem, available=mem.batch_bytes(4, 8192))
    r = Protocol(batch_size=8).resolve(loaded.max_positions, roomy)
    assert (r.context_length, r.context_from, r.batch_size) == (8192, "model", 4)
    # a context that was asked for is kept, whatever the estimate says
    r = Protocol(context_length=8192).resolve(loaded.max_positions, short)
    assert (r.context_length, r.context_from, r.batch_size) == (8192, "given", 1)


def test_the_batch_memory_chooses_changes_no_number(llama):
    _, loaded = llama
    full = measure(loaded, CORPUS, Protocol(context_length=16, batch_size=8))
    mem = window_memory(loaded)
    one = measure(loaded, CORPUS, Protocol(context_length=16, batch_size=8), memory=dataclasses.replace(mem, available=mem.batch_bytes(1, 16)))
    for lang in DOCS:
        assert one[lang]["nll"] == pytest.approx(full[lang]["nll"], rel=1e-12)


def _lm_eval_rolling_nll(tok, model, text: str) -> tuple[float, int]:
    """lm-eval 0.4's loglikelihood_rolling for one document shorter than the context."""
    token_list = tok.encode(text)  # tok_encode: add_special_tokens left to the tokenizer (BOS added)
    prefix = tok.bos_token_id  # HFLM.prefix_token_id
    inp = torch.tensor([[prefix] + token_list[:-1]])
    with torch.no_grad():
        logp = torch.log_softmax(model(inp).logits[0].double(), dim=-1)
    return -sum(float(logp[t, y]) for t, y in enumerate(token_list)), len(token_list)


def test_lm_eval_compat_reproduces_lm_eval_with_a_tokenizer_that_adds_bos(llama):
    tok, loaded = llama
    assert tok.encode("x")[0] == tok.bos_token_id  # the Llama-2 tokenizer adds BOS itself
    compat = measure(loaded, CORPUS, Protocol(compat="lm_eval"))
    plain = measure(loaded, CORPUS, Protocol())
    for lang, docs in DOCS.items():
        ref = [_lm_eval_rolling_nll(tok, loaded.model, d) for d in docs]
        assert compat[lang]["nll"] == pytest.approx(math.fsum(n for n, _ in ref), rel=1e-9)
        assert compat[lang]["tokens"] == sum(t for _, t in ref)
        # the difference it documents: one more scored token (the second BOS) per document
        assert compat[lang]["tokens"] == plain[lang]["tokens"] + len(docs)
        assert compat[lang]["bytes"] == plain[lang]["bytes"]


def test_lm_eval_compat_is_the_rolling_protocol_only():
    with pytest.raises(ParameterError, match="lm_eval.*rolling"):
        Protocol(name="chunked", compat="lm_eval").validate()
    with pytest.raises(ParameterError, match="add_bos"):
        Protocol(compat="lm_eval", add_bos=False).validate()
    with pytest.raises(ParameterError, match="compat 'lm-eval'"):
        Protocol(compat="lm-eval").validate()
