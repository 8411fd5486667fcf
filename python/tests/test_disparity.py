"""Disparity: the bootstrap against closed forms, a hand-built index, and the kernel against direct computations."""

import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from polyquant.analysis.bootstrap import BootstrapConfig, bootstrap_mean
from polyquant.analysis.disparity import LanguageUnits, analyse
from polyquant.context import KernelContext
from polyquant.errors import ParameterError
from polyquant.eval.compare import CompareConfig, compare, record_baseline
from polyquant.eval.perplexity import IGNORE, Protocol, iterate_batches, measure
from polyquant.kernels import disparity
from polyquant.models import resident
from polyquant.quant.apply import apply_weights
from polyquant.quant.methods import quantize_model
from polyquant.quant.plan import resolve_targets
from quant_tiny import CORPUS, save_tiny

PROTOCOL = {"context_length": 24}  # short windows: several per document, so the bootstrap has units


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: many tiny ops run faster on one thread


@pytest.fixture(scope="module")
def llama_dir(tmp_path_factory):
    return save_tiny(str(tmp_path_factory.mktemp("tiny-llama")), "tiny-llama", layers=2)


@pytest.fixture(scope="module")
def gpt2_dir(tmp_path_factory):
    return save_tiny(str(tmp_path_factory.mktemp("tiny-gpt2")), "tiny-gpt2", layers=2)


# ---- the bootstrap against closed forms -------------------------------------------------------


def test_bootstrap_ci_of_a_mean_matches_the_normal_closed_form():
    rng = np.random.default_rng(1)
    x = rng.normal(5.0, 2.0, size=400)
    mean, (lo, hi) = bootstrap_mean(x, samples=4000, seed=0)
    half = 1.96 * x.std(ddof=1) / math.sqrt(x.size)
    assert mean == pytest.approx(x.mean())
    assert lo == pytest.approx(mean - half, abs=0.1 * half)
    assert hi == pytest.approx(mean + half, abs=0.1 * half)


def test_degradation_ci_matches_the_delta_method():
    """Units with T tokens and NLL increases δ_i ~ N(μ, σ²): d = exp(mean δ / T) − 1 and its CI is
    exp((mean δ ± 1.96 s/√n) / T) − 1 to first order."""
    rng = np.random.default_rng(2)
    n, T = 500, 50
    nb = rng.normal(100.0, 10.0, size=n)
    delta = rng.normal(2.0, 5.0, size=n)
    units = {lang: LanguageUnits(nb, nb + delta * k, np.full(n, T), np.full(n, 4 * T)) for lang, k in (("en", 1.0), ("xx", 2.0))}
    out = analyse(units, "en", BootstrapConfig(samples=4000, seed=0))
    en = out["languages"]["en"]
    half = 1.96 * delta.std(ddof=1) / math.sqrt(n)
    assert en["degradation"]["value"] == pytest.approx(math.expm1(delta.mean() / T), rel=1e-12)
    lo, hi = en["degradation"]["ci"]
    assert lo == pytest.approx(math.expm1((delta.mean() - half) / T), rel=0.05)
    assert hi == pytest.approx(math.expm1((delta.mean() + half) / T), rel=0.05)
    # ΔBPB = mean δ / (ln 2 · bytes per unit), CI by the same closed form
    bpb = en["delta_bpb"]
    assert bpb["value"] == pytest.approx(delta.mean() / (math.log(2) * 4 * T), rel=1e-12)
    assert bpb["ci"][0] == pytest.approx((delta.mean() - half) / (math.log(2) * 4 * T), rel=0.05)
    assert out["worst_language"] == "xx"


