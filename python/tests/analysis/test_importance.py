import copy
import math

import pytest
import torch
from torch.func import functional_call

from polyquant.analysis import importance as imp
from polyquant.context import KernelContext
from polyquant.errors import CheckpointError, KernelStopped, ParameterError
from polyquant.models import structure
from tests.analysis.tiny import language_windows, tiny_gpt2, tiny_llama


def test_hutchinson_on_a_quadratic():
    g = torch.Generator().manual_seed(0)
    B = torch.randn(12, 12, generator=g, dtype=torch.float64)
    A = B @ B.T / 12 + torch.diag(torch.arange(1.0, 13.0, dtype=torch.float64))
    theta = torch.randn(12, generator=g, dtype=torch.float64, requires_grad=True)
    samples = imp.hutchinson_samples([lambda: 0.5 * theta @ A @ theta], [[theta]], n_samples=1000, seed=7)
    # Each sample is exactly vᵀ A v for the documented, reproducible v_j.
    for j in (0, 1, 999):
        v = imp.rademacher([theta], 7, j)[0]
        assert samples[j][0] == pytest.approx(float(v @ A @ v), rel=1e-12)
    xs = torch.tensor([s[0] for s in samples], dtype=torch.float64)
    se = float(xs.std() / math.sqrt(len(xs)))
    assert abs(float(xs.mean()) - float(torch.trace(A))) < 4 * se
    # Hutchinson's variance for Rademacher vectors is 2 Σ_{i≠j} A_ij².
    off = A - torch.diag(torch.diag(A))
    assert float(xs.var()) == pytest.approx(float(2 * (off**2).sum()), rel=0.25)


def test_hutchinson_matches_the_exact_hessian_of_a_tiny_model():
    model = tiny_llama(vocab=12, hidden=4, layers=2, heads=2, inter=4, seed=5)  # 2 × 112 block weights
    windows = language_windows(["en"], per_lang=12, n=2, length=6)["en"]
    groups = imp.layer_params(model)
    names = {id(p): n for n, p in model.named_parameters()}
    flat_names = [names[id(p)] for g in groups for p in g]
    shapes = [p.shape for g in groups for p in g]
    sizes = [p.numel() for g in groups for p in g]
    theta0 = torch.cat([p.detach().reshape(-1) for g in groups for p in g])

    def mean_loss(theta):
        params = {n: t.reshape(s) for n, t, s in zip(flat_names, theta.split(sizes), shapes)}
        losses = []
        for w in windows:
            out = functional_call(model, params, args=(), kwargs={"input_ids": w[None], "labels": w[None]})
            losses.append(out.loss)  # transformers' own loss: an independent implementation
        return torch.stack(losses).mean()

    H = torch.autograd.functional.hessian(mean_loss, theta0).double()  # exact
    per_layer = sum(p.numel() for p in groups[0])
    exact = [float(torch.trace(H[:per_layer, :per_layer])), float(torch.trace(H[per_layer:, per_layer:]))]

    trace, se = imp.hessian_trace(model, windows, n_samples=32, seed=3)
    with torch.enable_grad():
        for p in model.parameters():
            p.requires_grad_(True)
        samples = imp.hutchinson_samples(
            [lambda w=w: imp.window_loss(model, w[None]) for w in windows], groups, n_samples=2, seed=3
        )
    for j in range(2):
        v = torch.cat([t.reshape(-1) for t in imp.rademacher([p for g in groups for p in g], 3, j)]).double()
        Hv = H @ v
        assert samples[j][0] == pytest.approx(float(v[:per_layer] @ Hv[:per_layer]), rel=1e-4, abs=1e-6)
        assert samples[j][1] == pytest.approx(float(v[per_layer:] @ Hv[per_layer:]), rel=1e-4, abs=1e-6)
    for layer in range(2):
        assert abs(trace[layer] - exact[layer]) < 4 * se[layer] + 1e-6


def test_fisher_equals_a_hand_computation():
    model = tiny_gpt2(seed=2, layers=2)
    windows = language_windows(["en"], n=3, length=12)["en"]
    got = imp.diagonal_fisher(model, windows)
    hand = [0.0, 0.0]
    for w in windows:
        m = copy.deepcopy(model)
        m(input_ids=w[None], labels=w[None]).loss.backward()
        for layer in range(2):
            for name, mod in structure.block_linears(m, layer).items():
                hand[layer] += float(mod.weight.grad.double().pow(2).sum()) / len(windows)
    assert got == pytest.approx(hand, rel=1e-5)
    assert all(p.requires_grad for p in model.parameters())  # the model's flags are restored


