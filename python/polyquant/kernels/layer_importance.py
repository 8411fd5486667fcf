"""`layer-importance` kernel (PRO-003): Fisher, Hessian trace, activation variance, block influence
and measured quantization sensitivity per layer and calibration language, and their Spearman
correlations, each ranking with bootstrap CIs and P(top k) per layer (analysis/importance_uncertainty.py).
Definitions: polyquant/analysis/importance.py.

Quantization sensitivity uses the `quant` config (defaults in src/kernels/common.ts) with `protect`
and `overrides`: one quantization pass (polyquant.quant.methods), then for each layer only its
targets are applied, measured and restored. Gradient criteria need float32 or bfloat16 weights
with autograd; they run on the model's device. Checkpoints after every (language, criterion).
"""

from __future__ import annotations

from ..analysis.bootstrap import BootstrapConfig
from ..analysis.importance import ImportanceConfig, analyse_importance
from ..analysis.windows import corpus_windows
from ..context import KernelContext
from ..models import resident, structure
from ..quant.methods import quant_summary, quantize_model
from . import quantize as quantize_kernel
from .contract import kernel


@kernel("layer-importance")
def run(params: dict, ctx: KernelContext) -> dict:
    cfg = ImportanceConfig(
        criteria=tuple(params["criteria"]),
        hutchinson_samples=params["hutchinson_samples"],
        seed=params["seed"],
        batch_size=params["batch_size"],
    )
    loaded = resident.get(params["model"])
    windows = corpus_windows(loaded.tokenizer, params["corpus"]["languages"], params.get("languages"), params["seq_len"], params["max_windows"])
    quantized = None
    quant_meta = None
    if "quant_sensitivity" in cfg.criteria:
        quant, targets, _protected = quantize_kernel.plan(loaded, params)
        result = quantize_model(loaded, quant, targets, ctx)
        n_layers = structure.num_layers(loaded.model)
        names = [[t.param_name for t in targets if t.layer == i] for i in range(n_layers)]
        quantized = (result.weights, names)
        quant_meta = quant_summary(quant)
    boot = BootstrapConfig.from_params(params.get("bootstrap"))
    out = analyse_importance(loaded.model, windows, cfg, ctx, quantized, boot, params.get("top_k", 3))
    out["quant"] = quant_meta
    out["model"] = loaded.describe()
    out["windows"] = {lang: len(w) for lang, w in windows.items()}
    return out
