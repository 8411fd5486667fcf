"""GPTQ: beats RTN on the error it minimises, degenerates to RTN with H = I, and runs block by block."""

import pytest
import torch

import calib_tiny as ct
from polyquant.errors import ParameterError
from polyquant.quant.apply import apply_weights
from polyquant.quant.calibration import calibration_for
from polyquant.quant.gptq import Hessian, gptq_codes, gptq_quantize, output_error
from polyquant.quant.grid import max_q
from polyquant.quant.methods import quantize_model
from polyquant.quant.plan import resolve_targets
from polyquant.quant.rtn import rtn_quantize
from quant_tiny import tiny_gpt2, tiny_llama


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: many tiny ops run faster on one thread


def _layer(seed=0, n=2000, din=64, dout=32, outliers=True):
    """A weight and the Hessian 2XᵀX/N of correlated inputs X (some input channels 10× larger)."""
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(din, din, generator=g, dtype=torch.float64)
    X = torch.randn(n, din, generator=g, dtype=torch.float64) @ A
    if outliers:
        X[:, :4] *= 10
    W = torch.randn(dout, din, generator=g, dtype=torch.float64)
    return W, 2 * X.t() @ X / n, X


@pytest.mark.parametrize("bits,group_size,sym,act_order,static", [
    (3, -1, False, False, False), (3, 16, False, False, False), (2, 16, True, False, False),
    (4, 16, False, True, False), (3, 16, False, True, True), (3, -1, True, True, False),
])
def test_gptq_output_error_below_rtn_on_same_grid(bits, group_size, sym, act_order, static):
    W, H, _ = _layer()
    Q = gptq_quantize(W, H, bits, group_size, sym, act_order=act_order, static_groups=static, block_size=16)
    R = rtn_quantize(W, bits, group_size, sym)
    assert Q.shape == W.shape and Q.dtype == W.dtype
    assert output_error(W, Q, H) < 0.7 * output_error(W, R, H)


def test_hessian_accumulates_2xtx_over_n_in_batches():
    _, _, X = _layer(n=300)
    h = Hessian(64, dtype=torch.float64)
    for chunk in (X[:100].reshape(4, 25, 64), X[100:], ):
        h.add_batch(chunk)
    assert h.nsamples == 300
    torch.testing.assert_close(h.H, 2 * X.t() @ X / 300)


def test_identity_hessian_gives_rtn_exactly():
    # H = I: no error is propagated (Hinv = I), so every column rounds like RTN on the same grid.
    W, _, _ = _layer()
    I = torch.eye(64, dtype=torch.float64)
    for g in (-1, 16):
        assert torch.equal(gptq_quantize(W, I, 3, g, damp=0.0), rtn_quantize(W, 3, g))


def test_loss_estimate_equals_half_the_output_error():
    W, H, _ = _layer()
    res = gptq_codes(W, H, 3, 16, damp=0.01)
    # GPTQ's loss is measured against the dampened Hessian it actually inverts.
    Hd = H + 0.01 * torch.mean(torch.diag(H)) * torch.eye(64, dtype=torch.float64)
    assert res.loss == pytest.approx(output_error(W, res.dequantize(torch.float64), Hd) / 2, rel=1e-6)


