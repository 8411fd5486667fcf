"""Every kernel on tiny random models of the architectures researchers bring (python/tests/archs.py).

For each architecture, built from transformers' own config class (no download):
- structure found: 4 blocks, linears in each, the attention output projection;
- perplexity equal to transformers' own `labels=` loss on the same windows;
- RTN int4 with protect [0, -1]: protected blocks bit-identical, every other block linear changed;
- GPTQ: its logit error on the calibration text below RTN's (the error it must beat);
- AWQ: the searched scales folded without quantization leave the logits unchanged (checked again
  here, independently of the kernel's own check), and the expected groups for the architectures
  whose layout is unusual (post-norms, parallel blocks, (1 + w) norms, non-parametric norms);
- the layer-sweep, attention-heads and layer-importance kernels;
- a GPTQ export loaded back as a GPTQ checkpoint gives the in-memory quantized model's logits.

`POLYQUANT_WRITE_MODELS_DOC=1` rewrites docs/models.md from the run; a test checks the doc lists
every architecture of the suite.
"""

from __future__ import annotations

import os

import pytest
import torch

import archs
from polyquant.context import KernelContext
from polyquant.eval.perplexity import Protocol, make_windows, measure
from polyquant.kernels import attention_heads, layer_importance, layer_sweep
from polyquant.models import structure
from polyquant.models.load import load_model
from polyquant.quant.apply import apply_weights
from polyquant.quant.awq_groups import fold_weights, relative_change
from polyquant.quant.export import export_gptq
from polyquant.quant.methods import quantize_model
from polyquant.quant.plan import resolve_targets
from quant_tiny import CORPUS

pytestmark = pytest.mark.usefixtures("one_thread")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOC = os.path.join(ROOT, "docs", "models.md")
CAL = {"corpus": CORPUS, "samples": 8, "seq_len": 32}
QUANT = {"bits": 4, "group_size": 32, "calibration": CAL}
PROTOCOL = {"context_length": 16}
KERNELS = ("structure", "perplexity", "rtn+protect", "gptq", "awq", "layer-sweep", "attention-heads", "layer-importance", "gptq export")

# Block-relative `prev` of each scale group AWQ must find (block 1), where the layout is not Llama's.
EXPECTED_GROUPS = {
    "llama": ["input_layernorm", "self_attn.v_proj", "post_attention_layernorm", "mlp.up_proj"],
    "llama-gqa": ["input_layernorm", "post_attention_layernorm", "mlp.up_proj"],  # v_proj has fewer outputs than o_proj inputs
    "gemma2": ["input_layernorm", "pre_feedforward_layernorm", "mlp.up_proj"],  # post_attention_layernorm normalises attention's output
    "gemma3_text": ["input_layernorm", "pre_feedforward_layernorm", "mlp.up_proj"],
    "gpt2": ["ln_1", "ln_2"],  # c_attn is fused (3d outputs); GELU sits before mlp.c_proj
    "gpt_neox": ["input_layernorm", "post_attention_layernorm"],  # parallel residual: each norm reads the block input
    "falcon": ["input_layernorm"],  # one norm feeds attention and MLP
    "phi": ["input_layernorm", "self_attn.v_proj"],
    "olmo": ["self_attn.v_proj", "mlp.up_proj"],  # OLMo-1's LayerNorm has no weight
    "olmo2": ["self_attn.v_proj", "mlp.up_proj"],  # post-norms: q/k/v and gate/up read the raw residual
    "phi3": ["input_layernorm", "post_attention_layernorm"],  # fused gate_up_proj: down_proj reads act(gate)·up
}
FOLDS = {"gemma": "one_plus", "gemma2": "one_plus", "gemma3_text": "one_plus"}  # norms of the form (1 + w)

RESULTS: dict[str, dict[str, str]] = {}


@pytest.fixture(scope="module")
def arch_dirs(tmp_path_factory):
    from polyquant.models.fixture import train_tokenizer

    texts = [d for docs in CORPUS["languages"].values() for d in docs]
    tok = train_tokenizer(texts * 3, vocab_size=300)
    root = tmp_path_factory.mktemp("archs")
    return {name: archs.build(name, tok, str(root / name)) for name in archs.ARCHS}


def _logits(model, ids):
    with torch.no_grad():
        return model(input_ids=ids, use_cache=False).logits.float()


