"""`layer-importance` kernel (PRO-003): Fisher, Hessian trace, activation variance, block influence
and measured quantization sensitivity per layer and calibration language, and their Spearman
correlations. Definitions: polyquant/analysis/importance.py.

Quantization sensitivity uses the `quant` config (default RTN 4-bit, group 128) with `protect`
and `overrides`: one quantization pass (polyquant.quant.methods), then for each layer only its
targets are applied, measured and restored. Gradient criteria need float32 or bfloat16 weights
with autograd; they run on the model's device. Checkpoints after every (language, criterion).
"""

from __future__ import annotations

from ..analysis.importance import CRITERIA, ImportanceConfig, analyse_importance
from ..analysis.windows import corpus_windows
from ..context import KernelContext
from ..errors import ParameterError
from ..models import resident, structure
from ..quant.methods import quantize_model
from . import quantize as quantize_kernel
from .attention_heads import corpus_of, positive_int

VERSION = "1"


def run(params: dict, ctx: KernelContext) -> dict:
    if "model" not in params:
        raise ParameterError("layer-importance needs `model`")
    corpus = corpus_of(params, "layer-importance")
    criteria = params.get("criteria") or list(CRITERIA)
    if not isinstance(criteria, list):
        raise ParameterError(f"criteria {criteria!r} must be a list of {', '.join(CRITERIA)}")
    seed = params.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ParameterError(f"seed {seed!r} must be an integer")
    cfg = ImportanceConfig(
        criteria=tuple(criteria),
        hutchinson_samples=positive_int(params, "hutchinson_samples", 16),
        seed=seed,
        batch_size=positive_int(params, "batch_size", 8),
    )
    seq_len = positive_int(params, "seq_len", 128)
    max_windows = positive_int(params, "max_windows", 8)

    loaded = resident.get(params["model"])
    windows = corpus_windows(loaded.tokenizer, corpus["languages"], params.get("languages"), seq_len, max_windows)
    quantized = None
    quant_meta = None
    if "quant_sensitivity" in cfg.criteria:
        quant, targets, _protected = quantize_kernel.plan(loaded, params)
        result = quantize_model(loaded, quant, targets, ctx)
        n_layers = structure.num_layers(loaded.model)
        names = [[t.param_name for t in targets if t.layer == i] for i in range(n_layers)]
        quantized = (result.weights, names)
        quant_meta = {k: quant[k] for k in ("method", "bits", "group_size", "sym")}
    out = analyse_importance(loaded.model, windows, cfg, ctx, quantized)
    out["quant"] = quant_meta
    out["model"] = loaded.describe()
    out["windows"] = {lang: len(w) for lang, w in windows.items()}
    return out
