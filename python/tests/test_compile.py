"""Compiled plans checked against each quantizer's own matching rules, re-implemented here from
their source (python/polyquant/compile/__init__.py names the functions), on the real module names
of the fixture architectures and of the architecture suite (tests/archs.py).

For every model, a random plan (full precision, the base grid and two others, per module) is
compiled; each tool's matcher then resolves every module's grid from the compiled file, and it
must equal the plan (AutoAWQ: equal wherever its one bit width can say it, and every other module
named in its notes).
"""

import json
import random
import re

import pytest
import torch
import yaml
from torch import nn

from archs import ARCHS, config
from polyquant.allocate.plan import module_table
from polyquant.allocate.units import Choice, modules_of
from polyquant.compile import compile_all
from polyquant.compile.llama_cpp import GGML_TYPE
from polyquant.models import structure
from polyquant.quant.plan import all_candidates

BASE = {"method": "rtn", "bits": 4, "group_size": 32, "sym": False}
GRIDS = [Choice(None), Choice(4, 32, False), Choice(8, 32, False), Choice(3, 32, True), Choice(2, -1, False)]


# ---- the tools' rules ---------------------------------------------------------------------------

def gptqmodel_grid(cfg: dict, name: str):
    """GPTQModel `dynamic_get`: negatives moved first, then the first key whose pattern re.match-es."""
    keys = [k for k in cfg["dynamic"] if k.startswith("-:")] + [k for k in cfg["dynamic"] if not k.startswith("-:")]
    for key in keys:
        pattern = key[2:] if key.startswith(("+:", "-:")) else key
        if re.match(pattern, name):
            if key.startswith("-:"):
                return None
            o = cfg["dynamic"][key]
            return (o.get("bits", cfg["bits"]), o.get("group_size", cfg["group_size"]), o.get("sym", cfg["sym"]))
    return (cfg["bits"], cfg["group_size"], cfg["sym"])


def _ct_match(target: str, name: str, module: nn.Module) -> bool:
    if target.startswith("re:"):
        return re.match(target[3:], name) is not None
    return target == name or any(c.__name__ == target for c in type(module).__mro__)


def llm_compressor_grid(recipe: dict, name: str, module: nn.Module):
    """compressed-tensors `apply_quantization_config`: ignore first; then exact name > regex > class,
    ties to the alphabetically smallest target; the same target in two groups: the later group."""
    (modifier,) = recipe["quant_stage"]["quant_modifiers"].values()
    if any(_ct_match(t, name, module) for t in modifier.get("ignore", [])):
        return None
    target_to_scheme = {}
    for group in modifier["config_groups"].values():
        for t in group["targets"]:
            target_to_scheme[t] = group["weights"]
    matched = [t for t in target_to_scheme if _ct_match(t, name, module)]
    if not matched:
        return None
    exact = sorted(t for t in matched if t == name)
    regex = sorted(t for t in matched if t.startswith("re:"))
    klass = sorted(t for t in matched if t not in exact and t not in regex)
    w = target_to_scheme[(exact or regex or klass)[0]]
    return (w["num_bits"], w.get("group_size", -1) if w["strategy"] == "group" else -1, w["symmetric"])


def autoawq_grid(cfg: dict, relative_name: str):
    """AutoAWQ `exclude_layers_to_not_quantize`: a substring of the block-relative name is not converted."""
    if any(key in relative_name for key in cfg["modules_to_not_convert"]):
        return None
    return (cfg["w_bit"], cfg["q_group_size"], not cfg["zero_point"])


def llama_cpp_types(text: str, tensor: str) -> list[str]:
    """llama-quantize: whitespace-separated pattern=type tokens, pattern lower-cased, std::regex_search."""
    out = []
    for token in text.split():
        pattern, _, kind = token.partition("=")
        assert pattern and kind, f"malformed token {token!r} (llama-quantize aborts on it)"
        if re.search(pattern.lower(), tensor):
            out.append(kind.lower())
    return out


# ---- models -------------------------------------------------------------------------------------

def _model(name: str, tokenizer=None) -> nn.Module:
    torch.manual_seed(0)
    if name.startswith("fixture:"):  # polyquant's own fixture architectures (DESIGN §8)
        from polyquant.models.fixture import FixtureConfig, build_model

        return build_model(name.removeprefix("fixture:"), FixtureConfig(), tokenizer, seed=0).eval()
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_config(config(name, 256)).eval()


def _plan(model: nn.Module, seed: int):
    modules = modules_of(all_candidates(model, BASE), all_candidates(model, BASE))
    rng = random.Random(seed)
    assignment = {m.name: rng.choice(GRIDS) for m in modules}
    return modules, assignment, module_table(modules, assignment)


def _planned(row):
    return None if row["bits"] is None else (row["bits"], row["group_size"], row["sym"])


