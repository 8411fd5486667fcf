"""MMLU-format multiple choice, scored by the log-likelihood of the answer letter (KAGGLE-003).

Prompt: lm-evaluation-harness's MMLU task (lm_eval/tasks/mmlu/default/_default_template_yaml):

    The following are multiple choice questions (with answers) about {subject}.\\n\\n
    [k shots, each: {question}\\nA. …\\nD. …\\nAnswer: {letter}\\n\\n]
    {question.strip()}\\nA. {choices[0]}\\nB. {choices[1]}\\nC. {choices[2]}\\nD. {choices[3]}\\nAnswer:

with the k shots from the benchmark's dev split, the first of the same subject (lm-eval's
`fewshot_split: dev`, first_n sampler). Belebele's rows follow lm-eval's belebele template
(`P: {flores_passage}\\nQ: {question}\\nA: {mc_answer1}\\n…\\nAnswer:`), without the description line.

and the continuations " A", " B", " C", " D" (target_delimiter " "). As in lm-eval's
`_encode_pair`, the context and the continuation are tokenized together and split at the
context's length (trailing spaces of the context move to the continuation), no special tokens
are added (BOS only with `add_bos`), and a prompt longer than the model's context is cut from
the left. The score of letter c is log p(continuation_c | context) = Σ over its tokens of
log softmax; the prediction is the argmax letter; accuracy = mean over questions of
[prediction = gold]. (lm-eval's `acc`; `acc_norm` normalises by length, which is moot for
single letters.)

Data: JSONL (`question`, `choices` [4] or `A`..`D`, `answer` as a letter or an index 0–3,
optional `subject`), CSV (a header with question, A, B, C, D, answer, optional subject, any
case, as openai/MMMLU ships it; or MMLU's headerless question,A,B,C,D,answer), the bundled
UDHR fixture files (data/mmlu/<lang>.jsonl: a pipeline check, not MMLU), parquet files in a
benchmark's published columns, or a hub benchmark through `datasets` and its cache (eval/benchmarks.py).
"""

from __future__ import annotations

import csv
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import CorpusError, ParameterError

log = logging.getLogger("polyquant.eval.tasks")

LETTERS = ("A", "B", "C", "D")
DESCRIPTION = "The following are multiple choice questions (with answers) about {subject}.\n\n"
BUNDLED = Path(__file__).resolve().parent.parent / "data" / "mmlu"
@dataclass(frozen=True)
class MCItem:
    question: str
    choices: tuple[str, str, str, str]
    answer: int  # index of the gold choice, 0..3
    subject: str = ""
    passage: str = ""  # Belebele: the FLORES passage the question is about


def _answer_index(raw: Any, where: str) -> int:
    if isinstance(raw, str) and raw.strip().upper() in LETTERS:
        return LETTERS.index(raw.strip().upper())
    if isinstance(raw, str) and raw.strip().isdigit():
        raw = int(raw.strip())
    if isinstance(raw, int) and not isinstance(raw, bool) and 0 <= raw < 4:
        return raw
    raise CorpusError(f"{where}: answer {raw!r} is not one of A, B, C, D or 0-3")


def item_from_record(rec: dict, where: str) -> MCItem:
    """A record with question/choices/answer (any key case; Global-MMLU's option_a..option_d, INCLUDE's
    choices list, MMMLU's A..D too), or Belebele's flores_passage / mc_answer1..4 / correct_answer_num."""
    low = {str(k).strip().lower(): v for k, v in rec.items()}
    if "correct_answer_num" in low and all(f"mc_answer{k}" in low for k in range(1, 5)):
        num = str(low["correct_answer_num"]).strip()
        if num not in ("1", "2", "3", "4"):
            raise CorpusError(f"{where}: correct_answer_num {low['correct_answer_num']!r} is not 1-4")
        return MCItem(
            question=str(low.get("question", "")),
            choices=tuple(str(low[f"mc_answer{k}"]) for k in range(1, 5)),  # type: ignore[arg-type]
            answer=int(num) - 1,
            passage=str(low.get("flores_passage") or ""),
        )
    if "question" not in low or "answer" not in low:
        raise CorpusError(f"{where}: a record needs `question` and `answer`, got keys {sorted(rec)}")
    if "choices" in low:
        choices = low["choices"]
    elif all(k in low for k in ("a", "b", "c", "d")):
        choices = [low[k] for k in ("a", "b", "c", "d")]
    elif all(f"option_{k}" in low for k in "abcd"):
        choices = [low[f"option_{k}"] for k in "abcd"]
    else:
        raise CorpusError(f"{where}: no choices (`choices`, `A`..`D` or `option_a`..`option_d`) in keys {sorted(rec)}")
    if not isinstance(choices, (list, tuple)) or len(choices) != 4:
        raise CorpusError(f"{where}: choices {choices!r} is not a list of 4")
    return MCItem(
        question=str(low["question"]),
        choices=tuple(str(c) for c in choices),  # type: ignore[arg-type]
        answer=_answer_index(low["answer"], where),
        subject=str(low.get("subject") or ""),
    )