def test_index_and_gap_cis_match_the_delta_method():
    """Independent languages, units of T tokens with NLL increases δ ~ N(μ_ℓ, σ_ℓ²): d_ℓ = exp(m_ℓ/T) − 1
    has Var ≈ (e^{m/T}/T)² σ²/n; the index R = A/B (A the mean of the others' d, B the reference's)
    has Var ≈ Var A / B² + A² Var B / B⁴, the gap A − B has Var A + Var B. The bootstrap's 95% CIs
    must match R ± 1.96 √Var and gap ± 1.96 √Var."""
    rng = np.random.default_rng(7)
    n, T = 2000, 50
    spec = {"en": (5.0, 5.0), "he": (9.0, 6.0), "zh": (12.0, 8.0)}  # (μ, σ) of δ per unit
    units, d, var = {}, {}, {}
    for lang, (mu, sigma) in spec.items():
        nb = rng.normal(100.0, 10.0, size=n)
        delta = rng.normal(mu, sigma, size=n)
        units[lang] = LanguageUnits(nb, nb + delta, np.full(n, T), np.full(n, 4 * T))
        m, s2 = delta.mean(), delta.var(ddof=1)
        d[lang] = math.expm1(m / T)
        var[lang] = (math.exp(m / T) / T) ** 2 * s2 / n
    out = analyse(units, "en", BootstrapConfig(samples=4000, seed=0))
    A = (d["he"] + d["zh"]) / 2
    var_a = (var["he"] + var["zh"]) / 4
    B, var_b = d["en"], var["en"]
    R = A / B
    half_r = 1.96 * math.sqrt(var_a / B**2 + A**2 * var_b / B**4)
    idx = out["disparity"]
    assert idx["defined"] is True
    assert idx["value"] == pytest.approx(R, rel=1e-12)
    assert idx["ci"][0] == pytest.approx(R - half_r, abs=0.1 * half_r)
    assert idx["ci"][1] == pytest.approx(R + half_r, abs=0.1 * half_r)
    half_g = 1.96 * math.sqrt(var_a + var_b)
    gap = out["gap"]
    assert gap["value"] == pytest.approx(A - B, rel=1e-12)
    assert gap["ci"][0] == pytest.approx(A - B - half_g, abs=0.1 * half_g)
    assert gap["ci"][1] == pytest.approx(A - B + half_g, abs=0.1 * half_g)


def test_hand_built_case_has_the_known_index_gap_and_worst_language():
    """Every unit of a language degrades by the same factor, so every replicate equals the point."""
    rng = np.random.default_rng(3)
    d = {"en": 0.1, "he": 0.3, "ar": 0.2}
    units = {}
    for lang, dl in d.items():
        tok = rng.integers(20, 60, size=30).astype(float)
        nb = tok * rng.uniform(1.5, 3.0, size=30)
        units[lang] = LanguageUnits(nb, nb + tok * math.log1p(dl), tok, tok * 3)
    out = analyse(units, "en", BootstrapConfig(samples=200, seed=7))
    assert out["disparity"]["value"] == pytest.approx(2.5, rel=1e-9)  # mean(0.3, 0.2) / 0.1
    assert out["disparity"]["ci"] == pytest.approx([2.5, 2.5], rel=1e-9)
    assert out["disparity"]["defined"] is True
    assert out["gap"]["value"] == pytest.approx(0.15, rel=1e-9)
    assert out["worst_language"] == "he"
    assert out["languages"]["ar"]["degradation"]["value"] == pytest.approx(0.2, rel=1e-9)
    assert out["languages"]["en"]["delta_bpb"]["value"] == pytest.approx(math.log1p(0.1) / (3 * math.log(2)), rel=1e-9)


def test_index_is_undefined_when_the_reference_ci_contains_zero():
    rng = np.random.default_rng(4)
    n = 40
    tok = np.full(n, 30.0)
    nb = rng.normal(60, 5, size=n)
    units = {
        "en": LanguageUnits(nb, nb + rng.normal(0.0, 3.0, size=n), tok, tok),  # noise around no change
        "zh": LanguageUnits(nb, nb + 6.0, tok, tok),
    }
    out = analyse(units, "en", BootstrapConfig(samples=500, seed=0))
    lo, hi = out["languages"]["en"]["degradation"]["ci"]
    assert lo < 0 < hi
    assert out["disparity"]["defined"] is False
    assert "contains 0" in out["disparity"]["reason"]
    assert isinstance(out["disparity"]["value"], float)
    # exactly zero reference degradation: no value at all
    units["en"] = LanguageUnits(nb, nb.copy(), tok, tok)
    out = analyse(units, "en", BootstrapConfig(samples=100, seed=0))
    assert out["disparity"]["value"] is None and out["disparity"]["defined"] is False


