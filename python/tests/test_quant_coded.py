"""Quantized weights as packed codes: the same bits as the methods' float results, at a fraction of the memory."""

import pytest
import torch

import calib_tiny as ct
from polyquant.quant.coded import CodeArena, CodedWeight
from polyquant.quant.gptq import gptq_codes
from polyquant.quant.grid import quantize_weight
from polyquant.quant.methods import quantize_model
from polyquant.quant.plan import resolve_targets
from quant_tiny import tiny_gpt2, tiny_llama

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: many tiny ops run faster on one thread


def _param_layout(w, transposed):
    return w.t().contiguous() if transposed else w


@pytest.mark.parametrize("bits", [2, 3, 4, 5, 8])
@pytest.mark.parametrize("group_size,sym", [(-1, False), (16, False), (16, True)])
@pytest.mark.parametrize("transposed", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_dequantize_gives_the_bits_of_the_grid(bits, group_size, sym, transposed, dtype):
    W = torch.randn(7, 48, generator=torch.Generator().manual_seed(bits)).to(dtype)  # 336 codes; odd rows
    qw = quantize_weight(W, bits, group_size, sym)
    coded = CodedWeight.from_grid(qw, dtype, transposed)
    expected = _param_layout(qw.dequantize(dtype), transposed)
    assert torch.equal(coded.dequantize(), expected)
    assert torch.equal(coded.dequantize("cpu", {}), expected)


def test_an_odd_number_of_codes_packs_and_unpacks():
    W = torch.randn(5, 9)  # 45 codes: the high-nibble half is one shorter
    qw = quantize_weight(W, 3, -1)
    coded = CodedWeight.from_grid(qw, torch.float32)
    assert coded.packed.numel() == 23
    assert torch.equal(coded.dequantize(), qw.dequantize())


def test_shared_buffers_give_each_weight_its_own_values_until_the_next_call():
    g = torch.Generator().manual_seed(1)
    weights = [torch.randn(o, i, generator=g) for o, i in [(8, 32), (24, 32), (8, 96), (8, 32)]]
    qws = [quantize_weight(W, 4, 16) for W in weights]
    buffers: dict = {}
    for qw in qws:
        out = CodedWeight.from_grid(qw, torch.float32).dequantize(None, buffers)
        assert torch.equal(out, qw.dequantize())
    assert {k[0] for k in buffers} == {torch.uint8, torch.float32}
    assert buffers[(torch.float32, torch.device("cpu"))].numel() == 24 * 32  # one buffer, as large as the largest weight


@pytest.mark.parametrize("transposed", [False, True])
def test_gptq_codes_with_act_order_dequantize_to_gptq_s_own_weight(transposed):
    g = torch.Generator().manual_seed(0)
    X = torch.randn(500, 64, generator=g, dtype=torch.float64) * torch.linspace(0.1, 10, 64, dtype=torch.float64)
    W = torch.randn(24, 64, generator=g)
    res = gptq_codes(W, 2 * X.t() @ X / 500, 3, 16, act_order=True)
    assert not torch.equal(res.g_idx.long(), torch.arange(64) // 16), "act_order should permute the groups"
    coded = CodedWeight.from_codes(res.codes, res.scales, res.zeros, 3, res.group_size, torch.float32, transposed, res.g_idx)
    assert coded.g_idx is not None
    assert torch.equal(coded.dequantize(), _param_layout(res.dequantize(torch.float32), transposed))
    plain = gptq_codes(W, 2 * X.t() @ X / 500, 3, 16)  # groups are runs of columns: no g_idx kept
    assert CodedWeight.from_codes(plain.codes, plain.scales, plain.zeros, 3, 16, torch.float32, g_idx=plain.g_idx).g_idx is None


def test_four_bit_codes_cost_a_seventh_of_float32():
    W = torch.randn(256, 512)
    coded = CodedWeight.from_grid(quantize_weight(W, 4, 64), torch.float32)
    per_weight = coded.nbytes() / W.numel()
    assert per_weight == pytest.approx(0.5 + 4 / 64 + 1 / 64)  # packed codes, a float32 scale and a uint8 zero per group
    assert coded.nbytes() < W.numel() * 4 / 6.5


def test_an_arena_holds_every_target_s_codes_and_overflow_falls_back():
    model = tiny_llama(layers=2)
    targets = resolve_targets(model, {"bits": 4, "group_size": 16})
    arena = CodeArena.for_targets(targets)
    coded = [CodedWeight.from_grid(quantize_weight(t.weight(), 4, 16), torch.float32, arena=arena) for t in targets]
    assert arena.used_packed == arena.packed.numel() and arena.used_groups == arena.scales.numel()
    base = arena.packed.untyped_storage().data_ptr()
    assert all(c.packed.untyped_storage().data_ptr() == base for c in coded)
    extra = CodedWeight.from_grid(quantize_weight(targets[0].weight(), 4, 16), torch.float32, arena=arena)
    assert extra.packed.untyped_storage().data_ptr() != base
    assert torch.equal(extra.dequantize(), coded[0].dequantize())


def _calibrated(method):
    return {"method": method, "bits": 3, "group_size": 16, "awq": {"grid": 4, "clip_grid": 4}, "gptq": {"act_order": True},
            "calibration": {"corpus": ct.corpus(), "samples": 8, "seq_len": 32, "seed": 0}}


@pytest.mark.parametrize("method,make", [("rtn", tiny_llama), ("rtn", tiny_gpt2), ("gptq", tiny_llama), ("gptq", tiny_gpt2),
                                         ("awq", tiny_llama), ("awq", tiny_gpt2)])
def test_quantize_model_coded_gives_the_float_result_s_bits(method, make):
    model = make(layers=2)
    loaded = ct.loaded(model)
    quant = _calibrated(method)
    targets = resolve_targets(model, {**quant, "include_embeddings": method != "awq"})
    floats = quantize_model(loaded, quant, targets)
    coded = quantize_model(loaded, quant, targets, coded=True)
    assert set(coded.coded) == {t.param_name for t in targets}
    for name, c in coded.coded.items():
        assert torch.equal(c.dequantize(), floats.weights[name]), name
    assert coded.module_errors == floats.module_errors
    assert set(coded.weights) == set(floats.weights) - set(coded.coded)  # only what is not a target (AWQ's norms)
    if method == "awq":
        assert coded.weights and all(torch.equal(v, floats.weights[k]) for k, v in coded.weights.items())
    if method == "gptq":
        assert coded.gptq.codes == {}  # the codes live in `coded` alone