def load_file(path: str) -> list[MCItem]:
    p = Path(path)
    if not p.is_file():
        raise CorpusError(f"task file {path!r} does not exist")
    items: list[MCItem] = []
    if p.suffix.lower() == ".parquet":  # a dataset's published parquet file (Global-MMLU, Belebele, INCLUDE, ...)
        import pyarrow.parquet as pq

        for i, rec in enumerate(pq.read_table(str(p)).to_pylist()):
            items.append(item_from_record(rec, f"{path}[{i}]"))
        if not items:
            raise CorpusError(f"task file {path!r} has no questions")
        return items
    text = p.read_text(encoding="utf-8")
    if p.suffix.lower() in (".jsonl", ".json"):
        for i, line in enumerate(text.splitlines()):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CorpusError(f"{path}:{i + 1}: not JSON ({exc.msg})") from exc
            items.append(item_from_record(rec, f"{path}:{i + 1}"))
    elif p.suffix.lower() == ".csv":
        rows = list(csv.reader(text.splitlines()))
        header = [h.strip().lower() for h in rows[0]] if rows else []
        if "question" in header and "answer" in header:
            for i, row in enumerate(rows[1:]):
                if row:
                    items.append(item_from_record(dict(zip(header, row)), f"{path}:{i + 2}"))
        else:  # MMLU's original headerless question,A,B,C,D,answer
            for i, row in enumerate(rows):
                if not row:
                    continue
                if len(row) != 6:
                    raise CorpusError(f"{path}:{i + 1}: expected 6 columns (question,A,B,C,D,answer), got {len(row)}")
                items.append(MCItem(row[0], tuple(row[1:5]), _answer_index(row[5], f"{path}:{i + 1}")))  # type: ignore[arg-type]
    else:
        raise CorpusError(f"task file {path!r} is not .parquet, .jsonl or .csv")
    if not items:
        raise CorpusError(f"task file {path!r} has no questions")
    return items


def bundled_languages() -> list[str]:
    return sorted(p.stem for p in BUNDLED.glob("*.jsonl"))


def load_bundled(lang: str) -> list[MCItem]:
    path = BUNDLED / f"{lang}.jsonl"
    if not path.is_file():
        raise CorpusError(f"no bundled MMLU-format file for language {lang!r}; bundled: {', '.join(bundled_languages())}")
    return load_file(str(path))


def load_hub(dataset: str, lang: str, split: Optional[str] = None, limit: Optional[int] = None, revision: Optional[str] = None) -> list[MCItem]:
    """Questions of one language from a hub benchmark (eval/benchmarks.py), through `datasets` and its cache."""
    from ..corpus.read import _explain
    from .benchmarks import benchmark, check_languages

    bench = benchmark(dataset)
    config = check_languages(bench, [lang])[lang]
    try:
        import datasets  # type: ignore
    except ImportError as exc:  # pragma: no cover - requirements.txt installs it
        raise CorpusError(f"hub dataset {dataset!r} needs the `datasets` package (pip install datasets)") from exc
    try:
        ds = datasets.load_dataset(dataset, config, split=split or bench.test_split, revision=revision)
    except Exception as exc:  # noqa: BLE001 - offline, gated, renamed: explained the way corpora are
        raise CorpusError(_explain(exc, dataset, config)) from exc
    items = []
    for i, rec in enumerate(ds):
        if limit is not None and i >= limit:
            break
        items.append(item_from_record(dict(rec), f"{dataset}[{config}][{i}]"))
    return items


def pick_shots(item: MCItem, pool: list[MCItem], k: int) -> list[MCItem]:
    """lm-eval's MMLU shots: the first k of the dev split of the same subject (filled from the others in order)."""
    if k == 0:
        return []
    same = [d for d in pool if d.subject == item.subject and d != item]
    rest = [d for d in pool if d.subject != item.subject and d != item]
    return (same + rest)[:k]


