import json

import pytest
import torch

from polyquant import api
from polyquant.context import KernelContext
from polyquant.errors import CorpusError, ParameterError
from polyquant.eval import tasks

QUESTIONS = [
    {"question": "Who is born free?", "choices": ["all human beings", "no one", "kings", "trees"], "answer": "A", "subject": "human_rights"},
    {"question": "Everyone has the right to ...", "choices": ["nothing", "life, liberty and security", "slavery", "torture"], "answer": 1},
    {"question": " Which is equal?", "choices": ["dignity", "rights", "both", "neither"], "answer": "C", "subject": "human_rights"},
    {"question": "Is torture allowed?", "choices": ["yes", "sometimes", "often", "no"], "answer": "D", "subject": "human_rights"},
    {"question": "What may one seek?", "choices": ["asylum", "revenge", "war", "slaves"], "answer": "A", "subject": "human_rights"},
]


def _write(tmp_path, name="en.jsonl", rows=QUESTIONS):
    p = tmp_path / name
    p.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    return str(p)


def _seq_loglik(model, ids):
    """Σ_{t≥1} log p(x_t | x_<t) from transformers' own labels= loss (mean over T−1 tokens)."""
    x = torch.tensor([ids])
    with torch.no_grad():
        return -float(model(input_ids=x, labels=x).loss) * (len(ids) - 1)


def test_prompt_is_lm_eval_mmlu_format():
    item = tasks.item_from_record(QUESTIONS[2], "q")
    assert tasks.context_text(item) == (
        "The following are multiple choice questions (with answers) about human rights.\n\n"
        "Which is equal?\nA. dignity\nB. rights\nC. both\nD. neither\nAnswer:"
    )
    assert tasks.context_text(tasks.item_from_record(QUESTIONS[1], "q")).startswith("Everyone has the right to ...\nA. nothing")


def test_letter_logliks_and_accuracy_equal_a_hand_computation(tiny_loaded, tmp_path):
    model, tok = tiny_loaded.model, tiny_loaded.tokenizer
    items = tasks.load_file(_write(tmp_path))
    hand_correct = 0
    for item in items:
        prompt = tasks.context_text(item, description=False)
        p_ids = tok(prompt, add_special_tokens=False)["input_ids"]
        assert len(p_ids) + 2 <= model.config.max_position_embeddings  # no truncation in this test
        hand = []
        for letter in "ABCD":
            w_ids = tok(prompt + " " + letter, add_special_tokens=False)["input_ids"]
            assert w_ids[: len(p_ids)] == p_ids  # the split point is the context's length
            hand.append(_seq_loglik(model, w_ids) - _seq_loglik(model, p_ids))
        got = tasks.letter_logliks(model, tok, item, description=False)
        assert got == pytest.approx(hand, abs=2e-4)
        hand_correct += int(max(range(4), key=lambda k: hand[k]) == item.answer)
    res = tasks.evaluate(model, tok, items, description=False)
    assert res["correct"] == hand_correct and res["accuracy"] == pytest.approx(hand_correct / 5)


def test_multi_token_continuations_use_the_slow_path(tiny_loaded):
    """Letters that are not single tokens are scored by one forward pass each, same definition."""
    model, tok = tiny_loaded.model, tiny_loaded.tokenizer
    ctx, cont = tasks.encode_pair(tok, "Answer: ", "zqx")  # trailing space moves into the continuation
    whole = tok("Answer: zqx", add_special_tokens=False)["input_ids"]
    assert ctx + cont == whole and len(cont) >= 1
    expect = _seq_loglik(model, whole) - _seq_loglik(model, ctx)
    seq = ctx + cont
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=torch.tensor([seq[:-1]])).logits[0], -1)
    got = float(sum(logp[len(ctx) - 1 + i, c] for i, c in enumerate(cont)))
    assert got == pytest.approx(expect, abs=2e-4)


def test_csv_formats_and_bundled_files(tmp_path):
    with_header = tmp_path / "mmmlu.csv"
    with_header.write_text("Question,A,B,C,D,Answer,Subject\nQ1,a,b,c,d,B,law\n", encoding="utf-8")
    bare = tmp_path / "mmlu.csv"
    bare.write_text('"Q, with comma",a,b,c,d,D\n', encoding="utf-8")
    assert tasks.load_file(str(with_header)) == [tasks.MCItem("Q1", ("a", "b", "c", "d"), 1, "law")]
    assert tasks.load_file(str(bare)) == [tasks.MCItem("Q, with comma", ("a", "b", "c", "d"), 3, "")]
    langs = tasks.bundled_languages()
    assert {"en", "he", "ar", "zh"} <= set(langs)
    per = {l: tasks.load_bundled(l) for l in ("en", "he", "ar", "zh")}
    assert all(20 <= len(v) <= 40 for v in per.values())
    # The same questions in every language: gold positions agree, and are balanced.
    golds = [[i.answer for i in per[l]] for l in per]
    assert all(g == golds[0] for g in golds)
    assert sorted(set(golds[0])) == [0, 1, 2, 3]
    assert per["he"][0].choices[per["he"][0].answer] == "סעיף 1"


