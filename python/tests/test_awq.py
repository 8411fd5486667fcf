"""AWQ: beats RTN on a layer with outlier input channels; folding scales is exact; the model search."""

import pytest
import torch

import calib_tiny as ct
from polyquant.errors import ParameterError
from polyquant.models import structure
from polyquant.quant.apply import apply_weights
from polyquant.quant.awq import AwqResults, AwqScale, apply_awq, awq_quantize, awq_search_layer, awq_weights, clip_search, clip_weight
from polyquant.quant.awq_groups import derive_block_groups
from polyquant.quant.calibration import calibration_for, capture_block_inputs
from polyquant.quant.methods import quantize_model
from polyquant.quant.plan import resolve_targets
from polyquant.quant.rtn import rtn_quantize
from quant_tiny import tiny_gpt2, tiny_llama


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: many tiny ops run faster on one thread


def _outlier_layer(seed=0, n=1024, din=128, dout=64):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, din, generator=g)
    X[:, [3, 40, 77, 100]] *= 30  # a few input channels carry huge activations (as in LLMs)
    W = torch.randn(dout, din, generator=g) * 0.05
    return W, X


def _err(X, W, Wq):
    return float((X @ W.t() - X @ Wq.t()).pow(2).mean())


@pytest.mark.parametrize("bits,group_size,sym", [(3, 32, False), (4, 32, True), (3, -1, False)])
def test_awq_output_error_below_rtn_on_outlier_channels(bits, group_size, sym):
    W, X = _outlier_layer()
    Wq, s = awq_quantize(W, X, bits, group_size, sym, grid=20, clip=True)
    rtn = rtn_quantize(W, bits, group_size, sym)
    assert _err(X, W, Wq) < 0.8 * _err(X, W, rtn)
    assert s[[3, 40, 77, 100]].min() > s.median()  # the outlier channels get the largest scales
    _, alpha = awq_search_layer(W, X, bits, group_size, sym)
    assert 0 < alpha <= 1


def test_alpha_zero_is_rtn_and_search_never_loses_to_it():
    W, X = _outlier_layer(n=64)
    X = torch.randn_like(X)  # no outliers: the search may pick α = 0, but never a worse α
    Wq, _ = awq_quantize(W, X, 4, 32, clip=False)
    assert _err(X, W, Wq) <= _err(X, W, rtn_quantize(W, 4, 32)) + 1e-12


def test_clip_search_finds_a_bound_no_worse_than_none():
    W, X = _outlier_layer()
    mv = clip_search(W, X, 3, 32, False, 20)
    assert mv.shape == (64, 4)
    full = W.abs().reshape(64, 4, 32).amax(-1)
    assert torch.all(mv <= full + 1e-7) and torch.all(mv >= 0.5 * full - 1e-7)
    clipped = clip_weight(W, mv)
    assert _err(X, W, rtn_quantize(clipped, 3, 32)) <= _err(X, W, rtn_quantize(W, 3, 32)) + 1e-9


def _random_results(model, seed=0):
    """Random positive scales for every scale group of every block."""
    g = torch.Generator().manual_seed(seed)
    out = AwqResults()
    calls = capture_block_inputs(model, torch.randint(1, 250, (2, 16)), batch_size=2)
    for i in range(structure.num_layers(model)):
        for grp in derive_block_groups(model, i, calls.inputs(i)[0]).groups:
            n_in = structure.weight_of(model, structure.module(model, grp.linears[0])).shape[1]
            s = torch.exp(torch.randn(n_in, generator=g, dtype=torch.float64))
            out.scales.append(AwqScale(grp.prev, grp.linears, s, 0.5, 0.0, 0.0, grp.fold))
    return out