def _body(item: MCItem) -> str:
    if item.passage:  # lm-eval's belebele template: P: passage, Q: question, A:..D: choices
        return f"P: {item.passage.strip()}\nQ: {item.question.strip()}\n" + "".join(f"{l}: {c}\n" for l, c in zip(LETTERS, item.choices)) + "Answer:"
    return f"{item.question.strip()}\n" + "".join(f"{l}. {c}\n" for l, c in zip(LETTERS, item.choices)) + "Answer:"


def context_text(item: MCItem, description: bool = True, default_subject: str = "", shots: tuple = ()) -> str:
    """The prompt: lm-eval's MMLU description line (when there is a subject), each shot with its answer, then the question."""
    subject = (item.subject or default_subject).replace("_", " ").strip()
    head = DESCRIPTION.format(subject=subject) if description and subject and not item.passage else ""
    examples = "".join(f"{_body(s)} {LETTERS[s.answer]}\n\n" for s in shots)
    return head + examples + _body(item)


def encode_pair(tokenizer, context: str, continuation: str, add_bos: bool = False) -> tuple[list[int], list[int]]:
    """lm-eval's `_encode_pair`: encode context + continuation once and split at the context length."""
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces > 0:
        continuation = context[-n_spaces:] + continuation
        context = context[:-n_spaces]
    whole = list(tokenizer(context + continuation, add_special_tokens=False)["input_ids"])
    ctx = list(tokenizer(context, add_special_tokens=False)["input_ids"])
    cont = whole[len(ctx) :]
    if not cont:
        raise CorpusError(f"continuation {continuation!r} encodes to no token after the context")
    bos = getattr(tokenizer, "bos_token_id", None)
    if add_bos and bos is not None:
        ctx = [bos] + ctx
    return ctx, cont


def _max_len(model: nn.Module) -> int:
    cfg = model.config
    return int(getattr(cfg, "max_position_embeddings", None) or getattr(cfg, "n_positions", None) or 2048)


@torch.no_grad()
def letter_logliks(model: nn.Module, tokenizer, item: MCItem, description: bool = True, add_bos: bool = False, shots: tuple = ()) -> list[float]:
    """log p(" X" | prompt) for X in A..D (nats). One forward pass when every letter is one token."""
    device = next(model.parameters()).device
    context = context_text(item, description, shots=shots)
    pairs = [encode_pair(tokenizer, context, " " + letter, add_bos) for letter in LETTERS]
    limit = _max_len(model)
    if all(len(c) == 1 for _, c in pairs) and all(p[0] == pairs[0][0] for p in pairs):
        ctx = pairs[0][0][-limit:]
        logits = model(input_ids=torch.tensor([ctx], device=device)).logits[0, -1].float()
        logp = F.log_softmax(logits, dim=-1)
        return [float(logp[c[0]]) for _, c in pairs]
    out = []
    for ctx, cont in pairs:
        seq = (ctx + cont)[-(limit + 1) :]
        inp = torch.tensor([seq[:-1]], device=device)
        logp = F.log_softmax(model(input_ids=inp).logits[0].float(), dim=-1)
        n = len(cont)
        targets = torch.tensor(seq[-n:], device=device)
        out.append(float(logp[-n:].gather(-1, targets[:, None]).sum()))
    return out


def evaluate(
    model: nn.Module, tokenizer, items: Iterable[MCItem], description: bool = True, add_bos: bool = False, progress=None,
    shots: Optional[list[MCItem]] = None, k: int = 0,
) -> dict:
    """Accuracy and the per-question predictions over the items; k-shot from `shots` (pick_shots)."""
    items = list(items)
    preds, gold_ll = [], []
    for i, item in enumerate(items):
        ll = letter_logliks(model, tokenizer, item, description, add_bos, tuple(pick_shots(item, shots or [], k)))
        preds.append(max(range(4), key=lambda k: ll[k]))
        gold_ll.append(ll[item.answer])
        if progress is not None:
            progress(i + 1, len(items))
    correct = sum(int(p == it.answer) for p, it in zip(preds, items))
    return {
        "n": len(items),
        "correct": correct,
        "accuracy": correct / len(items) if items else None,
        "mean_gold_loglik": sum(gold_ll) / len(gold_ll) if gold_ll else None,
        "predictions": [LETTERS[p] for p in preds],
        "hits": [int(p == it.answer) for p, it in zip(preds, items)],
    }
