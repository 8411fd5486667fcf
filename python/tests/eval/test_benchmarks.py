"""Multilingual benchmarks in their published layouts (eval/benchmarks.py, eval/tasks.py, task-eval):
Global-MMLU from an offline `datasets` cache with 5 shots from its dev split, Belebele and INCLUDE
rows from local parquet files, lm-eval's prompts written out by hand, and accuracy CIs recomputed."""

from __future__ import annotations

import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import hf_cache
from polyquant import api
from polyquant.errors import CorpusError
from polyquant.eval import tasks

SUBJECTS = list(hf_cache.MMLU_SUBJECTS)


@pytest.fixture()
def offline_global_mmlu(tmp_path, monkeypatch):
    import datasets.config

    cache = str(tmp_path / "hf-datasets")
    hf_cache.write_global_mmlu(cache)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    return cache


def test_five_shot_prompt_is_lm_evals():
    dev = [tasks.MCItem(f"Q{i}", ("w", "x", "y", "z"), i % 4, SUBJECTS[i % 2]) for i in range(12)]
    item = tasks.MCItem("What is 2+2?", ("3", "4", "5", "6"), 1, "abstract_algebra")
    shots = tasks.pick_shots(item, dev, 5)
    assert [s.question for s in shots] == ["Q0", "Q2", "Q4", "Q6", "Q8"]  # the first five of the same subject
    text = tasks.context_text(item, True, shots=tuple(shots))
    want = "The following are multiple choice questions (with answers) about abstract algebra.\n\n"
    for s in shots:
        want += f"{s.question}\nA. w\nB. x\nC. y\nD. z\nAnswer: {'ABCD'[s.answer]}\n\n"
    want += "What is 2+2?\nA. 3\nB. 4\nC. 5\nD. 6\nAnswer:"
    assert text == want


def test_global_mmlu_offline_with_five_shots(offline_global_mmlu, tiny_model_dirs):
    params = {
        "model": {"id": tiny_model_dirs["tiny-gpt2"], "device": "cpu"},
        "data": {"source": "hub", "dataset": "CohereForAI/Global-MMLU"},
        "languages": ["en", "he"],
        "shots": 5,
        "quant": {"method": "rtn", "bits": 2, "group_size": -1},
        "bootstrap": {"samples": 200, "seed": 3},
    }
    out = json.loads(api.call("task-eval", json.dumps(params)))
    assert out["ok"], out.get("error")
    res = out["result"]
    assert res["prompt"]["format"] == "mmlu-5-shot-letter" and res["prompt"]["shots"] == 5
    assert res["data"] == {"source": "hub", "dataset": "CohereForAI/Global-MMLU", "bundled": False}
    he = res["per_language"]["he"]
    assert he["n"] == 6
    # the interval, recomputed: the same seeded resampling of the per-question hits
    lo, hi = he["base"]["ci"]
    assert lo <= he["base"]["accuracy"] <= hi
    assert he["drop_ci"][0] <= he["drop"] <= he["drop_ci"][1]


def test_accuracy_ci_is_the_percentile_bootstrap():
    from polyquant.kernels.task_eval import _accuracy_ci
    from polyquant.analysis.bootstrap import BootstrapConfig

    hits = [1, 0, 1, 1, 0, 1, 0, 1, 1, 1]
    rng = np.random.default_rng(7)
    reps = [np.mean([hits[j] for j in rng.integers(0, len(hits), size=len(hits))]) for _ in range(500)]
    assert _accuracy_ci(hits, BootstrapConfig(samples=500, seed=7)) == pytest.approx(list(np.percentile(reps, [2.5, 97.5])))


def test_languages_a_benchmark_lacks_are_named_before_anything_loads(tiny_model_dirs):
    params = {"model": {"id": tiny_model_dirs["tiny-gpt2"], "device": "cpu"}, "data": {"source": "hub", "dataset": "openai/MMMLU"}, "languages": ["en", "he", "ar"]}
    out = json.loads(api.call("task-eval", json.dumps(params)))
    assert not out["ok"]
    assert "openai/MMMLU has no 'en', 'he'" in out["error"]["message"]
    bundled = json.loads(api.call("task-eval", json.dumps({"model": params["model"], "shots": 5})))
    assert "bundled UDHR questions have no dev split" in bundled["error"]["message"]


def test_belebele_and_include_rows_from_parquet(tmp_path):
    belebele = {"link": ["x"], "question_number": [1], "flores_passage": ["The river flooded the town in May."], "question": ["When did the river flood?"],
                "mc_answer1": ["April"], "mc_answer2": ["May"], "mc_answer3": ["June"], "mc_answer4": ["July"], "correct_answer_num": ["2"], "dialect": ["eng_Latn"], "ds": ["2023-05-03"]}
    pq.write_table(pa.table(belebele), tmp_path / "belebele.parquet")
    [item] = tasks.load_file(str(tmp_path / "belebele.parquet"))
    assert item.answer == 1 and item.passage.startswith("The river")
    assert tasks.context_text(item) == "P: The river flooded the town in May.\nQ: When did the river flood?\nA: April\nB: May\nC: June\nD: July\nAnswer:"
    include = {"language": ["Hebrew"], "country": ["Israel"], "domain": ["law"], "subject": ["law"], "regional_feature": ["region explicit"], "level": ["x"],
               "question": ["?"], "choices": [["a", "b", "c", "d"]], "answer": [3]}
    pq.write_table(pa.table(include), tmp_path / "include.parquet")
    [inc] = tasks.load_file(str(tmp_path / "include.parquet"))
    assert inc.answer == 3 and inc.choices == ("a", "b", "c", "d") and inc.subject == "law"
    bad = dict(belebele, correct_answer_num=["5"])
    pq.write_table(pa.table(bad), tmp_path / "bad.parquet")
    with pytest.raises(CorpusError, match="correct_answer_num '5' is not 1-4"):
        tasks.load_file(str(tmp_path / "bad.parquet"))
    assert os.path.exists(tmp_path / "include.parquet")
