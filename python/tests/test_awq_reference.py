"""AWQ's scale search against the reference, written here from mit-han-lab/llm-awq
(`awq/quantize/auto_scale.py`: `auto_scale_block` for Llama, `_search_module_scale`;
`awq/quantize/quantizer.py`: `pseudo_quantize_tensor`): α over {k / 20}, each group scored by the
MSE of the output of the module it feeds (self_attn for q/k/v, o_proj, mlp for gate/up,
down_proj) on that module's full-precision inputs. polyquant's default search must pick the same
α in every group of every block; the whole-block loss and the linspace grid stay as options.
"""

import pytest
import torch

from polyquant.quant.awq import AwqConfig, search_awq
from polyquant.quant.calibration import capture_block_inputs
from polyquant.quant.plan import resolve_targets
from quant_tiny import tiny_llama

QUANT = {"method": "awq", "bits": 4, "group_size": 32, "sym": False}


def pseudo_quantize_tensor(w: torch.Tensor, n_bit: int = 4, q_group_size: int = 32) -> torch.Tensor:
    shape = w.shape
    w = w.reshape(-1, q_group_size)
    max_val = w.amax(dim=1, keepdim=True)
    min_val = w.amin(dim=1, keepdim=True)
    max_int, min_int = 2**n_bit - 1, 0
    scales = (max_val - min_val).clamp(min=1e-5) / max_int
    zeros = (-torch.round(min_val / scales)).clamp_(min_int, max_int)
    w = (torch.clamp(torch.round(w / scales) + zeros, min_int, max_int) - zeros) * scales
    return w.reshape(shape)


@torch.no_grad()
def search_module_scale(run, linears: list[torch.nn.Linear], x: torch.Tensor, n_grid: int = 20) -> float:
    """llm-awq `_search_module_scale`: the ratio (α) whose scaled, quantized linears change `run()` least."""
    org_out = run()
    x_max = x.abs().view(-1, x.shape[-1]).mean(0)
    originals = [fc.weight.data.clone() for fc in linears]
    best_error, best_ratio = float("inf"), -1.0
    for ratio in range(n_grid):
        ratio = ratio * 1 / n_grid
        scales = x_max.pow(ratio).clamp(min=1e-4).view(-1)
        scales = scales / (scales.max() * scales.min()).sqrt()
        for fc in linears:
            fc.weight.mul_(scales.view(1, -1))
            fc.weight.data = pseudo_quantize_tensor(fc.weight.data) / scales.view(1, -1)
        loss = (org_out - run()).float().pow(2).mean().item()
        if loss < best_error:
            best_error, best_ratio = loss, ratio
        for fc, w in zip(linears, originals):
            fc.weight.data = w.clone()
    return best_ratio


def _model():
    model = tiny_llama(layers=4, seed=3)
    with torch.no_grad():  # activation outliers in a few channels, as real LLMs have: α then matters
        for layer in model.model.layers:
            layer.input_layernorm.weight[:4] *= 12
            layer.post_attention_layernorm.weight[:6] *= 9
            for p in layer.parameters():
                if p.dim() == 2:
                    p.mul_(3)
    return model


def reference_alphas(model, ids) -> dict[tuple[str, ...], float]:
    """auto_scale_block on every layer, from one full-precision forward (its inputs are what each block sees)."""
    seen: dict[str, list] = {}
    hooks = []
    for name, mod in model.named_modules():
        if name.endswith(("self_attn", "mlp", "o_proj", "down_proj", "q_proj", "gate_proj")):
            def pre(m, args, kwargs, name=name):
                seen[name] = (args, kwargs)
            hooks.append(mod.register_forward_pre_hook(pre, with_kwargs=True))
    with torch.no_grad():
        model(ids, use_cache=False)  # llm-awq runs its blocks without a KV cache
    for h in hooks:
        h.remove()
    out = {}
    for i, layer in enumerate(model.model.layers):
        p = f"model.layers.{i}"
        attn, mlp = layer.self_attn, layer.mlp

        def x_of(n):
            args, kwargs = seen[n]
            return args[0] if args else next(iter(kwargs.values()))

        def call(mod, n):
            args, kwargs = seen[n]
            res = mod(*args, **kwargs)
            return res[0] if isinstance(res, tuple) else res

        groups = {
            (f"{p}.self_attn.q_proj", f"{p}.self_attn.k_proj", f"{p}.self_attn.v_proj"): (lambda: call(attn, f"{p}.self_attn"), [attn.q_proj, attn.k_proj, attn.v_proj], x_of(f"{p}.self_attn.q_proj")),
            (f"{p}.self_attn.o_proj",): (lambda: call(attn.o_proj, f"{p}.self_attn.o_proj"), [attn.o_proj], x_of(f"{p}.self_attn.o_proj")),
            (f"{p}.mlp.gate_proj", f"{p}.mlp.up_proj"): (lambda: call(mlp, f"{p}.mlp"), [mlp.gate_proj, mlp.up_proj], x_of(f"{p}.mlp.gate_proj")),
            (f"{p}.mlp.down_proj",): (lambda: call(mlp.down_proj, f"{p}.mlp.down_proj"), [mlp.down_proj], x_of(f"{p}.mlp.down_proj")),
        }
        for key, (run, linears, x) in groups.items():
            out[key] = search_module_scale(run, linears, x)
    return out


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    model = _model()
    ids = torch.randint(1, 300, (4, 32))
    return model, ids, reference_alphas(model, ids)


def _ours(model, ids, **cfg):
    calls = capture_block_inputs(model, ids, batch_size=4)
    targets = resolve_targets(model, QUANT)
    results = search_awq(model, calls, targets, AwqConfig(clip=False, **cfg))
    return {tuple(a.linears): a.alpha for a in results.scales}


def test_the_default_search_picks_llm_awqs_alpha_in_every_group(setup):
    model, ids, ref = setup
    ours = _ours(model, ids)
    assert set(ours) == set(ref) and len(ref) == 16
    agree = [k for k in ref if ours[k] == pytest.approx(ref[k])]
    assert len(agree) == 16, {k: (ours[k], ref[k]) for k in ref if k not in agree}
    assert len(set(ref.values())) > 1  # the outliers make α matter: not one value everywhere


def test_the_block_loss_and_linspace_grid_are_options_that_differ(setup):
    """polyquant's former defaults (whole-block loss, linspace grid) pick other α: the test can tell."""
    model, ids, ref = setup
    lin = _ours(model, ids, alpha_grid="linspace")
    assert all(abs(a * 19 - round(a * 19)) < 1e-5 for a in lin.values())  # α on {k / 19}
    old = _ours(model, ids, alpha_grid="linspace", loss="block")
    assert set(old) == set(ref)
    assert sum(old[k] == pytest.approx(ref[k]) for k in ref) < 16