@pytest.mark.parametrize(
    "rows, message",
    [
        ([{"question": "q", "choices": ["a", "b", "c"], "answer": "A"}], "is not a list of 4"),
        ([{"question": "q", "choices": ["a", "b", "c", "d"], "answer": "E"}], "answer 'E' is not one of"),
        ([{"question": "q", "answer": "A"}], "no choices"),
    ],
)
def test_bad_records_name_the_value(tmp_path, rows, message):
    with pytest.raises(CorpusError, match=message):
        tasks.load_file(_write(tmp_path, rows=rows))


def test_hub_errors_are_clear_offline(monkeypatch, tmp_path):
    import datasets.config

    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path))
    with pytest.raises(CorpusError, match="task-eval reads the benchmarks .*got dataset 'some/mmlu' \\(any other: local files\\)"):
        tasks.load_hub("some/mmlu", "en")
    with pytest.raises(CorpusError, match="openai/MMMLU has no 'he' .*Global-MMLU \\(CohereForAI/Global-MMLU\\) has en and he"):
        tasks.load_hub("openai/MMMLU", "he")
    with pytest.raises(CorpusError, match="CohereForAI/Global-MMLU \\(config he\\) is not in the local cache"):
        tasks.load_hub("CohereForAI/Global-MMLU", "he")


def test_kernel_base_vs_quantized_restores_and_counts(tiny_model_dirs, tmp_path):
    path = _write(tmp_path)
    params = {
        "model": {"id": tiny_model_dirs["tiny-gpt2"], "device": "cpu"},
        "data": {"files": {"en": path, "de": path, "fr": path}},
        "quant": {"method": "rtn", "bits": 2, "group_size": -1},
    }
    out = json.loads(api.call("task-eval", json.dumps(params)))
    assert out["ok"], out.get("error")
    res = out["result"]
    from polyquant.models import resident

    loaded = resident.get(params["model"])
    base = tasks.evaluate(loaded.model, loaded.tokenizer, tasks.load_file(path))  # restored model
    for lang in ("en", "de", "fr"):
        row = res["per_language"][lang]
        assert row["base"]["accuracy"] == pytest.approx(base["accuracy"])
        assert row["drop"] == pytest.approx(row["base"]["accuracy"] - row["quantized"]["accuracy"])
    assert res["quant"] == {"method": "rtn", "bits": 2, "group_size": -1, "sym": False}
    assert res["correlation"] is None  # no corpus given
    bad = json.loads(api.call("task-eval", json.dumps({**params, "data": {"source": "web"}})))
    assert bad["ok"] is False and "with.data.source: 'web' is not one of" in bad["error"]["message"]


def test_kernel_ppl_degradation_equals_a_disparity_step_on_the_same_corpus(tiny_model_dirs, tmp_path, sample_corpus):
    """task-eval's per-language perplexity degradation is the number a disparity step reports for the
    same model, quantization, corpus and protocol (an independent code path: compare.py's passes)."""
    from polyquant.kernels import disparity

    path = _write(tmp_path)
    model = {"id": tiny_model_dirs["tiny-llama"], "device": "cpu"}
    quant = {"method": "rtn", "bits": 3, "group_size": 32}
    protocol = {"context_length": 24}
    langs = ("en", "de", "he")
    corpus = {**sample_corpus, "languages": {lang: sample_corpus["languages"][lang] for lang in langs}}
    out = json.loads(api.call("task-eval", json.dumps({"model": model, "data": {"files": {l: path for l in langs}}, "quant": quant, "corpus": corpus, "protocol": protocol})))
    assert out["ok"], out.get("error")
    disp = disparity.run({"model": model, "corpus": corpus, "quant": quant, "protocol": protocol}, KernelContext())
    for lang in langs:
        assert out["result"]["per_language"][lang]["ppl_degradation"] == pytest.approx(disp["languages"][lang]["degradation"]["value"], rel=1e-9, abs=1e-12)
