"""The `allocate` kernel against independent computations: each sensitivity against a
quantize-and-measure of that layer alone, the allocation's measured d against a `disparity`
run with the plan it wrote, its size against a count of the plan's bits, the bound, the
baselines against disparity runs, the artifact a `quantize` step writes from the plan, a sweep's
rows reused, and a resumed run against an uninterrupted one."""

import json
import math
import struct

import pytest
import torch

from polyquant.context import KernelContext
from polyquant.errors import KernelStopped, ParameterError
from polyquant.kernels import allocate, disparity, layer_sweep, quantize
from polyquant.eval.perplexity import Protocol, measure
from polyquant.models import resident
from polyquant.quant.apply import apply_weights
from polyquant.quant.methods import quantize_model
from polyquant.quant.plan import resolve_targets

PROTOCOL = {"context_length": 64}
QUANT = {"method": "rtn", "bits": 4, "group_size": 32}
CANDIDATES = [{"bits": 2}, {"bits": 3}, {"bits": 4}, {"bits": 8}]
BOUND = {"degradation": {"uniform_bits": 4, "language": "en"}}
CORPUS: dict = {}

# the trained fixture on the UDHR: a random model's quantization noise lowers some languages'
# perplexity as often as it raises it, and a bound of "English's int4 degradation" is then below 0
pytestmark = [pytest.mark.fixture, pytest.mark.usefixtures("one_thread")]


@pytest.fixture(scope="module")
def model_dir(trained_fixtures, heldout_corpus):
    CORPUS.update(heldout_corpus)
    return trained_fixtures["tiny-llama"]


def _params(model_dir, **kw):
    return {"model": {"id": model_dir}, "corpus": CORPUS, "quant": QUANT, "protocol": PROTOCOL, "candidates": CANDIDATES, "bound": BOUND, "bootstrap": {"samples": 200}, **kw}


@pytest.fixture(scope="module")
def result(model_dir):
    return allocate.run(_params(model_dir), KernelContext())


def _measured_d(loaded, quant, protect=None, overrides=None):
    base = measure(loaded, CORPUS, Protocol(**PROTOCOL))
    targets = resolve_targets(loaded.model, quant, protect or {}, overrides or [])
    with apply_weights(loaded.model, quantize_model(loaded, quant, targets).weights):
        q = measure(loaded, CORPUS, Protocol(**PROTOCOL))
    return {lang: q[lang]["ppl"] / base[lang]["ppl"] - 1 for lang in base}


def test_each_sensitivity_equals_that_layer_quantized_alone(model_dir, result):
    loaded = resident.get({"id": model_dir})
    for layer, label in ((0, "int3 g32"), (3, "int2 g32")):
        bits = int(label[3])
        expected = _measured_d(loaded, {**QUANT, "bits": bits}, protect={"layers": [i for i in range(4) if i != layer]})
        got = result["sensitivities"][layer]["choices"][label]
        for lang, d in expected.items():
            assert got[lang] == pytest.approx(d, rel=1e-6, abs=1e-10)


def test_the_allocation_measured_equals_a_disparity_run_of_its_plan_and_meets_the_bound(model_dir, result):
    alloc, plan = result["allocation"], result["plan"]
    out = disparity.run({"model": {"id": model_dir}, "corpus": CORPUS, "protocol": PROTOCOL, "bootstrap": {"samples": 200},
                         "quant": plan["quant"], "protect": plan["protect"], "overrides": plan["overrides"]}, KernelContext())  # fmt: skip
    for lang, row in out["languages"].items():
        assert alloc["measured"][lang]["value"] == pytest.approx(row["degradation"]["value"], rel=1e-9, abs=1e-12)
        assert alloc["measured"][lang]["ci"] == pytest.approx(row["degradation"]["ci"], rel=1e-9, abs=1e-12)
    eps = result["bound"]["degradation"]["value"]
    uniform = _measured_d(resident.get({"id": model_dir}), QUANT)
    assert eps == pytest.approx(uniform["en"], rel=1e-9)
    assert alloc["met"] is True
    assert all(alloc["measured"][lang]["value"] <= eps + 1e-15 for lang in CORPUS["languages"])
    assert all(v == 0 for v in alloc["shortfall"].values())


def test_bits_per_weight_count_codes_scales_and_zeros_of_the_plan(result):
    mods = result["plan"]["modules"]
    total = sum(m["params"] for m in mods)
    bits = sum(m["params"] * (16 if m["bits"] is None else m["bits"] + (16 + m["bits"]) / 32) for m in mods)
    assert result["allocation"]["bpw"] == pytest.approx(bits / total, rel=1e-12)
    assert result["allocation"]["bytes"]["linears"] == pytest.approx(bits / 8, rel=1e-12)
    # the min-size allocation is no larger than uniform int4, which meets the bound by construction
    uniform4 = next(p for c in result["baselines"]["curves"] if c["strategy"] == "uniform" for p in c["points"] if p["label"] == "uniform int4 g32")
    assert result["allocation"]["bpw"] <= uniform4["bpw"] + 1e-12
    assert uniform4["bpw"] == pytest.approx(4 + 20 / 32)


