"""`task-eval` kernel (KAGGLE-003): MMLU-format accuracy per language, base vs quantized.

Questions come from `data`: `files` (language → .parquet/.jsonl/.csv in a benchmark's published
columns), the bundled UDHR fixture files (`source: bundled`, data/mmlu/<lang>.jsonl: a pipeline
check, labelled `data.bundled` in the outputs), or a hub benchmark (`source: hub`: Global-MMLU and
its Lite, MMMLU, Belebele, INCLUDE; eval/benchmarks.py) through `datasets` and its cache. `shots` k
takes lm-eval's MMLU shots from the dev split (`data.dev_files` for local files). Scoring and prompt:
polyquant/eval/tasks.py (lm-eval's MMLU prompt, log-likelihood of the answer letter). Accuracy has
a percentile-bootstrap CI over the questions, the drop a paired one.

With `quant` (plus optional `protect`, `overrides`) the same questions are also answered by the
quantized variant (one quantization pass, apply → evaluate → bit-exact restore), giving per
language `drop` = accuracy_base − accuracy_quant. With a `corpus` too, the perplexity degradation
d = PPL_q/PPL_b − 1 per language is measured (polyquant.eval.perplexity, protocol `protocol`)
and correlated with the accuracy drop across languages (polyquant/analysis/correlation.py).
"""

from __future__ import annotations

import logging
import math

import numpy as np

from ..analysis.bootstrap import BootstrapConfig, percentile_ci, resample_indices
from ..analysis.correlation import Pair, correlate
from ..context import KernelContext
from ..errors import ParameterError
from ..eval import tasks
from ..eval.benchmarks import BENCHMARKS, check_languages
from ..models import resident
from ..analysis.degradation import degradation
from .contract import defaults_at, kernel

log = logging.getLogger(__name__)
DEFAULT_LANGUAGES = ["en", "he", "ar", "zh"]


def _files(files, what: str, langs: list[str]) -> dict[str, list[tasks.MCItem]]:
    missing = [l for l in langs if l not in files]
    if missing:
        raise ParameterError(f"languages {missing} have no file in data.{what} ({', '.join(files)})")
    return {l: tasks.load_file(files[l]) for l in langs}


def load_items(params: dict) -> tuple[dict[str, list[tasks.MCItem]], dict[str, list[tasks.MCItem]], dict]:
    """(questions per language, few-shot pool per language, what was read: source, dataset, bundled)."""
    data = params["data"]
    files = data.get("files")
    source = data.get("source") or ("files" if files else "bundled")
    limit = params.get("limit")
    shots = int(params.get("shots", 0))
    langs = params.get("languages")
    dataset = data.get("dataset")
    pools: dict[str, list[tasks.MCItem]] = {}
    if source == "files":
        if not isinstance(files, dict) or not files:
            raise ParameterError(f"data.source files needs data.files (language → path), got {files!r}")
        langs = langs or list(files)
        items = _files(files, "files", langs)
        if shots:
            dev = data.get("dev_files")
            if not dev:
                raise ParameterError(f"shots {shots} with local files needs data.dev_files (language → the dev split's file), as the benchmark's dev split")
            pools = _files(dev, "dev_files", langs)
    elif source == "bundled":
        if shots:
            raise ParameterError("the bundled UDHR questions have no dev split: shots 0 only (they check the pipeline, they are not MMLU)")
        items = {l: tasks.load_bundled(l) for l in (langs or DEFAULT_LANGUAGES)}
    else:
        if not dataset:
            raise ParameterError(f"data.source hub needs data.dataset ({', '.join(BENCHMARKS)})")
        bench = BENCHMARKS[dataset]
        langs = langs or DEFAULT_LANGUAGES
        check_languages(bench, langs)  # every language the benchmark lacks, named before anything loads
        if shots and bench.dev_split is None:
            raise ParameterError(f"{dataset} has no dev split to take shots from: shots 0 only")
        items = {l: tasks.load_hub(dataset, l, data.get("split"), limit, data.get("revision")) for l in langs}
        if shots:
            pools = {l: tasks.load_hub(dataset, l, bench.dev_split, None, data.get("revision")) for l in langs}
    for lang, pool in pools.items():
        if len(pool) < shots:
            raise ParameterError(f"shots {shots}: the dev split of {lang!r} holds only {len(pool)} questions")
    read = {"source": source, "dataset": dataset if source != "bundled" else None, "bundled": source == "bundled"}
    return {l: v[:limit] if limit else v for l, v in items.items()}, pools, read


