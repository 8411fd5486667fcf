"""The analysis kernels through api.call on tiny random models, and on the trained fixtures (marked)."""

import json

import pytest
import torch

from polyquant import api
from polyquant.analysis.windows import corpus_windows
from polyquant.models import resident


def _call(kernel, params, ctx=None):
    return json.loads(api.call(kernel, json.dumps(params), json.dumps(ctx or {})))


def test_attention_heads_kernel_numbers(tiny_model_dirs, sample_corpus):
    spec = {"id": tiny_model_dirs["tiny-llama"], "device": "cpu"}
    params = {"model": spec, "corpus": sample_corpus, "languages": ["en", "he", "zh"], "seq_len": 16, "max_windows": 2}
    out = _call("attention-heads", params)
    assert out["ok"], out.get("error")
    res = out["result"]
    loaded = resident.get(spec)
    windows = corpus_windows(loaded.tokenizer, sample_corpus["languages"], ["en", "he", "zh"], 16, 2)
    for lang, ws in windows.items():
        # Independent: transformers' own loss on each window, token-weighted.
        with torch.no_grad():
            tot = sum(float(loaded.model(input_ids=w[None], labels=w[None]).loss) * (len(w) - 1) for w in ws)
        assert res["base_nll"][lang] == pytest.approx(tot / sum(len(w) - 1 for w in ws), rel=1e-5)
    assert res["windows"] == {"en": 2, "he": 2, "zh": 2}
    assert res["n_heads"] == len(res["heads"]) == res["layers"] * res["heads_per_layer"]
    assert res["n_specific"] == sum(bool(h["specific_to"]) for h in res["heads"])


def test_kernels_reject_bad_parameters_by_name(tiny_model_dirs, sample_corpus):
    spec = {"id": tiny_model_dirs["tiny-gpt2"], "device": "cpu"}
    bad = _call("attention-heads", {"model": spec, "corpus": sample_corpus, "rule": {"k": 0}})
    assert not bad["ok"] and "with.rule.k: 0 is less than or equal to the minimum of 0" in bad["error"]["message"]
    bad = _call("attention-heads", {"model": spec, "corpus": sample_corpus, "languages": ["en", "xx"]})
    assert not bad["ok"] and "language 'xx' is not in the corpus" in bad["error"]["message"]
    bad = _call("layer-importance", {"model": spec, "corpus": sample_corpus, "hutchinson_samples": -2})
    assert not bad["ok"] and "with.hutchinson_samples: -2 is less than or equal to the minimum of 0" in bad["error"]["message"]
    bad = _call("layer-importance", {"model": spec, "corpus": sample_corpus, "criteria": ["fisher"], "seq_len": 1})
    assert not bad["ok"] and "with.seq_len: 1 is less than the minimum of 2" in bad["error"]["message"]


@pytest.mark.fixture
def test_on_trained_fixtures(trained_fixtures, heldout_corpus):
    """On the trained tiny-gpt2: every head matters somewhere, RTN int3 of some layer hurts, and the
    bundled UDHR questions score at least one letter per language (no NaN anywhere)."""
    spec = {"id": "fixture:tiny-gpt2", "device": "cpu"}
    heads = _call("attention-heads", {"model": spec, "corpus": heldout_corpus, "seq_len": 64, "max_windows": 2})
    assert heads["ok"], heads.get("error")
    res = heads["result"]
    assert 0 <= res["share_specific"] <= 1
    assert all(torch.isfinite(torch.tensor(list(h["delta_nll"].values()))).all() for h in res["heads"])
    imp = _call(
        "layer-importance",
        {"model": spec, "corpus": heldout_corpus, "languages": ["en", "he"], "max_windows": 2, "seq_len": 64,
         "hutchinson_samples": 2, "quant": {"bits": 2, "group_size": 32}},
    )
    assert imp["ok"], imp.get("error")
    rows = imp["result"]["per_language"]["en"]["layers"]
    for row in rows:
        assert row["fisher"] > 0 and 0 < row["block_influence"] < 2
    # One layer at int2 on 2 windows: small, and a layer can even help by chance; some layer must hurt.
    assert max(row["quant_sensitivity"] for row in rows) > 0
    te = _call("task-eval", {"model": spec, "limit": 8})
    assert te["ok"], te.get("error")
    assert set(te["result"]["per_language"]) == {"en", "he", "ar", "zh"}
