"""The kernel catalogue: `uses:` names mapped to the modules that implement them.

Each kernel module defines `VERSION` (bump it when results change, so caches invalidate) and
`run(params: dict, ctx: KernelContext) -> dict`, where `params` is the step's resolved `with`
(plain JSON) and the returned dict matches the kernel's output schema in `src/kernels/<name>.ts`.
Modules are imported on first use, so calling one kernel never imports another's dependencies.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from ..errors import ParameterError

MODULES: dict[str, str] = {
    # test kernels for the bridge and engine (sleep, crash, echo, ...)
    "test-echo": "polyquant.kernels.testing",
    "test-sleep": "polyquant.kernels.testing",
    "test-crash": "polyquant.kernels.testing",
    "test-fail": "polyquant.kernels.testing",
    "test-count": "polyquant.kernels.testing",
    "environment": "polyquant.kernels.environment",
    "perplexity": "polyquant.kernels.perplexity",
    "tokenizer-stats": "polyquant.kernels.tokenizer_stats",
    "fixture": "polyquant.kernels.fixture",
    "report-plots": "polyquant.kernels.report_plots",
    "quantize": "polyquant.kernels.quantize",
    "disparity": "polyquant.kernels.disparity",
    "layer-sweep": "polyquant.kernels.layer_sweep",
    "load-quantized": "polyquant.kernels.load_quantized",
    "attention-heads": "polyquant.kernels.attention_heads",
    "layer-importance": "polyquant.kernels.layer_importance",
    "task-eval": "polyquant.kernels.task_eval",
    "correlation": "polyquant.kernels.correlation",
}


def load(name: str) -> ModuleType:
    if name not in MODULES:
        raise ParameterError(f"unknown kernel {name!r}; known kernels: {', '.join(sorted(MODULES))}")
    return importlib.import_module(MODULES[name])
