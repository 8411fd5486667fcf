"""`attention-heads` kernel (COLAB-003): which heads are language-specific, and where they sit.

For every head of every layer and every corpus language: ΔNLL when the head is ablated (its
slice of the attention output projection's input zeroed, weights untouched), the rule that
calls a head language-specific, the per-head activation statistic and its agreement with
ablation, the share of specific heads overall and per layer and, with `critical_layers` (e.g.
from a layer-sweep), whether critical layers hold more of them (one-sided Fisher exact test).
Definitions: polyquant/analysis/heads.py. Cost: layers × heads × languages evaluations of the
windows; `max_windows` and `seq_len` bound it. Checkpoints every `checkpoint_every` layers.
"""

from __future__ import annotations

import logging

from ..analysis.heads import HeadRule, analyse_heads
from ..analysis.windows import corpus_windows
from ..context import KernelContext
from ..errors import ParameterError
from ..models import resident

VERSION = "1"
log = logging.getLogger(__name__)


def positive_int(params: dict, key: str, default: int | None) -> int | None:
    value = params.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ParameterError(f"{key} {value!r} must be a positive integer")
    return value


def number(params: dict, key: str, default: float) -> float:
    value = params.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ParameterError(f"{key} {value!r} must be a number")
    return float(value)


def corpus_of(params: dict, kernel: str) -> dict:
    corpus = params.get("corpus")
    if not isinstance(corpus, dict) or not isinstance(corpus.get("languages"), dict):
        raise ParameterError(f"{kernel} needs `corpus` resolved to documents per language, got {corpus!r}")
    return corpus


def run(params: dict, ctx: KernelContext) -> dict:
    if "model" not in params:
        raise ParameterError("attention-heads needs `model`")
    corpus = corpus_of(params, "attention-heads")
    rule_raw = params.get("rule") or {}
    if not isinstance(rule_raw, dict):
        raise ParameterError(f"rule {rule_raw!r} must be an object with k and floor")
    rule = HeadRule(k=number(rule_raw, "k", HeadRule.k), floor=number(rule_raw, "floor", HeadRule.floor))
    seq_len = positive_int(params, "seq_len", 128)
    max_windows = positive_int(params, "max_windows", 16)
    batch_size = positive_int(params, "batch_size", 8)
    every = positive_int(params, "checkpoint_every", 1)
    critical = params.get("critical_layers")
    if critical is not None and (not isinstance(critical, list) or any(isinstance(i, bool) or not isinstance(i, int) for i in critical)):
        raise ParameterError(f"critical_layers {critical!r} must be a list of layer indices")

    loaded = resident.get(params["model"])
    windows = corpus_windows(loaded.tokenizer, corpus["languages"], params.get("languages"), seq_len, max_windows)
    out = analyse_heads(loaded.model, windows, rule, ctx, batch_size, every, critical)
    out["model"] = loaded.describe()
    out["windows"] = {lang: len(w) for lang, w in windows.items()}
    out["tokens"] = {lang: sum(int(x.numel()) - 1 for x in w) for lang, w in windows.items()}
    return out
