"""`disparity` kernel: how much more quantization hurts the other languages than the reference.

Two ways to get the quantized variant:
- `quant` (+ `protect`, `overrides`): quantize the resident model once, apply the weights in place,
  measure, restore (bit-exact). One model in memory.
- `variant: {model: ModelSpec}`: a pre-quantized checkpoint (e.g. GPTQ) compared with the base
  model: two resident models that must tokenize the corpus identically. When both are given,
  `variant` wins (a workflow's `defaults.quant` reaches every step) and `quant` is not used.

Procedure: the baseline pass keeps per-window NLL and the per-token distributions
(`eval/compare.py`); the quantized pass computes per-window NLL, KL(baseline ‖ quantized), Δp of
the correct token and top-1 agreement; `analysis/disparity.py` turns the paired per-unit NLLs
into d = PPL_q/PPL_b − 1, ΔBPB, the disparity index (mean non-reference d / reference d) and the
additive gap, each with a paired bootstrap 95% CI.

params (src/kernels/disparity.ts): {model, corpus (resolved), quant?, protect, overrides, variant?,
reference, bootstrap, protocol, kl}.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import torch

from ..analysis.bootstrap import BootstrapConfig
from ..analysis.disparity import LanguageUnits, analyse
from ..context import KernelContext
from ..errors import ParameterError
from ..eval.compare import Baseline, CompareConfig, batch_logits, compare, kl_mode_label, language_windows, record_baseline, same_windows
from ..eval.perplexity import Protocol
from ..models import resident
from ..quant.apply import apply_weights
from ..quant.methods import quant_summary, quantize_model
from ..quant.plan import grid_summary
from . import quantize as quantize_kernel
from ..analysis.degradation import degradation
from .contract import defaults_at, kernel

log = logging.getLogger(__name__)
LN2 = math.log(2.0)


def units(base_seg: np.ndarray, quant_seg: np.ndarray, tokens: np.ndarray, n_bytes: np.ndarray, docs: np.ndarray, unit: str) -> LanguageUnits:
    """Per-window arrays, or summed per document when the bootstrap resamples documents."""
    if unit == "document":
        _, inv = np.unique(docs, return_inverse=True)
        agg = lambda a: np.bincount(inv, weights=a)  # noqa: E731
        return LanguageUnits(agg(base_seg), agg(quant_seg), agg(tokens), agg(n_bytes))
    return LanguageUnits(base_seg, quant_seg, tokens, n_bytes)


def report(baseline: Baseline, quantized: dict, reference: str, boot: BootstrapConfig) -> dict:
    """The per-language table and the cross-language statistics."""
    per_unit = {}
    rows = {}
    for lang, lb in baseline.languages.items():
        q = quantized[lang]
        docs = np.array([w.doc for w in lb.windows])
        per_unit[lang] = units(lb.seg_nll, q.seg_nll, lb.seg_tokens, lb.seg_bytes, docs, boot.unit)
        nll_b, nll_q = math.fsum(lb.seg_nll), math.fsum(q.seg_nll)
        tokens, n_bytes = float(lb.seg_tokens.sum()), float(lb.seg_bytes.sum())
        rows[lang] = {
            "ppl_base": math.exp(nll_b / tokens),
            "ppl_quant": math.exp(nll_q / tokens),
            "bpb_base": nll_b / (LN2 * n_bytes),
            "bpb_quant": nll_q / (LN2 * n_bytes),
            "tokens": int(tokens),
            "kl": q.kl,
            "delta_p": q.delta_p,
            "top1_agreement": q.top1_agreement,
        }
    stats = analyse(per_unit, reference, boot)
    for lang, row in rows.items():
        row.update(stats["languages"][lang])
    return {"languages": rows, "disparity": stats["disparity"], "gap": stats["gap"], "worst_language": stats["worst_language"]}


def calibration_record(meta: Any) -> Any:
    """What a GPTQ/AWQ calibration set held, per language (PRO-002's balance), or None (RTN)."""
    if not isinstance(meta, dict):
        return None
    per = meta.get("per_language") or {}
    return {
        "languages": list(meta.get("languages") or per),
        "mix": meta.get("mix"),
        "samples": meta.get("samples"),
        "seq_len": meta.get("seq_len"),
        "per_language": {lang: {k: int(v[k]) for k in ("samples", "tokens", "bytes")} for lang, v in per.items()},
    }


def _originals_for(loaded: Any, snap: Any, weights: dict):
    """`paired` for an in-place quantization: the batch's baseline logits with the original weights
    copied back for it, then the quantized ones again (exact KL with no distributions kept)."""

    params = dict(loaded.model.named_parameters(remove_duplicate=False))

    @torch.no_grad()
    def logits(windows):
        for name, original in snap.originals.items():
            params[name].copy_(original.to(params[name].device))
        try:
            return batch_logits(loaded, windows)
        finally:
            for name in snap.originals:
                params[name].copy_(weights[name].to(params[name].device, params[name].dtype))

    return logits


def _partial(ctx: KernelContext, baseline: Baseline):
    """Emit one language's point estimates (no CIs yet) as soon as its quantized pass ends."""

    def emit(lang: str, q: Any) -> None:
        lb = baseline.languages[lang]
        tokens = float(lb.seg_tokens.sum())
        nll_b, nll_q = math.fsum(lb.seg_nll), math.fsum(q.seg_nll)
        ctx.partial(
            {
                "language": lang,
                "ppl_base": math.exp(nll_b / tokens),
                "ppl_quant": math.exp(nll_q / tokens),
                "tokens": int(tokens),
                "degradation": {"value": degradation(nll_b, nll_q, tokens), "ci": [None, None]},
                "kl": q.kl,
                "top1_agreement": q.top1_agreement,
            }
        )

    return emit


@kernel("disparity")
def run(params: dict, ctx: KernelContext) -> dict:
    variant = params.get("variant")
    if variant is not None and params.get("quant") is not None:
        # workflow `defaults.quant` is merged into every step that accepts it: the explicit variant wins
        log.warning("disparity: `variant` given, so `quant` is not used")
    reference = params["reference"]
    corpus = params["corpus"]
    if reference not in corpus["languages"]:
        raise ParameterError(f"reference language {reference!r} is not in the corpus languages {', '.join(sorted(corpus['languages']))}")
    boot = BootstrapConfig.from_params(params["bootstrap"])
    cmp_cfg = CompareConfig.from_params(params["kl"])
    protocol = Protocol.from_params(params["protocol"])
    loaded = resident.get(params["model"])
    if variant is None:  # resolve the plan first: a bad group size fails before any evaluation
        # no `quant` means the QuantConfig defaults (RTN 4-bit, group 128)
        quant, targets, protected = quantize_kernel.plan(loaded, params, params.get("quant") or defaults_at("disparity", "quant"))

    baseline = record_baseline(loaded, corpus, protocol, cmp_cfg, ctx)
    out: dict[str, Any] = {"reference": reference}
    if variant is not None:
        other = resident.get(variant["model"])
        _, other_windows, _ = language_windows(other, corpus, baseline.protocol)
        bad = same_windows({k: v.windows for k, v in baseline.languages.items()}, other_windows)
        if bad is not None:
            raise ParameterError(f"variant {other.id!r} tokenizes {bad!r} differently from {loaded.id!r}: compare models with one tokenizer")
        quantized = compare(other, baseline, ctx, _partial(ctx, baseline), paired=lambda ws: batch_logits(loaded, ws))
        out.update(quant=None, variant={"id": other.id, "fingerprint": other.fingerprint}, protected=[])
    else:
        result = quantize_model(loaded, quant, targets, ctx)
        with apply_weights(loaded.model, result.weights) as snap:
            quantized = compare(loaded, baseline, ctx, _partial(ctx, baseline), paired=_originals_for(loaded, snap, result.weights))
        errors = list(result.module_errors.values())
        out.update(
            quant={
                **quant_summary(quant),
                "modules": len(targets),
                "mean_rel_error": math.fsum(errors) / len(errors) if errors else None,
                "storage": grid_summary(loaded.model, quant, targets),
                "calibration": calibration_record(result.meta.get("calibration")),
            },
            variant=None,
            protected=protected,
            **quantize_kernel.structure_outputs(loaded, result),
        )
    out.update(report(baseline, quantized, reference, boot))
    # the per-window NLLs the statistics came from, so a result can be re-analysed (`polyquant export --windows`)
    out["windows"] = {
        lang: {
            "doc": [int(w.doc) for w in lb.windows],
            "nll_base": [float(x) for x in lb.seg_nll],
            "nll_quant": [float(x) for x in quantized[lang].seg_nll],
            "tokens": [int(x) for x in lb.seg_tokens],
            "bytes": [float(x) for x in lb.seg_bytes],
        }
        for lang, lb in baseline.languages.items()
    }
    out["bootstrap"] = boot.record()
    out["protocol"] = baseline.protocol.record()
    out["kl_mode"] = kl_mode_label(baseline)
    return out