@pytest.mark.parametrize("make", [tiny_llama, tiny_gpt2])
def test_fold_then_unfold_is_exact_in_float64(make):
    model = make(layers=2).double()
    ids = torch.randint(1, 250, (2, 16))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        ref = model(ids).logits
        results = _random_results(model)
        snap = apply_awq(model, results)
        changed = set(snap.changed)
        assert any("layernorm" in n or "ln_" in n for n in changed)  # norms absorbed 1/s
        torch.testing.assert_close(model(ids).logits, ref, rtol=0, atol=1e-10)
        inverse = AwqResults(scales=[AwqScale(a.prev, a.linears, 1 / a.s, a.alpha, 0, 0) for a in results.scales])
        apply_awq(model, inverse)  # unfold: divide the columns by s, multiply prev's outputs back
        for k, v in model.state_dict().items():
            torch.testing.assert_close(v, before[k], rtol=1e-12, atol=1e-12)
        snap.restore()
        assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def _outlier_llama():
    """A tiny Llama whose norms make a few channels of every block input 15× larger."""
    model = tiny_llama(layers=2, seed=1)
    with torch.no_grad():
        for block in structure.blocks(model):
            block.input_layernorm.weight[[1, 17, 33]] *= 15
            block.post_attention_layernorm.weight[[5, 50]] *= 15
    return model


def _quant(method="awq", **extra):
    return {"method": method, "bits": 3, "group_size": 16, "sym": False, "awq": extra.pop("awq", {"grid": 11, "clip_grid": 10}),
            "calibration": {"corpus": ct.corpus(), "samples": 12, "seq_len": 32, "seed": 0}, **extra}


def _logits_mse(model, weights, ids):
    with torch.no_grad():
        ref = model(ids).logits
        with apply_weights(model, weights):
            out = model(ids).logits
    return (out - ref).pow(2).mean().item()


def test_model_awq_beats_rtn_and_leaves_the_model_unchanged():
    model = _outlier_llama()
    loaded = ct.loaded(model)
    quant = _quant()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    targets = resolve_targets(model, quant, overrides=[{"modules": "down_proj", "bits": 4}])
    res = quantize_model(loaded, quant, targets)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert res.meta["method"] == "awq"
    assert "model.layers.0.input_layernorm.weight" in res.weights  # folded norms are returned too
    assert {t.param_name for t in targets} <= set(res.weights)
    for a in res.awq.scales:
        assert a.loss <= a.loss_rtn  # α = 0 is RTN: the search can only improve on it
    assert any(a.alpha > 0 for a in res.awq.scales)
    ids, _ = calibration_for(loaded, quant)
    rtn = quantize_model(loaded, {**quant, "method": "rtn"}, targets)
    assert _logits_mse(model, res.weights, ids) < _logits_mse(model, rtn.weights, ids)
    # the recorded search data re-applies to the same folded weights
    new = awq_weights(model, res.awq)
    assert torch.equal(new["model.layers.1.input_layernorm.weight"].cpu(), res.weights["model.layers.1.input_layernorm.weight"])


def test_model_awq_gpt2_and_protected_modules():
    model = tiny_gpt2(layers=2)
    quant = _quant(awq={"grid": 5, "clip": False})
    targets = resolve_targets(model, quant, protect={"layers": [1], "modules": ["mlp.c_fc"]})
    res = quantize_model(ct.loaded(model), quant, targets)
    prevs = [a.prev for a in res.awq.scales]
    assert prevs == ["transformer.h.0.ln_1"]  # ln_2 → c_fc is protected; block 1 is protected
    assert not res.awq.clips
    assert "transformer.h.1.attn.c_attn.weight" not in res.weights


def test_gqa_skips_the_v_to_o_group():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=300, hidden_size=64, intermediate_size=128, num_hidden_layers=1, num_attention_heads=4,
                      num_key_value_heads=2, max_position_embeddings=256)
    model = LlamaForCausalLM(cfg).eval()
    quant = _quant(awq={"grid": 3, "clip": False})
    res = quantize_model(ct.loaded(model), quant, resolve_targets(model, quant))
    assert [a.prev.split(".", 3)[-1] for a in res.awq.scales] == ["input_layernorm", "post_attention_layernorm", "mlp.up_proj"]
    # v_proj has 32 outputs (2 kv heads), o_proj 64 inputs: no fold; q_proj has 64 but softmax is in between
    assert res.awq.skipped == ["model.layers.0.self_attn.o_proj: its input is not the output of a module that can absorb the scales; "
                               "no earlier linear folds into it exactly (tried self_attn.q_proj)"]


def test_bad_awq_options():
    model = tiny_llama(layers=1)
    for awq, msg in (({"grid": 1}, "grid 1"), ({"alpha": 1}, "unknown option")):
        quant = _quant(awq=awq)
        with pytest.raises(ParameterError, match=msg):
            quantize_model(ct.loaded(model), quant, resolve_targets(model, quant))
