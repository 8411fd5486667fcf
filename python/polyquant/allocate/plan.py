"""An allocation as polyquant reads it (`quant` + `protect` + `overrides`, so that a `quantize`
or `disparity` step re-quantizes with it) and as a per-module table (what `polyquant/compile/`
writes in each quantizer's syntax).

The base grid is the choice that covers the most weights; other grids become overrides, full
precision becomes protection. A block whose every linear shares a choice is named by its layer
index, other modules by an anchored regex of their full names (`^(?:name|name)$`), so the plan
matches exactly the planned modules and nothing else.
"""

from __future__ import annotations

import re
from collections import defaultdict

from .units import Choice, Module


def _names_regex(names: list[str]) -> str:
    return "^(?:" + "|".join(re.escape(n) for n in sorted(names)) + ")$"


def base_choice(modules: list[Module], assignment: dict[str, Choice]) -> Choice:
    weight: dict[Choice, int] = defaultdict(int)
    for m in modules:
        if assignment[m.name].quantized:
            weight[assignment[m.name]] += m.params
    if not weight:
        return Choice(None)
    return max(weight, key=lambda c: (weight[c], -(c.bits or 0)))


def _split_by_layer(modules: list[Module], chosen: set[str]) -> tuple[list[int], list[str]]:
    """(layers all of whose modules are in `chosen`, the other chosen module names)."""
    by_layer: dict[int, list[Module]] = defaultdict(list)
    for m in modules:
        by_layer[m.layer].append(m)
    whole = sorted(layer for layer, ms in by_layer.items() if all(m.name in chosen for m in ms))
    rest = sorted(m.name for m in modules if m.name in chosen and m.layer not in whole)
    return whole, rest


def polyquant_plan(modules: list[Module], assignment: dict[str, Choice], quant: dict, protect: dict) -> dict:
    """{quant, protect, overrides}: the allocation in a quantize/disparity step's own parameters.
    `protect` is the step's fixed protection (kept); the allocation's full-precision modules join it."""
    base = base_choice(modules, assignment)
    plan_quant = {k: v for k, v in quant.items()}
    calibration = plan_quant.get("calibration")
    if isinstance(calibration, dict) and "corpus" in calibration:
        # the engine hands the step the calibration documents themselves; a plan names no documents
        # (a step that re-quantizes with it resolves its own calibration corpus, the workflow's by default)
        plan_quant["calibration"] = {k: v for k, v in calibration.items() if k != "corpus"}
    if base.quantized:
        plan_quant.update(bits=base.bits, group_size=base.group_size, sym=base.sym)
    fixed = {m.name for m in modules if m.fixed}
    fp = {m.name for m in modules if not assignment[m.name].quantized} | fixed
    fp_layers, fp_modules = _split_by_layer(modules, fp)
    fp_modules = [n for n in fp_modules if n not in fixed]  # the step's own protect keeps those
    plan_protect = {
        "layers": sorted(set(protect.get("layers", [])) | set(fp_layers)),
        "modules": list(protect.get("modules", [])) + ([_names_regex(fp_modules)] if fp_modules else []),
    }
    overrides = []
    others = sorted({c for c in assignment.values() if c.quantized and c != base}, key=lambda c: (c.bits, c.group_size, c.sym))
    for choice in others:
        chosen = {m.name for m in modules if assignment[m.name] == choice}
        layers, names = _split_by_layer(modules, chosen)
        grid = {"bits": choice.bits, "group_size": choice.group_size, "sym": choice.sym}
        if layers:
            overrides.append({"layers": layers, **grid})
        if names:
            overrides.append({"modules": _names_regex(names), **grid})
    return {"quant": plan_quant, "protect": plan_protect, "overrides": overrides}


def module_table(modules: list[Module], assignment: dict[str, Choice]) -> list[dict]:
    """Every candidate linear with its planned grid (bits null: full precision), in model order."""
    rows = []
    for m in modules:
        c = assignment[m.name]
        rows.append({
            "name": m.name, "layer": m.layer, "role": m.role,
            "gguf_tensor": f"blk.{m.layer}.{m.role}" if m.role != "other" else None,
            "bits": c.bits, "group_size": c.group_size if c.quantized else None, "sym": c.sym if c.quantized else None,
            "params": m.params, "bpw": c.bpw(m.in_features),
        })  # fmt: skip
    return rows