def test_bootstrap_is_seeded_and_validated():
    units = {lang: LanguageUnits(np.arange(10.0), np.arange(10.0) * (1 + k), np.full(10, 5.0), np.full(10, 9.0)) for k, lang in enumerate(["en", "fr"])}
    a = analyse(units, "en", BootstrapConfig(samples=100, seed=3))
    b = analyse(dict(reversed(list(units.items()))), "en", BootstrapConfig(samples=100, seed=3))
    assert a == b  # same seed, any key order: same intervals
    with pytest.raises(ParameterError, match="reference language 'de'"):
        analyse(units, "de", BootstrapConfig())
    with pytest.raises(ParameterError, match="bootstrap.samples 3"):
        BootstrapConfig.from_params({"samples": 3})
    with pytest.raises(ParameterError, match="bootstrap.unit 'token'"):
        BootstrapConfig.from_params({"unit": "token"})


# ---- the paired evaluation and the kernel -----------------------------------------------------


def _direct(model, windows, batch):
    """Per scored token log-softmax rows, straight from the model."""
    rows = []
    for _, logits, labels in iterate_batches(model, windows, batch):
        rows.append(torch.log_softmax(logits[labels != IGNORE].double(), dim=-1))
    return torch.cat(rows)


@pytest.mark.parametrize("which", ["llama", "gpt2"])
def test_kl_delta_p_and_agreement_match_a_direct_computation(which, llama_dir, gpt2_dir):
    loaded = resident.get({"id": llama_dir if which == "llama" else gpt2_dir})
    quant = {"bits": 3, "group_size": 32}
    result = quantize_model(loaded, quant, resolve_targets(loaded.model, quant))
    protocol = Protocol(**PROTOCOL)
    base = record_baseline(loaded, CORPUS, protocol, CompareConfig())
    assert base.mode == "float32"
    qmodel = copy.deepcopy(loaded.model)  # an independent quantized copy, made without apply_weights
    for name, w in result.weights.items():
        qmodel.get_parameter(name).data.copy_(w)
    with apply_weights(loaded.model, result.weights):
        got = compare(loaded, base, None)
    for lang, lb in base.languages.items():
        lp_b = _direct(loaded.model, lb.windows, 4)
        lp_q = _direct(qmodel, lb.windows, 4)
        kl = F.kl_div(lp_q, lp_b, log_target=True, reduction="none").sum(-1)  # KL(p_b ‖ p_q)
        labels = torch.tensor([y for w in lb.windows for y in w.labels if y != IGNORE])
        dp = lp_q.exp()[torch.arange(len(labels)), labels] - lp_b.exp()[torch.arange(len(labels)), labels]
        agree = (lp_q.argmax(-1) == lp_b.argmax(-1)).double().mean()
        assert got[lang].kl == pytest.approx(kl.mean().item(), rel=1e-4, abs=1e-9)
        assert got[lang].kl > 0
        assert got[lang].delta_p == pytest.approx(dp.mean().item(), abs=1e-7)
        assert got[lang].top1_agreement == pytest.approx(agree.item())
        assert got[lang].tokens == len(labels)
    # the model is bit-exact after the comparison
    for name, p in loaded.model.named_parameters():
        assert torch.equal(p, qmodel.get_parameter(name)) == (name not in result.weights)


def test_top_k_approximation_is_a_lower_bound_and_exact_with_the_whole_vocabulary(llama_dir):
    loaded = resident.get({"id": llama_dir})
    quant = {"bits": 2, "group_size": 32}
    result = quantize_model(loaded, quant, resolve_targets(loaded.model, quant))
    protocol = Protocol(**PROTOCOL)
    vocab = loaded.model.get_output_embeddings().weight.shape[0]
    bases = {
        "full": record_baseline(loaded, CORPUS, protocol, CompareConfig()),
        "top8": record_baseline(loaded, CORPUS, protocol, CompareConfig(kl_memory_mb=0, top_k=8, approximate=True)),
        "topV": record_baseline(loaded, CORPUS, protocol, CompareConfig(kl_memory_mb=0, top_k=vocab, approximate=True)),
    }
    assert bases["top8"].mode == "top-k"
    with apply_weights(loaded.model, result.weights):
        got = {k: compare(loaded, b) for k, b in bases.items()}
    for lang in CORPUS["languages"]:
        assert got["top8"][lang].kl <= got["full"][lang].kl + 1e-12
        assert got["top8"][lang].kl > 0
        assert got["topV"][lang].kl == pytest.approx(got["full"][lang].kl, rel=1e-6)
        assert got["top8"][lang].top1_agreement == got["full"][lang].top1_agreement


