"""RTN, the shared grid, the target plan and in-place apply/restore."""

import re

import pytest
import torch

from polyquant.errors import ParameterError
from polyquant.models import structure
from polyquant.quant.apply import apply_weights
from polyquant.quant.grid import group_params, quantize_weight
from polyquant.quant.methods import quantize_model
from polyquant.quant.plan import protected_names, resolve_targets
from polyquant.quant.rtn import relative_error, rtn_quantize
from quant_tiny import tiny_gpt2, tiny_llama


class Loaded:
    def __init__(self, model):
        self.model = model


def _grid_check(W, bits, group_size, sym):
    """Independent check: every Ŵ is s·(k − z) with integer k in [0, maxq], and |W − Ŵ| ≤ s/2."""
    maxq = 2**bits - 1
    W_hat = rtn_quantize(W, bits, group_size, sym)
    g = W.shape[1] if group_size == -1 else group_size
    Wg = W.double().reshape(-1, g)
    Hg = W_hat.double().reshape(-1, g)
    lo = torch.clamp(Wg.min(1).values, max=0)
    hi = torch.clamp(Wg.max(1).values, min=0)
    if sym:
        hi = torch.maximum(lo.abs(), hi)
        lo = -hi
        s = 2 * hi / maxq
        z = torch.full_like(s, (maxq + 1) / 2)
    else:
        s = (hi - lo) / maxq
        z = torch.round(-lo / s)
    k = Hg / s[:, None] + z[:, None]  # must be integers in [0, maxq]
    assert torch.allclose(k, torch.round(k), atol=1e-4)
    assert k.min() >= -1e-4 and k.max() <= maxq + 1e-4
    assert ((z >= 0) & (z <= maxq)).all()
    err = (Wg - Hg).abs().max(1).values
    assert (err <= s / 2 * (1 + 1e-5) + 1e-7).all()
    return W_hat


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
@pytest.mark.parametrize("group_size", [-1, 16])
@pytest.mark.parametrize("sym", [False, True])
def test_dequantized_values_lie_on_the_grid_and_error_is_at_most_half_a_step(bits, group_size, sym):
    torch.manual_seed(bits * 10 + group_size)
    W = torch.randn(24, 64) * 0.1 + 0.02
    W_hat = _grid_check(W, bits, group_size, sym)
    assert W_hat.shape == W.shape and W_hat.dtype == W.dtype
    assert len(torch.unique(W_hat[0, : (64 if group_size == -1 else group_size)])) <= 2**bits


def test_more_bits_means_less_error():
    torch.manual_seed(0)
    W = torch.randn(32, 128)
    errs = [relative_error(W, rtn_quantize(W, b, 32)) for b in (2, 3, 4, 8)]
    assert errs == sorted(errs, reverse=True)
    assert errs[-1] < 0.01 and errs[0] > 0.2


def test_codes_scales_and_zeros_reproduce_the_weight():
    torch.manual_seed(1)
    W = torch.randn(8, 32)
    qw = quantize_weight(W, 3, 8, False)
    assert qw.codes.dtype == torch.uint8 and int(qw.codes.max()) <= 7
    assert qw.scales.shape == (8, 4) and qw.zeros.shape == (8, 4)
    manual = (qw.codes.float().view(8, 4, 8) - qw.zeros[..., None]) * qw.scales[..., None]
    assert torch.equal(manual.view(8, 32), rtn_quantize(W, 3, 8))


def test_symmetric_zero_is_the_midpoint_and_all_zero_group_stays_zero():
    s, z = group_params(torch.tensor([[0.0, 0.0], [-1.0, 3.0]]), 4, sym=True)
    assert z.tolist() == [8.0, 8.0]
    assert s[1].item() == pytest.approx(6.0 / 15)
    assert torch.equal(rtn_quantize(torch.zeros(2, 4), 4), torch.zeros(2, 4))


def test_half_precision_keeps_dtype():
    W = torch.randn(4, 16).half()
    assert rtn_quantize(W, 4).dtype == torch.float16


def test_bad_group_size_names_both_numbers_and_the_module():
    model = tiny_llama(layers=2)
    with pytest.raises(ParameterError, match=r"group_size 48 does not divide in_features 64 of module model\.layers\.0\.self_attn\.q_proj"):
        resolve_targets(model, {"bits": 4, "group_size": 48})
    with pytest.raises(ParameterError, match="bits 9"):
        rtn_quantize(torch.randn(4, 8), 9)


def test_targets_cover_every_block_linear_and_optionally_embeddings_and_head():
    model = tiny_llama(layers=3)
    t = resolve_targets(model, {"bits": 4, "group_size": 32})
    assert len(t) == 3 * 7 and all(x.layer is not None for x in t)
    t2 = resolve_targets(model, {"bits": 4, "group_size": 32, "include_embeddings": True, "include_lm_head": True})
    assert {x.name for x in t2} - {x.name for x in t} == {"model.embed_tokens", "lm_head"}