def test_codes_scales_zeros_and_g_idx_reproduce_the_weight():
    W, H, _ = _layer()
    res = gptq_codes(W, H, 3, 16, act_order=True)
    assert int(res.codes.max()) <= max_q(3) and res.zeros.min() >= 0 and int(res.zeros.max()) <= max_q(3)
    assert res.scales.shape == (32, 4) and res.g_idx.shape == (64,)
    # act-order without static groups: groups follow decreasing diag(H), so g_idx is not c // 16
    assert not torch.equal(res.g_idx, torch.arange(64, dtype=torch.int32) // 16)
    assert sorted(torch.bincount(res.g_idx.long()).tolist()) == [16, 16, 16, 16]
    perm = torch.argsort(torch.diag(H), descending=True)
    assert res.g_idx[perm[:16]].unique().tolist() == [0]
    manual = res.scales[:, res.g_idx.long()] * (res.codes.float() - res.zeros[:, res.g_idx.long()].float())
    torch.testing.assert_close(gptq_quantize(W, H, 3, 16, act_order=True).float(), manual)
    static = gptq_codes(W, H, 3, 16, act_order=True, static_groups=True)
    assert torch.equal(static.g_idx, torch.arange(64, dtype=torch.int32) // 16)


def test_block_size_does_not_change_the_result_with_updated_group_grids():
    """With grids from the error-updated columns, lazy batching is an implementation detail; with the
    reference's grids (W at the block start) a group starting inside a block sees other weights
    (test_gptq_reference.py checks those against the reference itself)."""
    W, H, _ = _layer()
    a = gptq_quantize(W, H, 4, 16, block_size=8, group_grid="updated")
    b = gptq_quantize(W, H, 4, 16, block_size=64, group_grid="updated")
    torch.testing.assert_close(a, b, rtol=0, atol=1e-9)
    c = gptq_quantize(W, H, 4, 16, block_size=16)  # every group starts a block: the two agree
    torch.testing.assert_close(c, a, rtol=0, atol=1e-9)


def test_dead_columns_become_zero():
    W, H, _ = _layer()
    H[5, :] = 0
    H[:, 5] = 0
    Q = gptq_quantize(W, H, 4, 16)
    assert torch.all(Q[:, 5] == 0)


def test_float32_weight_keeps_dtype():
    W, H, _ = _layer()
    Q = gptq_quantize(W.float(), H.float(), 4, 16)
    assert Q.dtype == torch.float32


def test_bad_input_names_the_value():
    W, H, _ = _layer()
    with pytest.raises(ParameterError, match="group_size 10 does not divide in_features 64"):
        gptq_quantize(W, H, 4, 10)
    with pytest.raises(ParameterError, match=r"\(32, 32\)"):
        gptq_quantize(W, H[:32, :32], 4)
    with pytest.raises(ParameterError, match="bits 9"):
        gptq_quantize(W, H, 9)
    with pytest.raises(ParameterError, match="damp 2"):
        gptq_quantize(W, H, 4, damp=2)
    with pytest.raises(ParameterError, match="not positive definite"):
        gptq_quantize(W, -torch.eye(64, dtype=torch.float64), 4, damp=0.0)


def _quant(method="gptq", bits=3, **extra):
    return {"method": method, "bits": bits, "group_size": 16, "sym": False, "gptq": extra.pop("gptq", {}),
            "calibration": {"corpus": ct.corpus(), "samples": 12, "seq_len": 32, "seed": 0}, **extra}


def _logits_mse(model, weights, ids):
    with torch.no_grad():
        ref = model(ids).logits
        with apply_weights(model, weights):
            out = model(ids).logits
    return (out - ref).pow(2).mean().item()


@pytest.mark.parametrize("make", [tiny_llama, tiny_gpt2])
def test_model_gptq_is_sequential_restores_the_model_and_beats_rtn(make):
    model = make(layers=2)
    loaded = ct.loaded(model)
    quant = _quant(gptq={"act_order": True})
    before = {k: v.clone() for k, v in model.state_dict().items()}
    targets = resolve_targets(model, quant, protect={"modules": [r"mlp\.(down_proj|c_proj)"]}, overrides=[{"layers": [1], "bits": 4}])
    res = quantize_model(loaded, quant, targets)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items()), "model must be left unchanged"
    assert set(res.weights) == {t.param_name for t in targets}
    assert res.meta["method"] == "gptq" and res.meta["calibration"]["samples"] == 12
    assert {n: m["bits"] for n, m in res.meta["modules"].items()} == {t.name: t.bits for t in targets}
    for t in targets:  # layer-aware: each module on its own grid (codes in range, g_idx groups of 16)
        codes = res.gptq.codes[t.name]
        assert codes.bits == t.bits and int(codes.codes.max()) <= max_q(t.bits)
        torch.testing.assert_close(t.to_param_layout(codes.dequantize()), res.weights[t.param_name])
    ids, _ = calibration_for(loaded, quant)
    rtn = quantize_model(loaded, {**quant, "method": "rtn"}, targets)
    assert _logits_mse(model, res.weights, ids) < _logits_mse(model, rtn.weights, ids)


def test_model_gptq_inputs_come_from_quantized_blocks():
    # Block 1's Hessian must see block 0's *quantized* outputs: quantizing block 0 alone and block 1 alone
    # gives block 1 a different result than quantizing both in one sequential run.
    model = tiny_llama(layers=2)
    loaded = ct.loaded(model)
    quant = _quant()
    both = quantize_model(loaded, quant, resolve_targets(model, quant))
    only1 = quantize_model(loaded, quant, resolve_targets(model, quant, protect={"layers": [0]}))
    name = "model.layers.1.self_attn.q_proj.weight"
    assert not torch.equal(both.weights[name], only1.weights[name])
    # ... and block 0 is the same either way (its inputs are the embeddings in both runs)
    only0 = quantize_model(loaded, quant, resolve_targets(model, quant, protect={"layers": [1]}))
    assert torch.equal(both.weights["model.layers.0.mlp.up_proj.weight"], only0.weights["model.layers.0.mlp.up_proj.weight"])


def test_model_gptq_lm_head_and_embedding_targets():
    model = tiny_gpt2(layers=1)
    loaded = ct.loaded(model)
    quant = _quant(include_embeddings=True)
    targets = resolve_targets(model, quant, protect={"layers": [0]})
    res = quantize_model(loaded, quant, targets)
    assert res.meta["rtn_fallback"] == ["transformer.wte", "transformer.wpe"]
    assert set(res.weights) == {"transformer.wte.weight", "transformer.wpe.weight"}
    model2 = tiny_llama(layers=1)
    quant2 = _quant(include_lm_head=True)
    res2 = quantize_model(ct.loaded(model2), quant2, resolve_targets(model2, quant2, protect={"layers": [0]}))
    assert set(res2.weights) == {"lm_head.weight"} and "lm_head" in res2.meta["modules"]


def test_model_gptq_needs_calibration():
    model = tiny_llama(layers=1)
    quant = {"method": "gptq", "bits": 4, "group_size": 16}
    with pytest.raises(ParameterError, match="quant.calibration is required"):
        quantize_model(ct.loaded(model), quant, resolve_targets(model, quant))