def _calibration_ids(loaded):
    from polyquant.quant.calibration import calibration_for

    return calibration_for(loaded, {"method": "gptq", **QUANT})[0]


def _hf_nll(model, window) -> float:
    ids = window.input_ids + [window.labels[-1] if window.labels[-1] != -100 else 0]
    labels = [-100] + list(window.labels)
    n = sum(1 for y in window.labels if y != -100)
    with torch.no_grad():
        return float(model(input_ids=torch.tensor([ids]), labels=torch.tensor([labels])).loss) * n


@pytest.mark.parametrize("name", list(archs.ARCHS))
def test_every_kernel_runs_on_the_architecture(name, arch_dirs, tmp_path):
    row = RESULTS.setdefault(name, {})
    path = arch_dirs[name]
    spec = {"id": path, "device": "cpu"}
    loaded = load_model(spec)
    model = loaded.model
    s = loaded.structure
    assert s.n_layers == archs.LAYERS and all(s.linears) and s.attn_out is not None
    row["structure"] = f"`{s.blocks}` × {s.n_layers}, {len(s.linears[0])} linears/block" + (" (Conv1D)" if s.transposed else "")

    # perplexity: polyquant's NLL equals transformers' own loss on the same windows
    stats = measure(loaded, CORPUS, Protocol(**PROTOCOL))
    resolved = Protocol(**PROTOCOL).resolve(loaded.max_positions)
    for lang, docs in CORPUS["languages"].items():
        hf = sum(_hf_nll(model, w) for w in make_windows(loaded.tokenizer, docs, resolved))
        assert stats[lang]["nll"] == pytest.approx(hf, rel=1e-5), lang
    row["perplexity"] = "= HF loss"

    ids = _calibration_ids(loaded)
    base = _logits(model, ids)

    # RTN with the first and last block protected
    quant = {"method": "rtn", **QUANT}
    targets = resolve_targets(model, quant, {"layers": [0, -1]})
    assert {t.layer for t in targets} == {1, 2}
    rtn = quantize_model(loaded, quant, targets)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with apply_weights(model, rtn.weights):
        rtn_err = float((_logits(model, ids) - base).pow(2).mean())
        for k, v in model.state_dict().items():
            block = k.split(f"{s.blocks}.", 1)[1].split(".", 1)[0] if k.startswith(f"{s.blocks}.") else None
            if block in ("0", str(archs.LAYERS - 1)):
                assert torch.equal(v, before[k]), f"protected {k} changed"
        for t in targets:
            assert not torch.equal(t.module.weight, before[t.param_name]), f"{t.name} not quantized"
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    row["rtn+protect"] = f"{len(targets)} linears, protected untouched"

    # GPTQ beats RTN on its calibration text
    quant = {"method": "gptq", **QUANT}
    gptq = quantize_model(loaded, quant, targets)
    with apply_weights(model, gptq.weights):
        gptq_logits = _logits(model, ids)
    gptq_err = float((gptq_logits - base).pow(2).mean())
    assert gptq_err < rtn_err, (gptq_err, rtn_err)
    row["gptq"] = f"MSE {gptq_err / rtn_err:.2f}× RTN"

    # AWQ: fold invariance checked independently; the groups it found
    quant = {"method": "awq", **QUANT, "awq": {"grid": 5}}
    awq = quantize_model(loaded, quant, targets)
    found = awq.awq
    fresh = torch.randint(1, len(loaded.tokenizer), (2, 24), generator=torch.Generator().manual_seed(5))
    ref = _logits(model, fresh)
    with apply_weights(model, fold_weights(model, [(a.group, a.s) for a in found.scales])):
        change = relative_change(_logits(model, fresh), ref)
    assert change < 1e-5, change
    prefix = f"{s.blocks}.1."
    prevs = [a.prev[len(prefix):] for a in found.scales if a.prev.startswith(prefix)]
    if name in EXPECTED_GROUPS:
        assert prevs == EXPECTED_GROUPS[name]
    for a in found.scales:
        if structure.is_linear(structure.module(model, a.prev)):
            continue
        assert a.fold == FOLDS.get(name, "divide"), (a.prev, a.fold)
    with apply_weights(model, awq.weights):
        awq_err = float((_logits(model, ids) - base).pow(2).mean())
    row["awq"] = f"{len(prevs)} groups/block ({', '.join(prevs) or 'none'}); fold Δ {change:.0e}; MSE {awq_err / rtn_err:.2f}× RTN"

    # layer-sweep, attention-heads, layer-importance through their kernels
    params = {"model": spec, "corpus": CORPUS, "quant": {"method": "rtn", "bits": 3, "group_size": 32}}
    sweep = layer_sweep.run({**params, "protocol": PROTOCOL, "mode": "protect-one"}, KernelContext())
    assert len(sweep["rows"]) == archs.LAYERS
    row["layer-sweep"] = f"{len(sweep['rows'])} rows"
    heads = attention_heads.run({"model": spec, "corpus": CORPUS, "seq_len": 16, "max_windows": 2}, KernelContext())
    assert heads["heads_per_layer"] == archs.HEADS and len(heads["per_layer"]) == archs.LAYERS
    row["attention-heads"] = f"{heads['heads_per_layer']} heads × {len(heads['per_layer'])} layers"
    imp = layer_importance.run(
        {**params, "criteria": ["activation_variance", "block_influence", "quant_sensitivity"], "seq_len": 16, "max_windows": 2},
        KernelContext(),
    )
    layers = imp["mean"]["layers"]
    assert len(layers) == archs.LAYERS and all(all(c in x for c in imp["criteria"]) for x in layers)
    row["layer-importance"] = f"{len(imp['criteria'])} criteria × {len(layers)} layers"

    # a GPTQ export, loaded back as a GPTQ checkpoint
    out_dir = str(tmp_path / "gptq")
    export_gptq(loaded, gptq, out_dir)
    back = load_model({"id": out_dir, "format": "gptq", "device": "cpu", "dtype": "float32"})
    diff = relative_change(_logits(back.model, ids), gptq_logits)
    assert diff < 5e-3, diff  # scales are stored as float16
    row["gptq export"] = f"reloaded, Δ logits {diff:.0e}"