def test_baselines_equal_disparity_runs_and_the_optimum_beats_them_at_equal_size(model_dir, result):
    loaded = resident.get({"id": model_dir})
    curves = {c["strategy"]: c["points"] for c in result["baselines"]["curves"]}
    ends = next(p for p in curves["first + last block fp16"] if p["label"].startswith("int4 g32"))
    expected = _measured_d(loaded, QUANT, protect={"layers": [0, 3]})
    for lang, d in expected.items():
        assert ends["degradation"][lang] == pytest.approx(d, rel=1e-6, abs=1e-12)
    assert set(curves) == {"uniform", "first + last block fp16", "Q4_K_M rule", "average-loss optimal", "worst-language optimal"}
    for row in result["baselines"]["equal_bpw"]:
        b, o = row["baseline"], row["optimal"]
        assert o["bpw"] <= b["bpw"] + 1e-9
    # the Q4_K_M rule on 4 layers: use_more_bits is true for layers 0 and 3 (first / last eighth)
    q = next(p for p in curves["Q4_K_M rule"] if p["label"].startswith("int4 g32"))
    assert q["bpw"] > 4 + 20 / 32


def test_a_quantize_step_with_the_plan_writes_exactly_the_planned_grids(model_dir, result):
    plan = result["plan"]
    out = quantize.run({"model": {"id": model_dir}, "quant": plan["quant"], "protect": plan["protect"], "overrides": plan["overrides"]}, KernelContext())
    with open(out["artifact"]["path"], "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    written = {t["name"]: (t["bits"], t["group_size"]) for t in json.loads(header["__metadata__"]["targets"])}
    planned = {m["name"]: (m["bits"], m["group_size"]) for m in plan["modules"] if m["bits"] is not None}
    assert written == planned
    # the step's storage summary counts the same bits per weight as the allocation, from the targets
    assert out["storage"]["bpw"] == pytest.approx(result["allocation"]["bpw"], rel=1e-12)
    layers = {(g["bits"], g["group_size"]): set(g["layers"]) for g in out["storage"]["grids"]}
    for m in plan["modules"]:
        if m["bits"] is not None:
            assert m["layer"] in layers[(m["bits"], m["group_size"])]


def test_the_model_comes_back_bit_exact(model_dir, result):
    loaded = resident.get({"id": model_dir})
    before = {n: p.detach().clone() for n, p in loaded.model.named_parameters()}
    allocate.run(_params(model_dir, baselines=False), KernelContext())
    for n, p in loaded.model.named_parameters():
        assert torch.equal(p, before[n]), n


def test_sweep_rows_stand_for_that_candidate_and_give_the_same_allocation(model_dir, result):
    sweep = layer_sweep.run({"model": {"id": model_dir}, "corpus": CORPUS, "quant": QUANT, "protocol": PROTOCOL, "mode": "quantize-one"}, KernelContext())
    counted = KernelContext()
    again = allocate.run(_params(model_dir, sweeps=[sweep]), counted)
    assert again["allocation"]["units"] == result["allocation"]["units"]
    for a, b in zip(again["sensitivities"], result["sensitivities"]):
        for lang, d in b["choices"]["int4 g32"].items():
            assert a["choices"]["int4 g32"][lang] == pytest.approx(d, rel=1e-9, abs=1e-12)
    assert again["configurations"] == result["configurations"] - 4  # four quantize-one int4 evaluations not run
    other = dict(sweep, protocol={**sweep["protocol"], "context_length": 16})
    with pytest.raises(ParameterError, match="protocol"):
        allocate.run(_params(model_dir, sweeps=[other]), KernelContext())


class StopAfter(KernelContext):
    def __init__(self, n, **kw):
        super().__init__(**kw)
        self.n, self.done = n, 0

    def progress(self, done, total, unit="items", message=""):
        if unit == "evaluations":
            self.done = done
        super().progress(done, total, unit, message)

    def should_stop(self):
        return self.done >= self.n


def test_a_resumed_allocation_equals_an_uninterrupted_one(model_dir, result):
    ctx = StopAfter(7)
    with pytest.raises(KernelStopped):
        allocate.run(_params(model_dir), ctx)
    state = ctx._memory_checkpoint
    assert state is not None and 0 < len(state["evaluated"]) < result["configurations"]
    resumed = allocate.run(_params(model_dir), KernelContext(resume_state=state))
    assert json.dumps(resumed, sort_keys=True) == json.dumps(result, sort_keys=True)


def test_bad_parameters_are_named(model_dir):
    with pytest.raises(ParameterError, match="goal min-size needs a bound"):
        allocate.run({"model": {"id": "x"}, "corpus": CORPUS}, KernelContext())
    with pytest.raises(ParameterError, match="awq"):
        allocate.run({"model": {"id": "x"}, "corpus": CORPUS, "quant": {"method": "awq"}, "bound": {"degradation": 0.1}}, KernelContext())


def test_min_worst_within_the_size_of_uniform_int4_beats_it(model_dir, result):
    out = allocate.run(_params(model_dir, goal="min-worst", budget_bpw={"uniform_bits": 4}, baselines=False), KernelContext())
    assert out["bound"]["budget_bpw"]["value"] == pytest.approx(4 + 20 / 32)
    assert out["allocation"]["bpw"] <= 4 + 20 / 32 + 1e-12
    # the same program as the baselines' "worst-language optimum at the size of uniform int4"
    row = next(r for r in result["baselines"]["equal_bpw"] if r["baseline"]["label"] == "uniform int4 g32")
    assert out["allocation"]["bpw"] == pytest.approx(row["optimal"]["bpw"], rel=1e-12)
    assert out["allocation"]["measured"][row["optimal"]["worst_language"]]["value"] == pytest.approx(row["optimal"]["worst"]["value"], rel=1e-9)
    assert out["allocation"]["met"] and out["iterations"][0]["violated"] == []


@pytest.mark.parametrize("units", ["attention-mlp", "modules"])
def test_finer_units_give_plans_that_re_quantize_to_the_allocation(model_dir, units):
    """The kernel re-quantizes the plan and checks it against the allocation it searched (RTN):
    module-regex overrides and protection must say exactly which linears take which grid."""
    out = allocate.run(_params(model_dir, units=units, candidates=[{"bits": 3}, {"bits": 4}, {"bits": 8}], baselines=False), KernelContext())
    assert len(out["sensitivities"]) == (8 if units == "attention-mlp" else 28)
    chosen = {u["unit"]: u["choice"] for u in out["allocation"]["units"]}
    for row in out["plan"]["modules"]:
        label = "fp16" if row["bits"] is None else f"int{row['bits']} g{row['group_size']}"
        unit = row["name"] if units == "modules" else f"layer {row['layer']} {'attention' if row['role'].startswith('attn') else 'mlp'}"
        assert chosen[unit] == label, row["name"]


def test_gptq_allocation_is_measured_on_the_plan_quantized_afresh(model_dir, train_corpus):
    """With GPTQ the plan's own quantization is what counts: a disparity run of the plan measures the same."""
    quant = {"method": "gptq", "bits": 4, "group_size": 32, "calibration": {"corpus": train_corpus, "languages": ["en", "he", "ar", "zh"], "samples": 8, "seq_len": 64}}
    # a numeric bound: on this corpus GPTQ's uniform int4 g32 may not measurably hurt en, and a bound
    # relative to it would then be refused (the kernel says so); the bound is not what is tested here
    out = allocate.run(_params(model_dir, quant=quant, candidates=[{"bits": 3}, {"bits": 4}, {"bits": 8}], bound={"degradation": 0.01}, baselines=False), KernelContext())
    plan = out["plan"]
    assert plan["quant"]["method"] == "gptq" and "corpus" not in plan["quant"]["calibration"]
    # as the engine does for a step re-quantizing with the plan: its calibration corpus resolved
    requant = {**plan["quant"], "calibration": {**plan["quant"]["calibration"], "corpus": train_corpus}}
    again = disparity.run({"model": {"id": model_dir}, "corpus": CORPUS, "protocol": PROTOCOL, "bootstrap": {"samples": 200},
                           "quant": requant, "protect": plan["protect"], "overrides": plan["overrides"]}, KernelContext())  # fmt: skip
    for lang, row in again["languages"].items():
        assert out["allocation"]["measured"][lang]["value"] == pytest.approx(row["degradation"]["value"], rel=1e-9, abs=1e-12)


def test_a_delta_bpb_bound_is_met_in_bits_per_byte(model_dir):
    out = allocate.run(_params(model_dir, bound={"delta_bpb": 0.004}, baselines=False), KernelContext())
    assert out["bound"]["delta_bpb"] == {"value": 0.004, "from": "given"}
    assert out["allocation"]["met"] is True
    assert all(e["value"] <= 0.004 for e in out["allocation"]["delta_bpb"].values())


def test_a_bound_no_candidate_can_meet_is_reported_with_its_shortfall(model_dir):
    out = allocate.run(_params(model_dir, bound={"degradation": 0.0}, full_precision=False, candidates=[{"bits": 2}, {"bits": 3}], baselines=False), KernelContext())
    a = out["allocation"]
    assert a["met"] is False and "least-degrading allocation is reported" in a["reason"]
    worst = max(e["value"] for e in a["measured"].values())
    assert max(a["shortfall"].values()) == pytest.approx(worst, rel=1e-12)
