"""An llm-compressor recipe (vllm-project/llm-compressor `recipe/recipe.py`; matching by
compressed-tensors `utils/match.py` and `lifecycle/apply.py`).

One config group per grid, each targeting an exact anchored `re:` alternation of full module
names, so no module matches two groups (compressed-tensors would settle a tie between regexes by
the alphabetically smallest pattern, not by intent); full-precision modules and the lm_head go to
`ignore`. GPTQ plans use `GPTQModifier`, the rest `QuantizationModifier`.
"""

from __future__ import annotations

import yaml

from .common import by_grid, exact


def _weights(grid: tuple[int, int, bool]) -> dict:
    bits, group_size, sym = grid
    w = {"num_bits": bits, "type": "int", "symmetric": sym}
    if group_size == -1:
        w["strategy"] = "channel"
    else:
        w.update(strategy="group", group_size=group_size)
    return w


def llm_compressor(table: list[dict], base: dict) -> dict:
    groups: dict[str, dict] = {}
    ignore = ["lm_head"]
    for grid, rows in by_grid(table).items():
        names = [r["name"] for r in rows]
        if grid is None:
            ignore += names
            continue
        groups[f"group_{len(groups)}"] = {"targets": [f"re:{exact(names)}"], "weights": _weights(grid)}
    modifier = "GPTQModifier" if base.get("method") == "gptq" else "QuantizationModifier"
    args: dict = {"ignore": ignore, "config_groups": groups}
    gptq = base.get("gptq") or {}
    if modifier == "GPTQModifier":
        args.update(block_size=int(gptq.get("block_size", 128)), dampening_frac=float(gptq.get("damp_percent", 0.01)))
    recipe = {"quant_stage": {"quant_modifiers": {modifier: args}}}
    notes = ["oneshot(model=..., recipe='recipe.yaml', dataset=...) — GPTQModifier needs calibration data; QuantizationModifier (RTN-like) does not"]
    if any(r["name"].endswith(("c_attn", "c_proj", "c_fc")) for r in table):
        notes.append("GPT-2's Conv1D layers are not torch.nn.Linear: compressed-tensors assigns schemes to Linear modules only")
    return {"file": "recipe.yaml", "text": yaml.safe_dump(recipe, sort_keys=False, width=10_000), "notes": notes}
