"""AutoAWQ's `quant_config` (casper-hansen/AutoAWQ `awq/models/_config.py`, matching in
`awq/utils/module.py` `exclude_layers_to_not_quantize`).

AutoAWQ quantizes every block linear with one `w_bit` / `q_group_size` / `zero_point`; its only
per-module control is `modules_to_not_convert`, a substring test against names relative to one
decoder block (`self_attn.q_proj`), so it cannot single out a layer. The config takes the finest
grid the plan uses (most bits, then smallest groups), so that no module gets fewer bits than
planned and the plan's per-language bound is not broken by the translation (the size grows
instead); a block-relative name goes to `modules_to_not_convert` when the plan keeps that module in
full precision in every layer (and the name is a substring of no other module's). Every module
whose planned grid AutoAWQ cannot give is listed in `notes`.
"""

from __future__ import annotations

import json

from .common import base_grid, grid_of


def _label(grid) -> str:
    return "fp16" if grid is None else f"int{grid[0]} g{grid[1]}"


def relative(name: str, block_prefix: str, layer: int) -> str:
    head = f"{block_prefix}.{layer}."
    return name[len(head):] if name.startswith(head) else name


def _finest(table: list[dict], base: dict) -> tuple[int, int, bool]:
    grids = {grid_of(r) for r in table} - {None}
    if not grids:
        return base_grid(base)
    return max(grids, key=lambda g: (g[0], -(g[1] if g[1] != -1 else 1 << 30)))


def autoawq(table: list[dict], base: dict, block_prefix: str) -> dict:
    bits, group_size, sym = _finest(table, base)
    rel = {r["name"]: relative(r["name"], block_prefix, r["layer"]) for r in table}
    by_rel: dict[str, list[dict]] = {}
    for r in table:
        by_rel.setdefault(rel[r["name"]], []).append(r)
    keep = []
    for key, rows in by_rel.items():
        if all(grid_of(r) is None for r in rows):
            hits = [n for n, rn in rel.items() if key in rn]
            if all(grid_of(next(r for r in table if r["name"] == n)) is None for n in hits):
                keep.append(key)
    config = {"zero_point": not sym, "q_group_size": group_size, "w_bit": bits, "version": "GEMM", "modules_to_not_convert": keep}
    notes = []
    differ = []
    for r in table:
        got = None if any(k in rel[r["name"]] for k in keep) else (bits, group_size, sym)
        if got != grid_of(r):
            differ.append(f"{r['name']} (plan {_label(grid_of(r))}, AutoAWQ {_label(got)})")
    if differ:
        notes.append(f"AutoAWQ has one bit width: {len(differ)} of {len(table)} modules cannot take their planned grid: " + ", ".join(differ[:8]) + (", …" if len(differ) > 8 else ""))
    notes.append("model classes that define their own modules_to_not_convert (Mixtral, Qwen2-VL, …) replace this list")
    notes.append("use as model.quantize(tokenizer, quant_config=json.load(open('quant_config.json')))")
    return {"file": "quant_config.json", "text": json.dumps(config, indent=2) + "\n", "notes": notes}