def test_protect_by_layer_and_regex_and_overrides_later_wins():
    model = tiny_llama(layers=4)
    quant = {"bits": 4, "group_size": 32}
    t = resolve_targets(model, quant, {"layers": [0, -1], "modules": [r"mlp\.down_proj$"]})
    layers = {x.layer for x in t}
    assert layers == {1, 2}
    assert not any(x.name.endswith("down_proj") for x in t)
    assert len(protected_names(model, quant, t)) == 4 * 7 - len(t) == 14 + 2
    t = resolve_targets(model, quant, {}, [{"layers": [1], "bits": 8}, {"modules": "q_proj", "bits": 3, "group_size": -1}, {"layers": [-1], "modules": "q_proj", "sym": True}])
    by = {x.name: x for x in t}
    assert by["model.layers.1.mlp.up_proj"].bits == 8
    assert by["model.layers.1.self_attn.q_proj"].bits == 3  # the later override wins
    assert by["model.layers.1.self_attn.q_proj"].group_size == -1
    assert by["model.layers.3.self_attn.q_proj"].sym and not by["model.layers.2.self_attn.q_proj"].sym
    assert by["model.layers.0.mlp.up_proj"].bits == 4


def test_out_of_range_layer_and_bad_regex_are_named():
    model = tiny_llama(layers=4)
    with pytest.raises(ParameterError, match="protect.layers index 4 is out of range for a model with 4 layers"):
        resolve_targets(model, {}, {"layers": [4]})
    with pytest.raises(ParameterError, match=re.escape("protect.modules 'mlp(' is not a valid regular expression")):
        resolve_targets(model, {}, {"modules": ["mlp("]})
    with pytest.raises(ParameterError, match=r"overrides\[0\].layers index -5"):
        resolve_targets(model, {}, {}, [{"layers": [-5], "bits": 3}])


def test_restore_is_bit_exact_and_protected_modules_untouched():
    model = tiny_llama(layers=4)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    quant = {"method": "rtn", "bits": 3, "group_size": 16}
    targets = resolve_targets(model, quant, {"layers": [0]})
    result = quantize_model(Loaded(model), quant, targets)
    assert before.keys() == model.state_dict().keys()
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # quantize_model leaves the model alone
    with apply_weights(model, result.weights) as snap:
        after = model.state_dict()
        changed = {k for k in before if not torch.equal(before[k], after[k])}
        assert changed == set(result.weights) == set(snap.changed)
        assert not any(k.startswith("model.layers.0.") for k in changed)
        assert snap.nbytes() == sum(before[k].numel() * 4 for k in changed)
        for k in changed:
            assert torch.equal(after[k], result.weights[k])
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_module_errors_are_relative_frobenius():
    model = tiny_llama(layers=2)
    quant = {"bits": 2, "group_size": -1}
    targets = resolve_targets(model, quant)
    result = quantize_model(Loaded(model), quant, targets)
    name = "model.layers.1.mlp.up_proj"
    W = structure.module(model, name).weight
    expected = torch.linalg.norm(W - result.weights[name + ".weight"]) / torch.linalg.norm(W)
    assert result.module_errors[name] == pytest.approx(expected.item(), rel=1e-5)


def test_gpt2_conv1d_matches_quantizing_the_transposed_weight():
    model = tiny_gpt2(layers=2)
    quant = {"bits": 4, "group_size": 16}
    targets = resolve_targets(model, quant)
    assert len(targets) == 8
    result = quantize_model(Loaded(model), quant, targets)
    name = "transformer.h.1.mlp.c_fc"
    conv_w = structure.module(model, name).weight  # Conv1D: in × out = 64 × 256
    assert conv_w.shape == (64, 256)
    expected = rtn_quantize(conv_w.t().contiguous(), 4, 16).t()  # groups run along in_features
    assert torch.equal(result.weights[name + ".weight"], expected)
    wrong = rtn_quantize(conv_w, 4, 16)  # grouping the stored layout would group along outputs
    assert not torch.equal(result.weights[name + ".weight"], wrong)
    with pytest.raises(ParameterError, match="does not divide in_features 256 of module transformer.h.0.mlp.c_proj"):
        resolve_targets(model, {"bits": 4, "group_size": 96}, {"modules": ["attn", "c_fc"]})


# ---- the quantize kernel ----------------------------------------------------------------------