ARCH_NAMES = ["fixture:tiny-llama", "fixture:tiny-gpt2", *sorted(ARCHS)]


@pytest.fixture(scope="module", params=ARCH_NAMES)
def compiled(request, tiny_tokenizer):
    model = _model(request.param, tiny_tokenizer)
    modules, assignment, table = _plan(model, seed=len(request.param))
    prefix = structure.structure_of(model).blocks
    return model, table, compile_all(table, BASE, block_prefix=prefix), prefix


def test_gptqmodel_dynamic_gives_every_module_its_planned_grid(compiled):
    model, table, out, _ = compiled
    cfg = json.loads(out["gptqmodel"]["text"])
    assert (cfg["bits"], cfg["group_size"], cfg["sym"]) == (4, 32, False)
    for row in table:
        assert gptqmodel_grid(cfg, row["name"]) == _planned(row), row["name"]


def test_llm_compressor_recipe_gives_every_module_its_planned_grid_and_ignores_the_head(compiled):
    model, table, out, _ = compiled
    recipe = yaml.safe_load(out["llm-compressor"]["text"])
    named = dict(model.named_modules())
    for row in table:
        assert llm_compressor_grid(recipe, row["name"], named[row["name"]]) == _planned(row), row["name"]
    head = [n for n, mod in named.items() if n.endswith("lm_head")]
    for n in head:
        assert llm_compressor_grid(recipe, n, named[n]) is None


def test_llama_cpp_file_types_every_block_tensor_once(compiled):
    model, table, out, _ = compiled
    text = out["llama.cpp"]["text"]
    assert "#" not in text  # no comment syntax: a token without '=' aborts llama-quantize
    for row in table:
        if row["gguf_tensor"] is None:
            continue
        types = llama_cpp_types(text, row["gguf_tensor"] + ".weight")
        expected = "f16" if row["bits"] is None else GGML_TYPE[row["bits"]].lower()
        assert types == [expected], (row["name"], types)  # one match: first- and last-match versions agree
    for other in ("token_embd.weight", "output.weight", "blk.0.attn_norm.weight"):
        assert llama_cpp_types(text, other) == []


def test_autoawq_keeps_what_it_can_and_names_every_module_it_cannot(compiled):
    model, table, out, prefix = compiled
    cfg = json.loads(out["autoawq"]["text"])
    planned_bits = [r["bits"] for r in table if r["bits"] is not None]
    assert cfg["w_bit"] == max(planned_bits)  # the finest grid: no module gets fewer bits than planned
    differ = []
    for row in table:
        rel = row["name"][len(f"{prefix}.{row['layer']}."):]
        if autoawq_grid(cfg, rel) != _planned(row):
            differ.append(row["name"])
    note = next((n for n in out["autoawq"]["notes"] if "cannot take their planned grid" in n), "")
    assert f"{len(differ)} of {len(table)} modules" in note if differ else note == ""
    for name in differ[:8]:
        assert name in note


def test_autoawq_is_exact_for_a_plan_it_can_express():
    model = _model("llama")
    modules = modules_of(all_candidates(model, BASE), all_candidates(model, BASE))
    assignment = {m.name: Choice(None) if m.name.endswith("mlp.down_proj") else Choice(4, 32, False) for m in modules}
    table = module_table(modules, assignment)
    out = compile_all(table, BASE, block_prefix="model.layers")
    cfg = json.loads(out["autoawq"]["text"])
    assert cfg["modules_to_not_convert"] == ["mlp.down_proj"]
    assert all(autoawq_grid(cfg, r["name"].split(".", 3)[3]) == _planned(r) for r in table)
    assert not any("cannot take" in n for n in out["autoawq"]["notes"])


def test_gguf_names_follow_gguf_py_for_fused_projections():
    """gguf-py's tensor_mapping: GPT-2 c_attn → attn_qkv, c_proj → attn_output / ffn_down, c_fc → ffn_up;
    Phi-3 qkv_proj → attn_qkv, gate_up_proj → ffn_up."""
    for arch, expected in {
        "gpt2": {"attn.c_attn": "attn_qkv", "attn.c_proj": "attn_output", "mlp.c_fc": "ffn_up", "mlp.c_proj": "ffn_down"},
        "phi3": {"self_attn.qkv_proj": "attn_qkv", "self_attn.o_proj": "attn_output", "mlp.gate_up_proj": "ffn_up", "mlp.down_proj": "ffn_down"},
    }.items():
        _, _, table = _plan(_model(arch), 0)
        got = {r["name"].split(".", 3)[3] if arch == "phi3" else r["name"].split(".", 3)[3]: r["gguf_tensor"].split(".", 2)[2] for r in table if r["layer"] == 0}
        assert got == expected, arch
