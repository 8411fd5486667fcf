"""A remote-code model (trust_remote_code) shaped like the seed's original Qwen-7B goes through the
same structure discovery, AWQ group derivation and quantization as the built-in architectures."""

import json
import os
import shutil

import pytest
import torch

from polyquant.errors import ModelError
from polyquant.models.load import load_model
from polyquant.quant.methods import quantize_model
from polyquant.quant.plan import resolve_targets
from quant_tiny import CORPUS

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "remote_code")


@pytest.fixture(scope="module")
def qwenlike_dir(tmp_path_factory, tiny_tokenizer):
    import importlib.util
    import sys

    path = str(tmp_path_factory.mktemp("qwenlike"))
    for f in ("configuration_qwenlike.py", "modeling_qwenlike.py"):
        shutil.copy(os.path.join(HERE, f), path)
    pkg = "qwenlike_remote"  # import the files as a package once, to build and save random weights
    spec = importlib.util.spec_from_file_location(pkg, os.path.join(path, "modeling_qwenlike.py"), submodule_search_locations=[path])
    sys.modules[pkg] = module = importlib.util.module_from_spec(spec)
    cfg_spec = importlib.util.spec_from_file_location(f"{pkg}.configuration_qwenlike", os.path.join(path, "configuration_qwenlike.py"))
    sys.modules[cfg_spec.name] = cfg_mod = importlib.util.module_from_spec(cfg_spec)
    cfg_spec.loader.exec_module(cfg_mod)
    spec.loader.exec_module(module)
    torch.manual_seed(0)
    model = module.QwenLikeForCausalLM(cfg_mod.QwenLikeConfig(vocab_size=len(tiny_tokenizer)))
    with torch.no_grad():
        for n, p in model.named_parameters():
            if n.endswith("ln_1.weight") or n.endswith("ln_2.weight"):
                p.add_(torch.rand_like(p))
    model.save_pretrained(path, safe_serialization=True)
    with open(os.path.join(path, "config.json")) as f:
        config = json.load(f)
    config["auto_map"] = {"AutoConfig": "configuration_qwenlike.QwenLikeConfig", "AutoModelForCausalLM": "modeling_qwenlike.QwenLikeForCausalLM"}
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(config, f)
    tiny_tokenizer.save_pretrained(path)
    return path


def test_remote_code_needs_the_workflow_to_trust_it(qwenlike_dir):
    with pytest.raises(ModelError, match="trust_remote_code|remote code|qwenlike"):
        load_model({"id": qwenlike_dir, "device": "cpu"})


def test_remote_code_model_is_discovered_and_quantized(qwenlike_dir):
    loaded = load_model({"id": qwenlike_dir, "device": "cpu", "trust_remote_code": True})
    s = loaded.structure
    assert s.blocks == "transformer.h" and s.n_layers == 3
    assert s.linears[0] == ["attn.c_attn", "attn.c_proj", "mlp.w1", "mlp.w2", "mlp.c_proj"]
    assert s.attn_out == "attn.c_proj" and s.embeddings == ("transformer.wte",) and s.lm_head == "lm_head"
    quant = {"method": "awq", "bits": 4, "group_size": 32, "calibration": {"corpus": CORPUS, "samples": 4, "seq_len": 24}, "awq": {"grid": 4}}
    targets = resolve_targets(loaded.model, quant, {"layers": [0]})
    res = quantize_model(loaded, quant, targets)
    groups = [(g.prev.split(".", 3)[-1], tuple(n.split(".", 3)[-1] for n in g.linears)) for g in res.awq.scales if ".h.1." in g.prev]
    # c_proj reads w1(x) · silu(w2(x)): linear in w1's output, not in w2's (the nearer candidate, rejected)
    assert groups == [("ln_1", ("attn.c_attn",)), ("ln_2", ("mlp.w1", "mlp.w2")), ("mlp.w1", ("mlp.c_proj",))]
    assert res.meta["search"]["fold_logit_change"] < 1e-5
    gptq = quantize_model(loaded, {**quant, "method": "gptq"}, targets)
    assert set(gptq.module_errors) == {t.name for t in targets}
