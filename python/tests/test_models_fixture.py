"""Fixture trainer: bit-identical reruns, the saved layout (tokenizer loads with AutoTokenizer,
metadata), cached/stale handling; and, on the trained fixtures, that training got well below the
unigram loss and the models load through `fixture:<name>`."""

from __future__ import annotations

import json
import os

import pytest
import torch
from safetensors.torch import load_file

from polyquant.errors import CorpusError, ParameterError
from polyquant.models.fixture import FIXTURE_META, FixtureConfig, train_fixture
from polyquant.models.load import load_model

SHORT = FixtureConfig(steps=3, batch_size=2, warmup=1, vocab_size=400)


@pytest.fixture(scope="module")
def small_corpus(sample_corpus):
    return {**sample_corpus, "split": "train", "languages": {k: v * 4 for k, v in sample_corpus["languages"].items()}}


@pytest.mark.parametrize("name", ["tiny-llama", "tiny-gpt2"])
def test_training_is_bit_identical_for_a_fixed_seed(tmp_path, small_corpus, name):
    a = train_fixture(name, small_corpus, str(tmp_path / "a"), seed=3, config=SHORT)
    b = train_fixture(name, small_corpus, str(tmp_path / "b"), seed=3, config=SHORT)
    wa, wb = load_file(str(tmp_path / "a" / "model.safetensors")), load_file(str(tmp_path / "b" / "model.safetensors"))
    assert wa.keys() == wb.keys()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert a["final_loss"] == b["final_loss"] and a["steps"] == 3 and a["threads"] == 2
    c = train_fixture(name, small_corpus, str(tmp_path / "c"), seed=4, config=SHORT)
    wc = load_file(str(tmp_path / "c" / "model.safetensors"))
    assert not all(torch.equal(wa[k], wc[k]) for k in wa)
    assert c["final_loss"] != a["final_loss"]


def test_saved_layout_loads_with_auto_classes(tmp_path, small_corpus):
    from transformers import AutoTokenizer

    out = tmp_path / "fx"
    meta = train_fixture("tiny-gpt2", small_corpus, str(out), config=SHORT)
    required = {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", FIXTURE_META}
    assert required <= set(os.listdir(out))
    assert json.load(open(out / "tokenizer_config.json"))["tokenizer_class"] == "PreTrainedTokenizerFast"
    tok = AutoTokenizer.from_pretrained(str(out))
    assert (tok.bos_token, tok.eos_token, tok.pad_token) == ("<s>", "</s>", "<pad>")
    text = "人人生而自由 כל בני האדם"
    assert tok.decode(tok(text, add_special_tokens=False)["input_ids"]) == text  # byte-level: lossless
    assert json.load(open(out / FIXTURE_META)) == meta
    assert meta["corpus_digest"] == "sample" and meta["languages"] == sorted(small_corpus["languages"])
    assert meta["n_params"] == sum(p.numel() for p in load_model({"id": str(out)}).model.parameters())
    assert not any(p.startswith(".fx.tmp") for p in os.listdir(tmp_path))  # the temp dir was renamed away


def test_cached_fixture_is_reused_and_stale_one_retrained(tmp_path, small_corpus):
    out = str(tmp_path / "fx")
    first = train_fixture("tiny-llama", small_corpus, out, config=SHORT)
    again = train_fixture("tiny-llama", small_corpus, out, config=SHORT)
    assert again["training_seconds"] == first["training_seconds"]  # read back, not retrained
    other = {**small_corpus, "digest": "other"}
    retrained = train_fixture("tiny-llama", other, out, config=SHORT)
    assert retrained["corpus_digest"] == "other"


def test_bad_inputs_name_the_value(tmp_path):
    with pytest.raises(CorpusError, match="no languages"):
        train_fixture("tiny-llama", {"languages": {}}, str(tmp_path / "x"), config=SHORT)
    with pytest.raises(ParameterError, match="steps 0"):
        train_fixture("tiny-llama", {"languages": {"en": ["a"]}}, str(tmp_path / "x"), steps=0)
    with pytest.raises(CorpusError, match="fewer than one 128-token block"):
        train_fixture("tiny-llama", {"languages": {"en": ["a b"]}}, str(tmp_path / "x"), config=SHORT)


@pytest.mark.fixture
def test_trained_fixtures_learned_and_load(trained_fixtures):
    for name, path in trained_fixtures.items():
        meta = json.load(open(os.path.join(path, FIXTURE_META)))
        assert meta["final_loss"] < meta["unigram_loss"] - 1.0, meta  # learned context, not just frequencies
        assert 300_000 < meta["n_params"] < 700_000
        loaded = load_model({"id": f"fixture:{name}"})
        assert loaded.structure.model_type == ("llama" if name == "tiny-llama" else "gpt2")
        assert loaded.max_positions == 128 and len(loaded.tokenizer) == 2000


def test_concurrent_trainers_train_once(tmp_path, small_corpus):
    from concurrent.futures import ThreadPoolExecutor

    out = str(tmp_path / "fx")
    with ThreadPoolExecutor(2) as pool:
        metas = list(pool.map(lambda _: train_fixture("tiny-gpt2", small_corpus, out, config=SHORT), range(2)))
    assert metas[0] == metas[1]  # the second waited for the first and reused its result
    assert [p for p in os.listdir(tmp_path) if p.startswith(".fx.tmp")] == []


def test_cli_trains_into_out(tmp_path, small_corpus):
    import subprocess
    import sys

    corpus_path = tmp_path / "corpus.json"
    corpus_path.write_text(json.dumps(small_corpus))
    out = tmp_path / "cli-fx"
    proc = subprocess.run(
        [sys.executable, "-m", "polyquant.models.fixture", "--corpus", str(corpus_path), "--name", "tiny-gpt2", "--out", str(out), "--steps", "2"],
        capture_output=True,
        text=True,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    meta = json.loads(proc.stdout)
    assert meta["steps"] == 2 and meta["name"] == "tiny-gpt2"
    assert json.load(open(out / FIXTURE_META)) == meta
