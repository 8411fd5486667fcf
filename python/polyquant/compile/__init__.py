"""A per-module quantization plan in each quantizer's own syntax.

Input: the plan's module table (`allocate/plan.module_table`: full name, layer, llama.cpp tensor,
bits or None for full precision, group size, symmetry) and the base grid. Each writer emits the
file that tool reads, such that the tool's own matching rules give every module exactly its
planned grid, and says in `notes` what its syntax cannot express (AutoAWQ has one bit width).
The rules, read from each tool's source (python/tests/test_compile.py re-implements them):
- GPTQModel `dynamic` (gptqmodel/quantization/config.py `dynamic_get`): `re.match` (anchored at
  the start only), `-:` skips a module, first match wins after the negatives are moved first;
- compressed-tensors (utils/match.py, lifecycle/apply.py): `re:` targets use `re.match`, plain
  targets are exact names or class names; exact beats regex beats class, ties go to the
  alphabetically smallest target; `ignore` removes a module from every group;
- AutoAWQ (awq/utils/module.py `exclude_layers_to_not_quantize`): substring test against names
  relative to one decoder block; one `w_bit` for the whole model;
- llama.cpp (tools/quantize/quantize.cpp, src/llama-quant.cpp): whitespace-separated
  `pattern=type` tokens, no comments, the pattern lower-cased, `std::regex_search`; first match
  wins in current versions, last match in mid-2025 ones.
So every writer uses anchored patterns that never overlap: first-match, last-match and
most-specific-match rules then agree.
"""

from __future__ import annotations

import re
from typing import Any, Optional

from .autoawq import autoawq
from .gptqmodel import gptqmodel
from .llama_cpp import llama_cpp
from .llm_compressor import llm_compressor

TARGETS = ("gptqmodel", "llm-compressor", "autoawq", "llama.cpp")


def compile_all(table: list[dict], base: dict, loaded: Optional[Any] = None, block_prefix: Optional[str] = None) -> dict:
    """{target: {file, text, notes}} for every target. `block_prefix` (e.g. `model.layers`) is read
    from the loaded model's structure when not given: AutoAWQ names modules relative to a block."""
    if block_prefix is None and loaded is not None:
        from ..models import structure

        block_prefix = structure.structure_of(loaded.model).blocks
    return {
        "gptqmodel": gptqmodel(table, base),
        "llm-compressor": llm_compressor(table, base),
        "autoawq": autoawq(table, base, block_prefix or _guess_prefix(table)),
        "llama.cpp": llama_cpp(table, base),
    }


def _guess_prefix(table: list[dict]) -> str:
    for row in table:
        m = re.match(rf"^(.*)\.{row['layer']}\.", row["name"])
        if m:
            return m.group(1)
    return "model.layers"
