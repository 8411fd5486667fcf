"""Swapping quantized weights in per module call: the outputs of a copied-in model, the originals untouched."""

import pytest
import torch
from torch import nn

from polyquant.errors import ModelError, ParameterError
from polyquant.quant.apply import apply_weights
from polyquant.quant.methods import quantize_model
from polyquant.quant.plan import resolve_targets
from polyquant.quant.swap import swapped_in
from quant_tiny import tiny_gpt2, tiny_llama

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: many tiny ops run faster on one thread


class Loaded:
    def __init__(self, model):
        self.model = model


def _block_linears(model, quant):
    targets = [t for t in resolve_targets(model, quant) if t.kind == "linear"]
    return targets, quantize_model(Loaded(model), quant, targets), quantize_model(Loaded(model), quant, targets, coded=True)


@pytest.mark.parametrize("make", [tiny_llama, tiny_gpt2])
def test_logits_equal_those_of_the_copied_in_weights_and_the_originals_never_move(make):
    model = make(layers=3)
    ids = torch.randint(1, 300, (2, 20), generator=torch.Generator().manual_seed(0))
    targets, floats, coded = _block_linears(model, {"bits": 3, "group_size": 16})
    names = [t.param_name for t in targets if t.layer != 1]  # protect block 1
    params = dict(model.named_parameters())
    before = {n: (p.data_ptr(), p.detach().clone()) for n, p in params.items()}
    with torch.no_grad():
        plain = model(ids).logits
        with apply_weights(model, floats.weights, names):
            expected = model(ids).logits
        with swapped_in(model, coded.coded, names):
            swapped = [model(ids).logits, model(ids[:1]).logits]  # every forward pass, not only the first
        after = model(ids).logits
    assert torch.equal(swapped[0], expected) and torch.equal(swapped[1], expected[:1])
    assert not torch.equal(expected, plain)
    assert torch.equal(after, plain)
    for n, p in params.items():
        assert p.data_ptr() == before[n][0] and torch.equal(p, before[n][1]), n


def test_a_failing_forward_still_puts_the_originals_back():
    model = tiny_llama(layers=2)
    targets, _, coded = _block_linears(model, {"bits": 2, "group_size": 16})
    q = model.model.layers[0].self_attn.q_proj
    original = (q.weight.data_ptr(), q.weight.detach().clone())
    with pytest.raises(RuntimeError, match="boom"):
        with torch.no_grad(), swapped_in(model, coded.coded, [t.param_name for t in targets]):
            # raises after q ran with its quantized weight, before the swap's own hook puts the original back
            q.register_forward_hook(lambda *_: (_ for _ in ()).throw(RuntimeError("boom")), prepend=True)
            model(torch.ones(1, 4, dtype=torch.long))
    assert q.weight.data_ptr() == original[0] and torch.equal(q.weight, original[1])
    assert not q._forward_pre_hooks  # the swap's own hooks are gone


class ReadsAWeightDirectly(nn.Module):
    """`b.weight` is used as a tensor, never through `b`'s forward: it cannot be swapped per call."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(16, 16, bias=False)
        self.b = nn.Linear(16, 16, bias=False)

    def forward(self, x):
        return nn.functional.linear(self.a(x), self.b.weight)


def test_a_weight_read_outside_its_module_is_an_error_not_a_silent_original():
    from polyquant.quant.coded import CodedWeight
    from polyquant.quant.grid import quantize_weight

    model = ReadsAWeightDirectly()
    coded = {f"{m}.weight": CodedWeight.from_grid(quantize_weight(getattr(model, m).weight, 4, 16), torch.float32) for m in "ab"}
    with pytest.raises(ModelError, match="b.weight was never used through its module's forward"):
        with torch.no_grad(), swapped_in(model, coded, list(coded)):
            model(torch.randn(2, 16))


def test_bad_names_are_named():
    model = tiny_llama(layers=1)
    targets, _, coded = _block_linears(model, {"bits": 4, "group_size": 16})
    with pytest.raises(ParameterError, match="'model.norm.weight' has no quantized weight"):
        with swapped_in(model, coded.coded, ["model.norm.weight"]):
            pass
    q, k = "model.layers.0.self_attn.q_proj.weight", "model.layers.0.mlp.up_proj.weight"
    with pytest.raises(ParameterError, match=f"quantized weight for {q} has shape"):
        with swapped_in(model, {q: coded.coded[k]}, [q]):
            pass
