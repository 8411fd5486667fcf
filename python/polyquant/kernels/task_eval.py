"""`task-eval` kernel (KAGGLE-003): MMLU-format accuracy per language, base vs quantized.

Questions come from `data`: `files` (language → .jsonl/.csv path), the bundled UDHR fixture files
(`source: bundled`, data/mmlu/<lang>.jsonl), or a hub dataset (`source: hub`, `dataset:
CohereForAI/Global-MMLU | openai/MMMLU`, needs `datasets` and a network). Scoring and prompt:
polyquant/eval/tasks.py (lm-eval's MMLU prompt, log-likelihood of the answer letter).

With `quant` (plus optional `protect`, `overrides`) the same questions are also answered by the
quantized variant (one quantization pass, apply → evaluate → bit-exact restore), giving per
language `drop` = accuracy_base − accuracy_quant. With a `corpus` too, the perplexity degradation
d = PPL_q/PPL_b − 1 per language is measured (polyquant.eval.perplexity, protocol `protocol`)
and correlated with the accuracy drop across languages (polyquant/analysis/correlation.py).
"""

from __future__ import annotations

import logging
import math

from ..analysis.correlation import Pair, correlate
from ..context import KernelContext
from ..errors import ParameterError
from ..eval import tasks
from ..models import resident
from ..analysis.degradation import degradation
from .contract import defaults_at, kernel

log = logging.getLogger(__name__)
DEFAULT_LANGUAGES = ["en", "he", "ar", "zh"]


def load_items(params: dict) -> dict[str, list[tasks.MCItem]]:
    data = params["data"]
    files = data.get("files")
    source = data.get("source") or ("files" if files else "bundled")
    limit = params.get("limit")
    langs = params.get("languages")
    if source == "files":
        if not isinstance(files, dict) or not files:
            raise ParameterError(f"data.source files needs data.files (language → path), got {files!r}")
        langs = langs or list(files)
        missing = [l for l in langs if l not in files]
        if missing:
            raise ParameterError(f"languages {missing} have no file in data.files ({', '.join(files)})")
        items = {l: tasks.load_file(files[l]) for l in langs}
    elif source == "bundled":
        items = {l: tasks.load_bundled(l) for l in (langs or DEFAULT_LANGUAGES)}
    else:
        dataset = data.get("dataset")
        if not dataset:
            raise ParameterError("data.source hub needs data.dataset (CohereForAI/Global-MMLU or openai/MMMLU)")
        items = {l: tasks.load_hub(dataset, l, data.get("split"), limit) for l in (langs or DEFAULT_LANGUAGES)}
    return {l: v[:limit] if limit else v for l, v in items.items()}


def _evaluate_all(loaded, items, description, add_bos, ctx, phase, offset, total) -> dict:
    out, done = {}, offset
    for lang, qs in items.items():
        def progress(i, n, lang=lang, start=done):
            ctx.progress(start + i, total, "questions", f"{phase} {lang}")

        out[lang] = tasks.evaluate(loaded.model, loaded.tokenizer, qs, description, add_bos, progress)
        done += len(qs)
    return out


@kernel("task-eval")
def run(params: dict, ctx: KernelContext) -> dict:
    description, add_bos = params["description"], params["add_bos"]
    items = load_items(params)
    loaded = resident.get(params["model"])
    has_quant = params.get("quant") is not None
    n_q = sum(len(v) for v in items.values())
    total = n_q * (2 if has_quant else 1)
    base = _evaluate_all(loaded, items, description, add_bos, ctx, "base", 0, total)

    quant_meta, quant_res, ppl_d = None, None, None
    if has_quant:
        from ..quant.apply import apply_weights
        from ..quant.methods import quant_summary, quantize_model
        from . import quantize as quantize_kernel

        quant, targets, _ = quantize_kernel.plan(loaded, params)
        result = quantize_model(loaded, quant, targets, ctx)
        quant_meta = quant_summary(quant)
        corpus = params.get("corpus")
        if corpus is not None:
            from ..eval.perplexity import Protocol, measure

            protocol = Protocol.from_params(defaults_at("task-eval", "protocol", params.get("protocol")))
            ppl_base = measure(loaded, corpus, protocol)
        with apply_weights(loaded.model, result.weights):
            quant_res = _evaluate_all(loaded, items, description, add_bos, ctx, "quantized", n_q, total)
            if corpus is not None:
                ppl_q = measure(loaded, corpus, protocol)
        if corpus is not None:
            ppl_d = {l: degradation(ppl_base[l]["nll"], ppl_q[l]["nll"], ppl_base[l]["tokens"]) for l in ppl_base}

    per_language = {}
    for lang in items:
        row = {"n": base[lang]["n"], "base": _public(base[lang]), "quantized": None, "drop": None, "changed": None, "ppl_degradation": None}
        if quant_res is not None:
            row["quantized"] = _public(quant_res[lang])
            row["drop"] = base[lang]["accuracy"] - quant_res[lang]["accuracy"]
            row["changed"] = sum(a != b for a, b in zip(base[lang]["predictions"], quant_res[lang]["predictions"]))
        if ppl_d is not None and lang in ppl_d:
            row["ppl_degradation"] = ppl_d[lang]
        per_language[lang] = row

    correlation = None
    paired = [Pair(l, r["ppl_degradation"], r["drop"]) for l, r in per_language.items() if r["ppl_degradation"] is not None and r["drop"] is not None]
    if len(paired) >= 3 and all(math.isfinite(p.x) for p in paired):
        correlation = {**correlate(paired), "x_name": "ppl_degradation", "y_name": "accuracy_drop"}

    def mean(key: str):
        vals = [r[key] for r in per_language.values() if r[key] is not None]
        return sum(vals) / len(vals) if vals else None

    return {
        "languages": list(items),
        "per_language": per_language,
        "mean_accuracy_base": sum(r["base"]["accuracy"] for r in per_language.values()) / len(per_language),
        "mean_accuracy_quantized": (
            sum(r["quantized"]["accuracy"] for r in per_language.values()) / len(per_language) if quant_res else None
        ),
        "mean_drop": mean("drop"),
        "quant": quant_meta,
        "correlation": correlation,
        "prompt": {"format": "mmlu-zero-shot-letter", "description": description, "add_bos": add_bos},
        "model": loaded.describe(),
    }


def _public(res: dict) -> dict:
    return {"accuracy": res["accuracy"], "correct": res["correct"], "mean_gold_loglik": res["mean_gold_loglik"]}