def test_models_doc_lists_every_architecture():
    """docs/models.md is generated from the run above (POLYQUANT_WRITE_MODELS_DOC=1)."""
    if os.environ.get("POLYQUANT_WRITE_MODELS_DOC") == "1" and len(RESULTS) == len(archs.ARCHS):
        _write_doc()
    with open(DOC, encoding="utf-8") as f:
        text = f.read()
    for name in archs.ARCHS:
        assert f"| `{name}` |" in text, f"docs/models.md lacks {name}: rerun with POLYQUANT_WRITE_MODELS_DOC=1"


def _write_doc() -> None:
    lines = [
        "# Architectures × kernels",
        "",
        "Generated by `POLYQUANT_WRITE_MODELS_DOC=1 node scripts/pytest.mjs tests/test_architectures.py` from tiny random",
        f"models built from transformers' own configs (hidden {archs.HIDDEN}, {archs.LAYERS} layers, {archs.HEADS} heads, group size 32;",
        "python/tests/archs.py). Every cell is a check that passed; the ratios compare logit MSE on the calibration text",
        "against RTN int4 with the same protected layers. Structure is found by `python/polyquant/models/structure.py`,",
        "AWQ's scale groups by `python/polyquant/quant/awq_groups.py` (block 1's groups shown).",
        "",
        "| architecture | model_type | " + " | ".join(KERNELS) + " |",
        "|---|---|" + "---|" * len(KERNELS),
    ]
    for name in archs.ARCHS:
        row = RESULTS[name]
        lines.append(f"| `{name}` | {archs.ARCHS[name][0]} | " + " | ".join(row.get(k, "—") for k in KERNELS) + " |")
    lines.append("")
    with open(DOC, "w", encoding="utf-8") as f:
        f.write("\n".join(lines))


def test_a_registry_refinement_is_applied_and_checked(arch_dirs, monkeypatch):
    """A registry entry corrects a discovered name; one naming a module the model lacks is an error."""
    from polyquant.errors import ModelError
    from polyquant.models import registry
    from polyquant.models.structure import discover
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(arch_dirs["llama"]).eval()
    monkeypatch.setitem(registry.REFINEMENTS, "llama", {"attn_out": "mlp.down_proj"})
    s = discover(model)
    assert s.attn_out == "mlp.down_proj" and s.refinement == "llama"
    monkeypatch.setitem(registry.REFINEMENTS, "llama", {"attn_out": "self_attn.out"})
    with pytest.raises(ModelError, match="attn_out 'self_attn.out' is not a linear of block 0"):
        discover(model)
