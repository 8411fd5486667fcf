"""MMLU-format multiple choice, scored by the log-likelihood of the answer letter (KAGGLE-003).

Prompt: lm-evaluation-harness's MMLU task (lm_eval/tasks/mmlu/default/_default_template_yaml),
zero-shot:

    The following are multiple choice questions (with answers) about {subject}.\\n\\n
    {question.strip()}\\nA. {choices[0]}\\nB. {choices[1]}\\nC. {choices[2]}\\nD. {choices[3]}\\nAnswer:

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
UDHR fixture files (data/mmlu/<lang>.jsonl), or a hub dataset through `datasets` when online.
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
# Hub datasets: how a language code maps to a config, and the column names.
HUB = {
    "CohereForAI/Global-MMLU": {"config": lambda lang: lang, "split": "test"},
    "openai/MMMLU": {
        "config": lambda lang: {
            "ar": "AR_XY", "bn": "BN_BD", "de": "DE_DE", "es": "ES_LA", "fr": "FR_FR", "hi": "HI_IN", "id": "ID_ID",
            "it": "IT_IT", "ja": "JA_JP", "ko": "KO_KR", "pt": "PT_BR", "sw": "SW_KE", "yo": "YO_NG", "zh": "ZH_CN",
        }.get(lang),
        "split": "test",
    },
}


@dataclass(frozen=True)
class MCItem:
    question: str
    choices: tuple[str, str, str, str]
    answer: int  # index of the gold choice, 0..3
    subject: str = ""


def _answer_index(raw: Any, where: str) -> int:
    if isinstance(raw, str) and raw.strip().upper() in LETTERS:
        return LETTERS.index(raw.strip().upper())
    if isinstance(raw, str) and raw.strip().isdigit():
        raw = int(raw.strip())
    if isinstance(raw, int) and not isinstance(raw, bool) and 0 <= raw < 4:
        return raw
    raise CorpusError(f"{where}: answer {raw!r} is not one of A, B, C, D or 0-3")


def item_from_record(rec: dict, where: str) -> MCItem:
    """A record with question/choices/answer (any key case; Global-MMLU's option_a..option_d too)."""
    low = {str(k).strip().lower(): v for k, v in rec.items()}
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
    text = p.read_text(encoding="utf-8")
    items: list[MCItem] = []
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
        raise CorpusError(f"task file {path!r} is neither .jsonl nor .csv")
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


def load_hub(dataset: str, lang: str, split: Optional[str] = None, limit: Optional[int] = None) -> list[MCItem]:
    """Questions of one language from a hub dataset (needs `datasets` and a network connection)."""
    if dataset not in HUB:
        raise ParameterError(f"hub dataset {dataset!r} is not supported; supported: {', '.join(HUB)}")
    config = HUB[dataset]["config"](lang)
    if config is None:
        raise ParameterError(f"hub dataset {dataset!r} has no configuration for language {lang!r}")
    try:
        import datasets  # type: ignore
    except ImportError as exc:
        raise CorpusError(
            f"hub dataset {dataset!r} needs the `datasets` package, which is not installed; "
            "use local files (`data.files`) or the bundled fixture files offline"
        ) from exc
    try:
        ds = datasets.load_dataset(dataset, config, split=split or HUB[dataset]["split"])
    except Exception as exc:  # noqa: BLE001 - offline, gated, renamed: all reach the user the same way
        raise CorpusError(f"could not load hub dataset {dataset!r} ({config}) for {lang!r}: {exc}") from exc
    items = []
    for i, rec in enumerate(ds):
        if limit is not None and i >= limit:
            break
        items.append(item_from_record(dict(rec), f"{dataset}[{config}][{i}]"))
    return items


def context_text(item: MCItem, description: bool = True, default_subject: str = "") -> str:
    subject = (item.subject or default_subject).replace("_", " ").strip()
    head = DESCRIPTION.format(subject=subject) if description and subject else ""
    body = f"{item.question.strip()}\n" + "".join(f"{l}. {c}\n" for l, c in zip(LETTERS, item.choices)) + "Answer:"
    return head + body


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
def letter_logliks(model: nn.Module, tokenizer, item: MCItem, description: bool = True, add_bos: bool = False) -> list[float]:
    """log p(" X" | prompt) for X in A..D (nats). One forward pass when every letter is one token."""
    device = next(model.parameters()).device
    context = context_text(item, description)
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


def evaluate(model: nn.Module, tokenizer, items: Iterable[MCItem], description: bool = True, add_bos: bool = False, progress=None) -> dict:
    """Accuracy and the per-question predictions over the items."""
    items = list(items)
    preds, gold_ll = [], []
    for i, item in enumerate(items):
        ll = letter_logliks(model, tokenizer, item, description, add_bos)
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
    }
