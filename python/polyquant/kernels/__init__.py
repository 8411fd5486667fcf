"""The kernel catalogue: `uses:` names mapped to the modules that implement them.

A kernel is one TypeScript definition (src/kernels/<name>.ts: parameters, defaults, outputs,
version) and one module here whose `run(params, ctx)` is wrapped by `@kernel("<name>")`
(polyquant.kernels.contract): it receives the parameters with their defaults filled and checked
against the contract generated from the TypeScript definition, and its result is checked against
the output schema. The TypeScript catalogue (src/kernels/catalog.ts) lists the same names; a test
ties the two. Modules are imported on first use, so one kernel never imports another's
dependencies.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from typing import Callable
from types import ModuleType

from ..errors import ParameterError

MODULES: dict[str, str] = {
    "perplexity": "polyquant.kernels.perplexity",
    "tokenizer-stats": "polyquant.kernels.tokenizer_stats",
    "fixture": "polyquant.kernels.fixture",
    "quantize": "polyquant.kernels.quantize",
    "disparity": "polyquant.kernels.disparity",
    "layer-sweep": "polyquant.kernels.layer_sweep",
    "load-quantized": "polyquant.kernels.load_quantized",
    "attention-heads": "polyquant.kernels.attention_heads",
    "layer-importance": "polyquant.kernels.layer_importance",
    "task-eval": "polyquant.kernels.task_eval",
    "correlation": "polyquant.kernels.correlation",
    "allocate": "polyquant.kernels.allocate",
    # the CLI's own: `polyquant doctor` and the reports' figures
    "environment": "polyquant.kernels.environment",
    "report-plots": "polyquant.kernels.report_plots",
}

# The engine's and the bridge's test kernels (sleep, crash, echo, ...) are part of the tests
# (python/tests/engine_kernels.py), loaded only in a worker started with POLYQUANT_TEST_KERNELS=1
# (the TypeScript tests set it; src/kernels/catalog.ts registers their definitions likewise).
TEST_KERNELS: dict[str, str] = {"test-echo": "echo", "test-sleep": "sleep", "test-crash": "crash", "test-fail": "fail", "test-count": "count"}
TEST_KERNELS_FILE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "tests", "engine_kernels.py")


def test_kernels_on() -> bool:
    return os.environ.get("POLYQUANT_TEST_KERNELS") == "1"


def names() -> list[str]:
    return sorted([*MODULES, *(TEST_KERNELS if test_kernels_on() else [])])


def _test_module() -> ModuleType:
    if "polyquant_test_kernels" not in sys.modules:
        spec = importlib.util.spec_from_file_location("polyquant_test_kernels", TEST_KERNELS_FILE)
        if spec is None or spec.loader is None or not os.path.isfile(TEST_KERNELS_FILE):
            raise ParameterError(f"the test kernels are not here ({TEST_KERNELS_FILE}): they exist in a checkout, not in an installed package")
        module = importlib.util.module_from_spec(spec)
        sys.modules["polyquant_test_kernels"] = module
        spec.loader.exec_module(module)
    return sys.modules["polyquant_test_kernels"]


def runner(name: str) -> Callable[..., dict]:
    """The kernel's `run(params, ctx)`, wrapped by its contract (polyquant.kernels.contract)."""
    if name in MODULES:
        return importlib.import_module(MODULES[name]).run
    if name in TEST_KERNELS and test_kernels_on():
        return getattr(_test_module(), TEST_KERNELS[name])
    raise ParameterError(f"unknown kernel {name!r}; known kernels: {', '.join(names())}")