def _accuracy_ci(hits: list[int], boot: BootstrapConfig) -> list:
    if not hits:
        return [None, None]
    x = np.asarray(hits, dtype=np.float64)
    idx = resample_indices(np.random.default_rng(boot.seed), x.size, boot.samples)
    return list(percentile_ci(x[idx].mean(axis=1)))


def _drop_ci(base: list[int], quant: list[int], boot: BootstrapConfig) -> list:
    """Paired: one resample of the questions for both, so that the questions' shared difficulty cancels."""
    b, q = np.asarray(base, dtype=np.float64), np.asarray(quant, dtype=np.float64)
    idx = resample_indices(np.random.default_rng(boot.seed), b.size, boot.samples)
    return list(percentile_ci(b[idx].mean(axis=1) - q[idx].mean(axis=1)))


def _evaluate_all(loaded, items, description, add_bos, ctx, phase, offset, total, pools=None, shots: int = 0) -> dict:
    out, done = {}, offset
    for lang, qs in items.items():
        def progress(i, n, lang=lang, start=done):
            ctx.progress(start + i, total, "questions", f"{phase} {lang}")

        out[lang] = tasks.evaluate(loaded.model, loaded.tokenizer, qs, description, add_bos, progress, (pools or {}).get(lang), shots)
        done += len(qs)
    return out


@kernel("task-eval")
def run(params: dict, ctx: KernelContext) -> dict:
    description, add_bos = params["description"], params["add_bos"]
    shots = int(params.get("shots", 0))
    boot = BootstrapConfig(samples=params["bootstrap"]["samples"], seed=params["bootstrap"]["seed"])
    items, pools, read = load_items(params)
    loaded = resident.get(params["model"])
    has_quant = params.get("quant") is not None
    n_q = sum(len(v) for v in items.values())
    total = n_q * (2 if has_quant else 1)
    base = _evaluate_all(loaded, items, description, add_bos, ctx, "base", 0, total, pools, shots)

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
            quant_res = _evaluate_all(loaded, items, description, add_bos, ctx, "quantized", n_q, total, pools, shots)
            if corpus is not None:
                ppl_q = measure(loaded, corpus, protocol)
        if corpus is not None:
            ppl_d = {l: degradation(ppl_base[l]["nll"], ppl_q[l]["nll"], ppl_base[l]["tokens"]) for l in ppl_base}

    per_language = {}
    for lang in items:
        row = {"n": base[lang]["n"], "base": _public(base[lang], boot), "quantized": None, "drop": None, "drop_ci": None, "changed": None, "ppl_degradation": None}
        if quant_res is not None:
            row["quantized"] = _public(quant_res[lang], boot)
            row["drop"] = base[lang]["accuracy"] - quant_res[lang]["accuracy"]
            row["drop_ci"] = _drop_ci(base[lang]["hits"], quant_res[lang]["hits"], boot)
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
        "prompt": {
            "format": f"{'belebele' if any(q.passage for qs in items.values() for q in qs) else 'mmlu'}-{shots}-shot-letter",
            "shots": shots,
            "description": description,
            "add_bos": add_bos,
        },
        "data": read,
        "bootstrap": {**boot.record(), "unit": "question"},
        "model": loaded.describe(),
    }


def _public(res: dict, boot: BootstrapConfig) -> dict:
    return {"accuracy": res["accuracy"], "ci": _accuracy_ci(res["hits"], boot), "correct": res["correct"], "mean_gold_loglik": res["mean_gold_loglik"]}
