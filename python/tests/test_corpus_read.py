"""Hub and tabular corpora (polyquant.corpus): FLORES+ from an offline `datasets` cache in its
published columns, any dataset by config / split / text_field, and parquet, jsonl and csv files."""

from __future__ import annotations

import csv
import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import hf_cache
from polyquant.corpus import flores
from polyquant.corpus.__main__ import answer
from polyquant.corpus.read import file_documents, hub_documents
from polyquant.errors import CorpusError


@pytest.fixture(scope="module")
def offline_cache(tmp_path_factory):
    """A datasets cache holding FLORES+ (en, he, ar, zh) and a generic two-config dataset, read offline."""
    cache = str(tmp_path_factory.mktemp("hf-datasets"))
    hf_cache.write_flores(cache)
    for lang in ("en", "he"):
        rows = [{"sentence": f"{lang} test {i}", "label": i} for i in range(3)]
        hf_cache.add_to_cache(cache, "someone/parallel", f"{lang}-v1", {"test": rows, "train": rows[:1]})
    old = {k: os.environ.get(k) for k in ("HF_DATASETS_CACHE", "HF_HUB_OFFLINE")}
    os.environ.update(HF_DATASETS_CACHE=cache, HF_HUB_OFFLINE="1")
    import datasets.config

    saved, datasets.config.HF_DATASETS_CACHE = datasets.config.HF_DATASETS_CACHE, cache
    saved_offline, datasets.config.HF_HUB_OFFLINE = datasets.config.HF_HUB_OFFLINE, True
    yield cache
    datasets.config.HF_DATASETS_CACHE, datasets.config.HF_HUB_OFFLINE = saved, saved_offline
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def test_flores_from_the_offline_cache(offline_cache):
    docs, read = hub_documents(flores.DATASET, ["en", "he", "ar", "zh"], "heldout")
    assert docs["he"] == hf_cache.FLORES_SAMPLE["heb_Hebr"]  # devtest: polyquant's heldout
    assert read["zh"] == {"config": "cmn_Hans", "splits": ["devtest"], "documents": 3}
    train, _ = hub_documents(flores.DATASET, ["en"], "train")  # dev: calibration text, never the evaluation text
    assert train["en"] == [s[::-1] for s in hf_cache.FLORES_SAMPLE["eng_Latn"]]
    both, _ = hub_documents(flores.DATASET, ["he"], "all")
    assert len(both["he"]) == 6


def test_flores_errors_say_what_to_do(offline_cache):
    with pytest.raises(CorpusError, match="language 'xx' has no FLORES\\+ config"):
        hub_documents(flores.DATASET, ["en", "xx"], "heldout")
    with pytest.raises(CorpusError, match=r"config fra_Latn\) is not in the local cache.*load it once online.*source: files"):
        hub_documents(flores.DATASET, ["fr"], "heldout")
    with pytest.raises(CorpusError, match="FLORES\\+ has the splits dev and devtest"):
        hub_documents(flores.DATASET, ["en"], "test")
    assert flores.config_of("heb_Hebr") == "heb_Hebr" and flores.config_of("cmn_hant") == "zho_Hant"


def test_any_dataset_by_config_split_and_text_field(offline_cache):
    docs, read = hub_documents("someone/parallel", ["en", "he"], "heldout", config="{language}-v1", text_field="sentence")
    assert docs == {"en": ["en test 0", "en test 1", "en test 2"], "he": ["he test 0", "he test 1", "he test 2"]}
    assert read["he"]["splits"] == ["test"]
    with pytest.raises(CorpusError, match="no column 'text'.*sentence, label.*set text_field"):
        hub_documents("someone/parallel", ["en"], "heldout", config="en-v1")
    with pytest.raises(CorpusError, match="one config for 2 languages"):
        hub_documents("someone/parallel", ["en", "he"], "heldout", config="en-v1", text_field="sentence")


def test_a_gated_dataset_says_how_to_log_in(monkeypatch):
    import datasets

    class GatedRepoError(Exception):
        pass

    def refuse(*_a, **_k):
        raise GatedRepoError("401 Client Error. Access to dataset openlanguagedata/flores_plus is restricted. You must have access to it and be authenticated.")

    monkeypatch.setattr(datasets, "load_dataset", refuse)
    with pytest.raises(CorpusError, match=r"is gated: accept its conditions at https://huggingface.co/datasets/openlanguagedata/flores_plus.*huggingface-cli login.*HF_TOKEN"):
        hub_documents(flores.DATASET, ["en"], "heldout")


def test_parquet_jsonl_and_csv_files(tmp_path):
    texts = ["שלום עולם", "", "a second, quoted \"line\"\nwith a newline"]
    pq.write_table(pa.table({"text": texts, "id": [1, 2, 3]}), tmp_path / "he.parquet")
    with open(tmp_path / "he.jsonl", "w", encoding="utf-8") as f:
        for t in texts:
            f.write(json.dumps({"text": t, "id": 0}, ensure_ascii=False) + "\n")
    with open(tmp_path / "he.csv", "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "sentence"])
        for t in texts:
            w.writerow([0, t])
    want = [texts[0], texts[2]]  # empty rows are no documents
    assert file_documents(str(tmp_path / "he.parquet")) == want
    assert file_documents(str(tmp_path / "he.jsonl")) == want
    assert file_documents(str(tmp_path / "he.csv"), "sentence") == want
    with pytest.raises(CorpusError, match="no column 'text' \\(columns: id, sentence\\)"):
        file_documents(str(tmp_path / "he.csv"))
    (tmp_path / "bad.jsonl").write_text('{"text": "ok"}\nnot json\n', encoding="utf-8")
    with pytest.raises(CorpusError, match="bad.jsonl: line 2 is not JSON"):
        file_documents(str(tmp_path / "bad.jsonl"))
    (tmp_path / "x.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(CorpusError, match="not a readable parquet file"):
        file_documents(str(tmp_path / "x.parquet"))
    out = answer({"source": "files", "files": {"he": str(tmp_path / "he.parquet")}})
    assert out["languages"] == {"he": want}