def test_identical_models_give_zero_kl_full_agreement_and_no_degradation(llama_dir):
    out = disparity.run(
        {"model": {"id": llama_dir}, "corpus": CORPUS, "quant": {"bits": 2}, "variant": {"model": {"id": llama_dir}}, "protocol": PROTOCOL, "bootstrap": {"samples": 50}},
        KernelContext(),
    )
    for lang, row in out["languages"].items():
        assert row["kl"] == 0.0
        assert row["top1_agreement"] == 1.0
        assert row["delta_p"] == 0.0
        # two forward passes agree to float rounding, which the float64 NLL sum no longer hides
        assert row["degradation"]["value"] == pytest.approx(0.0, abs=1e-9)
        assert row["degradation"]["ci"] == pytest.approx([0.0, 0.0], abs=1e-9)
        assert row["ppl_quant"] == pytest.approx(row["ppl_base"], rel=1e-9)
    assert out["disparity"]["value"] is None and out["disparity"]["defined"] is False
    assert out["quant"] is None and out["variant"]["id"] == llama_dir


def test_kernel_numbers_match_perplexity_measure_and_an_independent_quantized_pass(gpt2_dir):
    params = {
        "model": {"id": gpt2_dir},
        "corpus": CORPUS,
        "quant": {"bits": 2, "group_size": 16},
        "protect": {"layers": [-1]},
        "protocol": PROTOCOL,
        "bootstrap": {"samples": 200, "seed": 1},
        "reference": "en",
    }
    out = disparity.run(params, KernelContext())
    loaded = resident.get({"id": gpt2_dir})
    base = measure(loaded, CORPUS, Protocol(**PROTOCOL))
    quant = {"bits": 2, "group_size": 16}
    targets = resolve_targets(loaded.model, quant, {"layers": [-1]})
    with apply_weights(loaded.model, quantize_model(loaded, quant, targets).weights):
        quantized = measure(loaded, CORPUS, Protocol(**PROTOCOL))
    ds = {}
    for lang, row in out["languages"].items():
        assert row["ppl_base"] == pytest.approx(base[lang]["ppl"], rel=1e-9)
        assert row["bpb_base"] == pytest.approx(base[lang]["bits_per_byte"], rel=1e-9)
        assert row["ppl_quant"] == pytest.approx(quantized[lang]["ppl"], rel=1e-9)
        assert row["bpb_quant"] == pytest.approx(quantized[lang]["bits_per_byte"], rel=1e-9)
        assert row["tokens"] == base[lang]["tokens"]
        ds[lang] = quantized[lang]["ppl"] / base[lang]["ppl"] - 1
        assert row["degradation"]["value"] == pytest.approx(ds[lang], rel=1e-6, abs=1e-12)
        lo, hi = row["degradation"]["ci"]
        assert lo <= row["degradation"]["value"] <= hi
    expected_index = (ds["de"] + ds["he"]) / 2 / ds["en"]
    assert out["disparity"]["value"] == pytest.approx(expected_index, rel=1e-6)
    assert out["gap"]["value"] == pytest.approx((ds["de"] + ds["he"]) / 2 - ds["en"], rel=1e-6, abs=1e-12)
    assert out["worst_language"] == max(ds, key=ds.get)
    assert out["protected"] == [f"transformer.h.1.{m}" for m in ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj")]
    assert out["bootstrap"] == {"samples": 200, "seed": 1, "unit": "segment"}
    # documents as the unit: one unit per document, same point estimates
    doc = disparity.run({**params, "bootstrap": {"samples": 200, "seed": 1, "unit": "document"}}, KernelContext())
    assert doc["languages"]["he"]["degradation"]["value"] == pytest.approx(out["languages"]["he"]["degradation"]["value"], rel=1e-9)
    assert doc["languages"]["he"]["degradation"]["ci"] != out["languages"]["he"]["degradation"]["ci"]


def test_kernel_rejects_bad_parameters(llama_dir):
    base = {"model": {"id": llama_dir}, "corpus": CORPUS}
    with pytest.raises(ParameterError, match="reference language 'fr' is not in the corpus languages de, en, he"):
        disparity.run({**base, "reference": "fr", "quant": {}}, KernelContext())
    with pytest.raises(ParameterError, match=r"disparity: with\.variant: 'model' is a required property"):
        disparity.run({**base, "variant": {"id": "x"}}, KernelContext())
    with pytest.raises(ParameterError, match=r"with\.quant\.bits: 1 is less than the minimum of 2"):
        disparity.run({**base, "quant": {"bits": 1}}, KernelContext())


def test_variant_with_another_tokenizer_is_refused(llama_dir, tmp_path):
    other = save_tiny(str(tmp_path / "other"), "tiny-llama", layers=2, vocab=280)
    with pytest.raises(ParameterError, match="tokenizes .* differently"):
        disparity.run({"model": {"id": llama_dir}, "corpus": CORPUS, "variant": {"model": {"id": other}}, "protocol": PROTOCOL}, KernelContext())


def test_partial_results_carry_each_language_as_it_finishes(llama_dir, tmp_path):
    import json

    events = tmp_path / "events.jsonl"
    out = disparity.run(
        {"model": {"id": llama_dir}, "corpus": CORPUS, "quant": {"bits": 3, "group_size": 32}, "protocol": PROTOCOL, "bootstrap": {"samples": 50}},
        KernelContext(events_path=str(events)),
    )
    partials = [e["result"] for e in map(json.loads, events.read_text().splitlines()) if e["type"] == "partial"]
    assert [p["language"] for p in partials] == list(CORPUS["languages"])
    for p in partials:
        row = out["languages"][p["language"]]
        assert p["degradation"]["value"] == pytest.approx(row["degradation"]["value"], rel=1e-9, abs=1e-15)
        assert p["kl"] == row["kl"] and p["ppl_quant"] == pytest.approx(row["ppl_quant"], rel=1e-12)


def test_above_the_memory_cap_kl_is_recomputed_exactly_not_approximated(llama_dir):
    """No memory for the baseline's distributions: the quantized pass recomputes them per batch from
    the original weights, and KL equals the kept-in-float32 one; the model comes back bit-exact."""
    base_params = {"model": {"id": llama_dir}, "corpus": CORPUS, "quant": {"bits": 2, "group_size": 32}, "protocol": PROTOCOL, "bootstrap": {"samples": 50}}
    kept = disparity.run(base_params, KernelContext())
    loaded = resident.get({"id": llama_dir})
    before = {n: p.detach().clone() for n, p in loaded.model.named_parameters()}
    recomputed = disparity.run({**base_params, "kl": {"kl_memory_mb": 0}}, KernelContext())
    approx = disparity.run({**base_params, "kl": {"kl_memory_mb": 0, "top_k": 4, "approximate": True}}, KernelContext())
    assert kept["kl_mode"] == "float32" and recomputed["kl_mode"] == "recompute" and approx["kl_mode"] == "top-4 lower bound"
    for lang in CORPUS["languages"]:
        assert recomputed["languages"][lang]["kl"] == pytest.approx(kept["languages"][lang]["kl"], rel=1e-6)
        assert recomputed["languages"][lang]["delta_p"] == pytest.approx(kept["languages"][lang]["delta_p"], rel=1e-6, abs=1e-12)
        assert recomputed["languages"][lang]["top1_agreement"] == kept["languages"][lang]["top1_agreement"]
        assert approx["languages"][lang]["kl"] <= kept["languages"][lang]["kl"] + 1e-12
    for n, p in loaded.model.named_parameters():
        assert torch.equal(p, before[n]), n


def test_a_calibrated_step_reports_what_its_calibration_set_held_per_language(llama_dir):
    quant = {"method": "gptq", "bits": 4, "group_size": 32, "calibration": {"corpus": CORPUS, "languages": ["en", "he"], "samples": 4, "seq_len": 16}}
    out = disparity.run({"model": {"id": llama_dir}, "corpus": CORPUS, "quant": quant, "protocol": PROTOCOL, "bootstrap": {"samples": 50}}, KernelContext())
    cal = out["quant"]["calibration"]
    assert cal["languages"] == ["en", "he"] and cal["samples"] == 4 and cal["seq_len"] == 16
    assert set(cal["per_language"]) == {"en", "he"}
    assert sum(v["samples"] for v in cal["per_language"].values()) == 4
    assert all(v["tokens"] == v["samples"] * 16 and v["bytes"] > 0 for v in cal["per_language"].values())
    rtn = disparity.run({"model": {"id": llama_dir}, "corpus": CORPUS, "quant": {"bits": 4, "group_size": 32}, "protocol": PROTOCOL, "bootstrap": {"samples": 50}}, KernelContext())
    assert rtn["quant"]["calibration"] is None
