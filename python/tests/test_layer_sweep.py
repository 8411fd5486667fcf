"""Layer sweep: rows against independent quantize-and-measure runs, resume equals an uninterrupted sweep."""

import math

import pytest
import torch

from polyquant.context import KernelContext
from polyquant.errors import CheckpointError, KernelStopped, ParameterError
from polyquant.eval.perplexity import Protocol, measure
from polyquant.kernels import layer_sweep
from polyquant.models import resident
from polyquant.quant.apply import apply_weights
from polyquant.quant.methods import quantize_model
from polyquant.quant.plan import resolve_targets
from quant_tiny import CORPUS, save_tiny

PROTOCOL = {"context_length": 24}
QUANT = {"bits": 2, "group_size": 32}

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: many tiny ops run faster on one thread


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny(str(tmp_path_factory.mktemp("sweep-llama")), "tiny-llama", layers=4, seed=3)


def _params(model_dir, **kw):
    return {"model": {"id": model_dir}, "corpus": CORPUS, "quant": QUANT, "protocol": PROTOCOL, **kw}


class StopAfter(KernelContext):
    """A context whose stop request arrives after `n` configurations."""

    def __init__(self, n, **kw):
        super().__init__(**kw)
        self.n = n
        self.configs = 0

    def progress(self, done, total, unit="items", message=""):
        if unit == "configurations":
            self.configs = done
        super().progress(done, total, unit, message)

    def should_stop(self):
        return self.configs >= self.n


def _independent_degradation(loaded, protect_layers):
    """Quantize with `protect` directly (no sweep machinery) and measure."""
    base = measure(loaded, CORPUS, Protocol(**PROTOCOL))
    targets = resolve_targets(loaded.model, QUANT, {"layers": protect_layers})
    with apply_weights(loaded.model, quantize_model(loaded, QUANT, targets).weights):
        q = measure(loaded, CORPUS, Protocol(**PROTOCOL))
    return {lang: q[lang]["ppl"] / base[lang]["ppl"] - 1 for lang in base}


def test_protect_one_rows_match_independent_runs_and_rank_critical_layers(model_dir):
    out = layer_sweep.run(_params(model_dir, mode="protect-one"), KernelContext())
    loaded = resident.get({"id": model_dir})
    assert [r["layers"] for r in out["rows"]] == [[0], [1], [2], [3]]
    for layer in (0, 3):
        expected = _independent_degradation(loaded, [layer])
        for lang, d in expected.items():
            assert out["rows"][layer]["degradation"][lang] == pytest.approx(d, rel=1e-6, abs=1e-12)
    all_d = _independent_degradation(loaded, [])
    for lang, d in all_d.items():
        assert out["all_quantized"]["degradation"][lang] == pytest.approx(d, rel=1e-6, abs=1e-12)
    scores = {tuple(c["layers"]): c["score"] for c in out["critical_layers"]}
    for row in out["rows"]:
        assert row["mean"] == pytest.approx(sum(row["degradation"].values()) / 3)
        assert scores[tuple(row["layers"])] == pytest.approx(out["all_quantized"]["mean"] - row["mean"])
    ranked = [c["score"] for c in out["critical_layers"]]
    assert ranked == sorted(ranked, reverse=True)
    assert out["baseline"]["en"] == pytest.approx(measure(loaded, CORPUS, Protocol(**PROTOCOL))["en"]["ppl"], rel=1e-9)


def test_the_model_comes_back_bit_exact_and_its_weights_never_move(model_dir):
    loaded = resident.get({"id": model_dir})
    before = {n: (p.data_ptr(), p.detach().clone()) for n, p in loaded.model.named_parameters()}
    quant = {**QUANT, "include_embeddings": True, "include_lm_head": True}  # those two are copied in and back
    out = layer_sweep.run(_params(model_dir, mode="protect-one", quant=quant), KernelContext())
    assert out["all_quantized"]["mean"] > 0
    for n, p in loaded.model.named_parameters():
        assert p.data_ptr() == before[n][0] and torch.equal(p, before[n][1]), n


def test_quantize_one_with_every_layer_in_one_group_equals_all_quantized(model_dir):
    out = layer_sweep.run(_params(model_dir, mode="quantize-one", layer_groups=[[0, 1, 2, 3]]), KernelContext())
    assert out["rows"][0]["label"] == "layers 0-3"
    assert out["rows"][0]["degradation"] == out["all_quantized"]["degradation"]
    out = layer_sweep.run(_params(model_dir, mode="quantize-one", layer_groups=[[0, -1], [1, 2]]), KernelContext())
    assert out["groups"] == [[0, 3], [1, 2]] and out["rows"][0]["label"] == "layers 0,3"
    loaded = resident.get({"id": model_dir})
    expected = _independent_degradation(loaded, [0, 3])  # quantizing only 1-2 = protecting 0 and 3
    for lang, d in expected.items():
        assert out["rows"][1]["degradation"][lang] == pytest.approx(d, rel=1e-6, abs=1e-12)


