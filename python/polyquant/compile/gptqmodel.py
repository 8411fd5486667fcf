"""GPTQModel's `quantize_config.json` with a `dynamic` map (ModelCloud/GPTQModel,
gptqmodel/quantization/config.py: `dynamic_get`, `QuantizeConfig.save_pretrained`).

The base grid is the config's own bits / group_size / sym; each other grid is one `+:` key whose
value overrides them; full-precision modules are one `-:` key (GPTQModel skips them). Keys are
exact anchored alternations of full module names (`model.layers.0.self_attn.q_proj`): GPTQModel
matches with `re.match`, which anchors only at the start, so `$` closes each pattern.
"""

from __future__ import annotations

import json

from .common import base_grid, by_grid, exact


def gptqmodel(table: list[dict], base: dict) -> dict:
    bits, group_size, sym = base_grid(base)
    dynamic: dict[str, dict] = {}
    notes = []
    for grid, rows in by_grid(table).items():
        names = [r["name"] for r in rows]
        if grid is None:
            dynamic[f"-:{exact(names)}"] = {}
        elif grid != (bits, group_size, sym):
            dynamic[f"+:{exact(names)}"] = {"bits": grid[0], "group_size": grid[1], "sym": grid[2]}
    widths = sorted({r["bits"] for r in table if r["bits"] is not None})
    if any(b in (5, 6, 7) for b in widths):
        notes.append("5-, 6- and 7-bit entries need a GPTQModel that writes the planar gptq_p format (it switches format by itself)")
    if not sym or any(r["sym"] is False for r in table):
        notes.append("asymmetric grids: GPTQModel keeps them in its gptq_v2 zero-point convention internally and converts when saving in the gptq format")
    desc_act = bool(((base.get("gptq") or {}).get("act_order")) or False)
    config = {
        "bits": bits,
        "group_size": group_size,
        "desc_act": desc_act,
        "sym": sym,
        "lm_head": False,
        "quant_method": "gptq",
        "checkpoint_format": "gptq",
        "dynamic": dynamic,
        "meta": {"quantizer": ["polyquant"]},
    }
    notes.append("use as QuantizeConfig(**json.load(open('quantize_config.json'))) before GPTQModel.load(...).quantize(...)")
    return {"file": "quantize_config.json", "text": json.dumps(config, indent=2) + "\n", "notes": notes}
