"""`attention-heads` kernel (COLAB-003): which heads are language-specific, and where they sit.

For every head of every layer and every corpus language: ΔNLL when the head is ablated (its
slice of the attention output projection's input zeroed, weights untouched), the rule that
calls a head language-specific, the per-head activation statistic and its agreement with
ablation, the share of specific heads overall and per layer and, with `critical_layers` (e.g.
from a layer-sweep), whether critical layers hold more of them (one-sided Fisher exact test).
Definitions: polyquant/analysis/heads.py. Cost: layers × heads × languages evaluations of the
windows; `max_windows` and `seq_len` bound it. Checkpoints every `checkpoint_every` layers.
`uncertainty` bootstraps the classification over the windows (analysis/heads_uncertainty.py):
P(specific) per head, CIs of the shares and of the critical-vs-elsewhere difference, and the
minimum detectable ablation effect per language.
"""

from __future__ import annotations

import logging

from ..analysis.bootstrap import BootstrapConfig
from ..analysis.heads import HeadRule, analyse_heads
from ..analysis.windows import corpus_windows
from ..context import KernelContext
from ..models import resident
from .contract import kernel

log = logging.getLogger(__name__)


@kernel("attention-heads")
def run(params: dict, ctx: KernelContext) -> dict:
    rule = HeadRule(k=float(params["rule"]["k"]), floor=float(params["rule"]["floor"]))
    loaded = resident.get(params["model"])
    windows = corpus_windows(loaded.tokenizer, params["corpus"]["languages"], params.get("languages"), params["seq_len"], params["max_windows"])
    out = analyse_heads(
        loaded.model, windows, rule, ctx, params["batch_size"], params["checkpoint_every"], params.get("critical_layers"),
        BootstrapConfig.from_params(params.get("bootstrap")),
    )  # fmt: skip
    out["model"] = loaded.describe()
    out["windows"] = {lang: len(w) for lang, w in windows.items()}
    out["tokens"] = {lang: sum(int(x.numel()) - 1 for x in w) for lang, w in windows.items()}
    return out
