"""Shared pytest fixtures.

Unit tests use tiny randomly initialised models (hidden 64, 2 layers, vocab ~300) saved to a temp
dir and loaded through `load_model`, so they are fast and need no trained fixture. Tests that need
the trained fixture models (`fixture:tiny-llama`, `fixture:tiny-gpt2`) take the `trained_fixtures`
fixture and carry the `fixture` marker; `-m "not fixture"` skips them.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest
import torch

# the test kernels (python/tests/engine_kernels.py) are registered only under this switch
os.environ.setdefault("POLYQUANT_TEST_KERNELS", "1")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURE_LANGUAGES = ["en", "de", "fr", "es", "ru", "he", "ar", "hi", "zh", "ja", "ko", "sw", "tr", "fi"]
HELDOUT_LANGUAGES = ["en", "he", "ar", "zh"]

# A little multilingual text for the unit tests' tokenizer and corpora (not the UDHR).
SAMPLE_TEXT = {
    "en": [
        "All human beings are born free and equal in dignity and rights.",
        "They are endowed with reason and conscience and should act towards one another in a spirit of brotherhood.",
        "Everyone has the right to life, liberty and security of person.",
    ],
    "de": ["Alle Menschen sind frei und gleich an Würde und Rechten geboren.", "Jeder hat das Recht auf Leben und Freiheit."],
    "he": ["כל בני האדם נולדו בני חורין ושווים בערכם ובזכויותיהם.", "לכל אדם הזכות לחיים, לחירות ולבטחון אישי."],
    "zh": ["人人生而自由，在尊严和权利上一律平等。", "人人有权享有生命、自由和人身安全。"],
    "ar": ["يولد جميع الناس أحرارًا متساوين في الكرامة والحقوق.", "لكل فرد الحق في الحياة والحرية وسلامة شخصه."],
}


@pytest.fixture(scope="module")
def one_thread():
    """Many tiny ops: one thread is faster than two contended ones on a shared machine."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def pytest_configure(config):
    config.addinivalue_line("markers", "fixture: needs the trained fixture models (trains them on first use)")


def polyquant_corpus(split: str, languages: list[str]) -> dict:
    """The ResolvedCorpus the engine would pass, from the `polyquant corpus` command."""
    out = subprocess.run(
        ["node", os.path.join(ROOT, "bin", "polyquant.js"), "corpus", "--split", split, "--languages", ",".join(languages), "--json"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return json.loads(out.stdout)


@pytest.fixture(scope="session")
def sample_corpus() -> dict:
    return {"source": "test", "split": "heldout", "digest": "sample", "languages": SAMPLE_TEXT}


@pytest.fixture(scope="session")
def tiny_tokenizer():
    from polyquant.models.fixture import train_tokenizer

    texts = [d for docs in SAMPLE_TEXT.values() for d in docs]
    return train_tokenizer(texts * 3, vocab_size=300)


def _save_tiny(tmp_dir, name: str, tokenizer, layers: int = 2) -> str:
    from polyquant.models.fixture import FixtureConfig, build_model, save_tokenizer

    cfg = FixtureConfig(layers=layers)
    model = build_model(name, cfg, tokenizer, seed=1234)
    with torch.no_grad():  # random init has near-uniform logits; larger weights make the tests sharper
        for p in model.parameters():
            if p.dim() > 1:
                p.mul_(4.0)
    path = os.path.join(str(tmp_dir), name)
    model.save_pretrained(path, safe_serialization=True)
    save_tokenizer(tokenizer, path, cfg.context)
    return path


@pytest.fixture(scope="session")
def tiny_model_dirs(tmp_path_factory, tiny_tokenizer) -> dict[str, str]:
    """Local dirs of randomly initialised tiny-llama and tiny-gpt2 (2 layers, vocab 300)."""
    root = tmp_path_factory.mktemp("tiny-models")
    return {name: _save_tiny(root, name, tiny_tokenizer) for name in ("tiny-llama", "tiny-gpt2")}


@pytest.fixture(scope="session", params=["tiny-llama", "tiny-gpt2"])
def tiny_loaded(request, tiny_model_dirs):
    """A LoadedModel per architecture (parametrized), loaded through load_model."""
    from polyquant.models.load import load_model

    return load_model({"id": tiny_model_dirs[request.param], "device": "cpu"})


@pytest.fixture(scope="session")
def train_corpus() -> dict:
    return polyquant_corpus("train", FIXTURE_LANGUAGES)


@pytest.fixture(scope="session")
def heldout_corpus() -> dict:
    return polyquant_corpus("heldout", HELDOUT_LANGUAGES)


@pytest.fixture(scope="session")
def trained_fixtures(train_corpus) -> dict[str, str]:
    """Makes sure both fixture models exist in $POLYQUANT_CACHE/fixtures (training the missing ones)."""
    from polyquant.models.fixture import train_fixture
    from polyquant.models.load import fixture_dir

    dirs = {}
    for name in ("tiny-llama", "tiny-gpt2"):
        dirs[name] = fixture_dir(name)
        train_fixture(name, train_corpus, dirs[name])
    return dirs