def test_block_influence_is_zero_for_an_identity_block_and_variance_matches_hidden_states():
    model = tiny_llama(seed=1, layers=3)
    with torch.no_grad():
        blk = model.model.layers[1]
        blk.self_attn.o_proj.weight.zero_()
        blk.mlp.down_proj.weight.zero_()  # residual only: output == input
    windows = language_windows(["en"], n=3, length=16)["en"]
    var, bi = imp.activation_stats(model, windows, batch_size=2)
    assert bi[1] == pytest.approx(0.0, abs=1e-12)
    assert bi[0] > 1e-4 and bi[2] > 1e-4
    assert var[1] == pytest.approx(var[0], rel=1e-12)
    # Independent: hidden_states[l + 1] is block l's output for l < last block.
    with torch.no_grad():
        hs = model(input_ids=torch.stack(windows), output_hidden_states=True).hidden_states
    y = hs[1].double().reshape(-1, 64)
    assert var[0] == pytest.approx(float(y.var(dim=0, unbiased=False).mean()), rel=1e-9)
    x = hs[0].double().reshape(-1, 64)
    expect_bi0 = 1 - float(torch.nn.functional.cosine_similarity(x, y, dim=-1).mean())
    assert bi[0] == pytest.approx(expect_bi0, rel=1e-9)


def _rtn_layer_weights(model, layer_count):
    from polyquant.quant.methods import quantize_rtn
    from polyquant.quant.plan import resolve_targets

    targets = resolve_targets(model, {"bits": 3, "group_size": 16})
    res = quantize_rtn(targets)
    names = [[t.param_name for t in targets if t.layer == i] for i in range(layer_count)]
    return res.weights, names


def test_quant_sensitivity_equals_quantizing_one_layer_of_a_copy():
    from polyquant.quant.rtn import rtn_quantize

    model = tiny_llama(seed=6)
    windows = language_windows(["en"], n=2, length=16)["en"]
    weights, names = _rtn_layer_weights(model, 2)
    got = imp.quant_sensitivity(model, windows, weights, names, batch_size=4)
    for layer in range(2):
        m = copy.deepcopy(model)
        with torch.no_grad():
            for mod in structure.block_linears(m, layer).values():
                mod.weight.copy_(rtn_quantize(mod.weight, 3, 16))
            nll = lambda mm: sum(float(mm(input_ids=w[None], labels=w[None]).loss) for w in windows) / 2
            expect = math.exp(nll(m) - nll(model)) - 1
        assert got[layer] == pytest.approx(expect, rel=1e-4, abs=1e-7)
        assert got[layer] != 0.0


def test_analyse_importance_end_to_end_with_resume(tmp_path):
    model = tiny_llama(seed=7, layers=3)
    windows = language_windows(["en", "he"], n=2, length=10)
    cfg = imp.ImportanceConfig(hutchinson_samples=2)
    quantized = _rtn_layer_weights(model, 3)
    full = imp.analyse_importance(model, windows, cfg, KernelContext(), quantized)
    assert full["criteria"] == list(imp.CRITERIA)
    en = full["per_language"]["en"]
    assert len(en["layers"]) == 3 and len(en["correlations"]) == 10
    from scipy.stats import spearmanr

    fisher = [row["fisher"] for row in en["layers"]]
    hess = [row["hessian_trace"] for row in en["layers"]]
    pair = next(c for c in en["correlations"] if (c["a"], c["b"]) == ("fisher", "hessian_trace"))
    assert pair["rho"] == pytest.approx(spearmanr(fisher, hess)[0])
    assert full["ranking"]["fisher"] == sorted(range(3), key=lambda i: -full["mean"]["layers"][i]["fisher"])

    ck = tmp_path / "ck.json"
    stop = tmp_path / "stop"
    ctx = KernelContext(checkpoint_path=str(ck), stop_path=str(stop))
    calls = {"n": 0}
    real = imp.fisher_terms

    def fisher_then_stop(*a, **k):
        calls["n"] += 1
        stop.write_text("")
        return real(*a, **k)

    imp.fisher_terms = fisher_then_stop
    try:
        with pytest.raises(KernelStopped):
            imp.analyse_importance(model, windows, cfg, ctx, quantized)
    finally:
        imp.fisher_terms = real
    stop.unlink()
    resumed = imp.analyse_importance(model, windows, cfg, KernelContext.from_json({"checkpoint_path": str(ck)}), quantized)
    assert calls["n"] == 1
    assert resumed == full
    with pytest.raises(CheckpointError):
        imp.analyse_importance(
            model, windows, imp.ImportanceConfig(hutchinson_samples=3), KernelContext.from_json({"checkpoint_path": str(ck)}), quantized
        )


def test_config_errors_name_the_value():
    with pytest.raises(ParameterError, match="'entropy'"):
        imp.ImportanceConfig(criteria=("entropy",))
    with pytest.raises(ParameterError, match="hutchinson_samples 0"):
        imp.ImportanceConfig(hutchinson_samples=0)


def test_hutchinson_runs_on_fused_attention_and_equals_eager():
    """Models load with SDPA attention, whose fused kernels have no double backward."""
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    sdpa = GPT2LMHeadModel(GPT2Config(vocab_size=40, n_embd=16, n_layer=2, n_head=2, n_positions=32)).eval()
    assert sdpa.config._attn_implementation == "sdpa"
    eager = copy.deepcopy(sdpa)
    eager.config._attn_implementation = "eager"
    windows = language_windows(["en"], per_lang=40, n=1, length=8)["en"]
    a, _ = imp.hessian_trace(sdpa, windows, n_samples=2, seed=1)
    b, _ = imp.hessian_trace(eager, windows, n_samples=2, seed=1)
    assert a == pytest.approx(b, rel=1e-4, abs=1e-6)