@pytest.mark.parametrize("mode,stop_after", [("protect-one", 2), ("protect-cumulative", 5)])
def test_resume_from_a_checkpoint_gives_the_uninterrupted_result(model_dir, tmp_path, mode, stop_after):
    full = layer_sweep.run(_params(model_dir, mode=mode, checkpoint_every=1), KernelContext())
    ck = str(tmp_path / f"{mode}.json")
    ctx = StopAfter(stop_after, checkpoint_path=ck)
    with pytest.raises(KernelStopped, match=f"after {stop_after} of {full['configurations']} configurations"):
        layer_sweep.run(_params(model_dir, mode=mode, checkpoint_every=3), ctx)
    resumed_ctx = KernelContext.from_json({"checkpoint_path": ck})
    assert len(resumed_ctx.resume_state["evaluated"]) == stop_after + 2  # and the baseline and the all-quantized model
    resumed = layer_sweep.run(_params(model_dir, mode=mode, checkpoint_every=3), resumed_ctx)
    assert resumed == full
    if mode == "protect-cumulative":
        assert full["configurations"] == 4 + 3 + 2 + 1
        assert full["rows"][-1]["layers"] == [0, 1, 2, 3]
        assert full["rows"][-1]["mean"] == 0.0  # everything protected: the baseline
        means = [full["all_quantized"]["mean"]] + [r["mean"] for r in full["rows"]]
        assert [c["score"] for c in full["critical_layers"]] == pytest.approx([a - b for a, b in zip(means, means[1:])])


def test_checkpoint_of_other_parameters_is_refused(model_dir, tmp_path):
    ck = str(tmp_path / "ck.json")
    with pytest.raises(KernelStopped):
        layer_sweep.run(_params(model_dir, mode="quantize-one", checkpoint_every=1), StopAfter(1, checkpoint_path=ck))
    with pytest.raises(CheckpointError, match="other parameters"):
        layer_sweep.run(_params(model_dir, mode="quantize-one", quant={"bits": 3, "group_size": 32}), KernelContext.from_json({"checkpoint_path": ck}))


def test_bad_parameters_are_named(model_dir):
    with pytest.raises(ParameterError, match=r"layer_groups\[1\] index 9 is out of range for a model with 4 layers"):
        layer_sweep.run(_params(model_dir, layer_groups=[[0], [9]]), KernelContext())
    with pytest.raises(ParameterError, match=r"layer_groups\[1\] repeats layer\(s\) \[0\]"):
        layer_sweep.run(_params(model_dir, layer_groups=[[0, 1], [-4]]), KernelContext())
    with pytest.raises(ParameterError, match=r"with\.mode: 'protect-all' is not one of"):
        layer_sweep.run(_params(model_dir, mode="protect-all"), KernelContext())


def test_without_a_temporary_file_the_sweep_swaps_per_call_with_the_same_numbers(model_dir, monkeypatch):
    """A full or unwritable temp dir: the fallback (swap per module call) gives the same rows, bit for bit."""
    for mode in ("protect-one", "quantize-one"):
        spilled = layer_sweep.run(_params(model_dir, mode=mode), KernelContext())

        def unwritable(*_a, **_k):
            raise OSError(28, "No space left on device")

        with monkeypatch.context() as m:
            m.setattr("polyquant.quant.mixture.SpilledOriginals", unwritable)  # where the file is written
            swapped = layer_sweep.run(_params(model_dir, mode=mode), KernelContext())
        assert swapped == spilled, mode


def test_rows_carry_the_disparity_kernels_paired_bootstrap_and_the_ranking_its_probabilities(model_dir):
    """A row's CIs are what `disparity` reports for that configuration alone (same draws: one index
    set per language, in sorted order); P(top k) sums to k over the groups; `separated` is the
    score CI excluding 0."""
    from polyquant.kernels import disparity

    boot = {"samples": 300, "seed": 7}
    out = layer_sweep.run(_params(model_dir, mode="protect-one", bootstrap=boot, reference="en", top_k=2), KernelContext())
    d = disparity.run({"model": {"id": model_dir}, "corpus": CORPUS, "quant": QUANT, "protocol": PROTOCOL, "bootstrap": boot, "protect": {"layers": [1]}}, KernelContext())
    row = out["rows"][1]
    for lang, r in d["languages"].items():
        assert row["degradation"][lang] == pytest.approx(r["degradation"]["value"], rel=1e-9)
        assert row["degradation_ci"][lang] == pytest.approx(r["degradation"]["ci"], rel=1e-9)
    assert row["disparity"]["value"] == pytest.approx(d["disparity"]["value"], rel=1e-9)
    assert row["disparity"]["ci"] == pytest.approx(d["disparity"]["ci"], rel=1e-9)
    assert sum(c["p_top_k"] for c in out["critical_layers"]) == pytest.approx(2)
    for c in out["critical_layers"]:
        lo, hi = c["score_ci"]
        assert c["separated"] == (lo > 0 or hi < 0)
    assert out["uncertainty"]["top_k"] == 2 and set(out["uncertainty"]["mde"]) == set(CORPUS["languages"])
    assert (out["uncertainty"]["note"] is None) == bool(out["uncertainty"]["separated"])