def test_quantize_kernel_writes_a_content_addressed_artifact_and_restores_the_model(tmp_path):
    import hashlib
    import json

    from safetensors import safe_open

    from polyquant.context import KernelContext
    from polyquant.kernels import quantize
    from polyquant.models import resident
    from quant_tiny import save_tiny

    model_dir = save_tiny(str(tmp_path / "m"), "tiny-gpt2", layers=2)
    loaded = resident.get({"id": model_dir})
    before = {k: v.clone() for k, v in loaded.model.state_dict().items()}
    params = {"model": {"id": model_dir}, "quant": {"bits": 4, "group_size": 32}, "protect": {"modules": [r"\.mlp\."]}, "overrides": [{"layers": [1], "bits": 8}]}
    ctx = KernelContext(artifacts_dir=str(tmp_path / "art"))
    out = quantize.run(params, ctx)
    assert all(torch.equal(before[k], v) for k, v in loaded.model.state_dict().items())
    path = out["artifact"]["path"]
    digest = hashlib.sha256(open(path, "rb").read()).hexdigest()
    assert out["artifact"]["digest"] == f"sha256:{digest}" and path.endswith(f"{digest}.safetensors")
    assert [m["name"] for m in out["modules"]] == [f"transformer.h.{i}.attn.{n}" for i in (0, 1) for n in ("c_attn", "c_proj")]
    assert [m["bits"] for m in out["modules"]] == [4, 4, 8, 8]
    assert out["protected"] == [f"transformer.h.{i}.mlp.{n}" for i in (0, 1) for n in ("c_fc", "c_proj")]
    with safe_open(path, "pt") as f:
        meta = f.metadata()
        assert meta["method"] == "rtn" and meta["bits"] == "4" and meta["fingerprint"] == loaded.fingerprint
        assert [t["bits"] for t in json.loads(meta["targets"])] == [4, 4, 8, 8]
        for m in out["modules"]:
            W = before[m["name"] + ".weight"]
            saved = f.get_tensor(m["name"] + ".weight")
            assert saved.shape == W.shape  # Conv1D layout, as stored in the model
            expected = rtn_quantize(W.t().contiguous(), m["bits"], 32).t()
            assert torch.equal(saved, expected)
            assert m["rel_error"] == pytest.approx((torch.linalg.norm(W - saved) / torch.linalg.norm(W)).item(), rel=1e-5)
    assert out["mean_rel_error"] == pytest.approx(sum(m["rel_error"] for m in out["modules"]) / 4)
    assert out["modules"][2]["rel_error"] < out["modules"][0]["rel_error"] / 4  # 8 bits vs 4 bits
    again = quantize.run(params, ctx)  # same result, same file
    assert again["artifact"] == out["artifact"]


def test_artifact_bytes_are_canonical_and_load_with_safetensors():
    from safetensors.torch import load

    from polyquant.kernels.quantize import safetensors_bytes

    tensors = {"b.weight": torch.randn(3, 5).half(), "a.weight": torch.randn(4, 4), "c": torch.arange(6, dtype=torch.uint8).view(2, 3)}
    meta = {"z": "1", "a": "2"}
    blob = safetensors_bytes(tensors, meta)
    assert blob == safetensors_bytes(dict(reversed(list(tensors.items()))), dict(reversed(list(meta.items()))))
    loaded = load(blob)
    assert loaded.keys() == tensors.keys()
    for k, v in tensors.items():
        assert torch.equal(loaded[k], v) and loaded[k].dtype == v.dtype


def test_artifact_records_method_metadata_without_wall_time(tmp_path):
    """The stored artifact carries the method's metadata (e.g. GPTQ calibration) but no timings."""
    import json as _json

    from safetensors import safe_open

    from polyquant.kernels.quantize import write_artifact
    from polyquant.quant.methods import QuantResult

    result = QuantResult(weights={"w": torch.ones(2, 2)}, module_errors={}, meta={"calibration": {"languages": ["en", "he"], "bytes": {"en": 10, "he": 12}}, "seconds": 1.5})
    quant = {"method": "gptq", "bits": 4, "group_size": -1, "sym": False}
    first = write_artifact(result, [], quant, None, str(tmp_path))
    result.meta["seconds"] = 9.0
    second = write_artifact(result, [], quant, None, str(tmp_path))
    assert first == second
    with safe_open(first["path"], framework="pt") as f:
        meta = _json.loads(f.metadata()["meta"])
    assert meta == {"calibration": {"languages": ["en", "he"], "bytes": {"en": 10, "he": 12}}}


def test_a_pattern_that_matches_no_module_is_an_error_not_a_silent_default():
    """A typo in a protect or override pattern would quantize everything at the defaults."""
    model = tiny_llama(layers=4)
    with pytest.raises(ParameterError, match=r"protect.modules\[0\] 'mlp\\\\.down_prj' matches no module \(they are named like model.layers.0.self_attn.q_proj"):
        resolve_targets(model, {"group_size": 32}, {"modules": [r"mlp\.down_prj"]})
    with pytest.raises(ParameterError, match=r"overrides\[1\].modules 'qproj' matches no module"):
        resolve_targets(model, {"group_size": 32}, {}, [{"layers": [1], "bits": 8}, {"modules": "qproj", "bits": 3}])
    # lm_head is a candidate only with include_lm_head, and never in a block's layers
    with pytest.raises(ParameterError, match=r"overrides\[0\].modules '\^lm_head\$' matches no module of those layers"):
        resolve_targets(model, {"group_size": 32, "include_lm_head": True}, {}, [{"layers": [1], "modules": "^lm_head$", "bits": 3}])
