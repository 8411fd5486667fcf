import copy

import pytest
import torch

from polyquant.analysis import heads
from polyquant.analysis.windows import mean_nll
from polyquant.context import KernelContext
from polyquant.errors import CheckpointError, ParameterError
from tests.analysis.tiny import language_windows, plant_language_head, tiny_gpt2, tiny_llama

LANGS = ["en", "he", "ar"]


def test_rule_finds_exactly_the_planted_head():
    model = plant_language_head(tiny_llama(seed=0), layer=0, head=1)
    windows = language_windows(LANGS)
    out = heads.analyse_heads(model, windows, heads.HeadRule(k=3.0, floor=0.05), KernelContext())
    specific = [(h["layer"], h["head"], h["specific_to"]) for h in out["heads"] if h["specific_to"]]
    assert specific == [(0, 1, ["en"])]
    planted = out["heads"][1]
    assert planted["delta_nll"]["en"] > 0.3  # ablating it costs English a lot
    assert planted["delta_nll"]["he"] == 0.0 and planted["delta_nll"]["ar"] == 0.0  # exactly nothing elsewhere
    assert out["n_specific"] == 1 and out["share_specific"] == pytest.approx(1 / 8)
    assert [p["specific"] for p in out["per_layer"]] == [1, 0]
    assert out["per_language"] == {"en": 1, "he": 0, "ar": 0}
    # The activation statistic sees the planted head as the most English-specific too.
    assert planted["activation"]["he"] == 0.0 and planted["activation_top_language"] == "en"
    assert max(out["heads"], key=lambda h: h["activation_specificity"]) is planted


def test_delta_equals_independent_weight_zeroing():
    """Δ from the hook equals zeroing the head's o_proj input columns in a deep copy."""
    model = tiny_llama(seed=3)
    windows = language_windows(LANGS, n=2)
    out = heads.analyse_heads(model, windows, heads.HeadRule(), KernelContext())
    layer, head, hs = 1, 2, 16
    other = copy.deepcopy(model)
    with torch.no_grad():
        other.model.layers[layer].self_attn.o_proj.weight[:, head * hs : (head + 1) * hs] = 0
    for lang in LANGS:
        expect = mean_nll(other, windows[lang]) - mean_nll(model, windows[lang])
        got = out["heads"][layer * 4 + head]["delta_nll"][lang]
        assert got == pytest.approx(expect, abs=1e-6)


def test_gpt2_ablation_matches_conv1d_row_zeroing_and_norms():
    model = tiny_gpt2(seed=1)
    windows = language_windows(LANGS, n=2)
    geo = heads.head_geometry(model)
    assert (geo.layers, geo.heads, geo.head_dim) == (2, 4, 16)
    base = mean_nll(model, windows["en"])
    with heads.ablate_head(model, 0, 3):
        ablated = mean_nll(model, windows["en"])
    other = copy.deepcopy(model)
    with torch.no_grad():
        other.transformer.h[0].attn.c_proj.weight[48:64, :] = 0  # Conv1D stores in × out
    assert ablated - base == pytest.approx(mean_nll(other, windows["en"]) - base, abs=1e-6)
    # Head norms: independent computation from the c_proj input captured by a plain hook.
    captured = []
    h = model.transformer.h[1].attn.c_proj.register_forward_pre_hook(lambda m, a: captured.append(a[0].detach()))
    _, act = heads.baseline_pass(model, windows["he"], batch_size=8)
    h.remove()
    x = torch.cat([c.reshape(-1, 64) for c in captured])
    expect = x.reshape(-1, 4, 16).norm(dim=-1).mean(dim=0)
    assert act[1] == pytest.approx(expect.tolist(), rel=1e-5)


def test_ablation_restore_is_bit_exact_even_after_an_error():
    model = tiny_gpt2(seed=2)
    ids = torch.randint(0, 96, (2, 16))
    before_state = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        before = model(input_ids=ids).logits
        with heads.ablate_head(model, 1, 0):
            during = model(input_ids=ids).logits
        with pytest.raises(RuntimeError):
            with heads.ablate_head(model, 0, 2):
                raise RuntimeError("boom")
        after = model(input_ids=ids).logits
    assert not torch.equal(before, during)
    assert torch.equal(before, after)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before_state[k]), k
    assert all(not m._forward_pre_hooks for m in model.modules())


def test_rule_on_hand_made_deltas():
    rule = heads.HeadRule(k=2.0, floor=0.1)
    assert heads.specific_languages({"en": 0.5, "he": 0.1, "ar": 0.2}, rule) == ["en"]  # 0.5 ≥ 2·0.15
    assert heads.specific_languages({"en": 0.25, "he": 0.1, "ar": 0.2}, rule) == []  # 0.25 < 0.3
    assert heads.specific_languages({"en": 0.05, "he": -0.1, "ar": -0.2}, rule) == []  # under the floor
    assert heads.specific_languages({"en": 0.12, "he": -0.1, "ar": -0.2}, rule) == ["en"]
    assert heads.specificity_score({"en": 0.5, "he": 0.1, "ar": 0.2}) == (pytest.approx(0.35), "en")
    with pytest.raises(ParameterError, match="k -1"):
        heads.HeadRule(k=-1)
    with pytest.raises(ParameterError, match="at least 2 languages"):
        heads.specific_languages({"en": 1.0}, rule)


def test_critical_layers_comparison():
    geo = heads.HeadGeometry(layers=3, heads=2, head_dim=4)
    langs = ["en", "he"]
    big, none_ = {"en": 1.0, "he": 0.0}, {"en": 0.0, "he": 0.0}
    state = {
        "base_nll": {"en": 1.0, "he": 1.0},
        "activation": {"en": [[1, 1], [1, 1], [1, 1]], "he": [[1, 1], [1, 1], [1, 1]]},
        "delta": [[big, big], [none_, none_], [big, none_]],
    }
    out = heads.summarise(geo, langs, state, heads.HeadRule(k=3, floor=0.05), [0])
    assert out["share_specific"] == pytest.approx(3 / 6)
    c = out["critical_layers"]
    assert c["share_in_critical"] == 1.0 and c["share_elsewhere"] == pytest.approx(0.25) and c["holds_more"] is True
    from scipy.stats import fisher_exact

    assert c["fisher_p"] == pytest.approx(fisher_exact([[2, 0], [1, 3]], alternative="greater")[1])
    assert out["agreement"]["spearman"] == {"rho": None, "p": None}  # activation score is constant


def test_checkpoint_resume_gives_the_same_result(tmp_path):
    model = tiny_llama(seed=4, layers=3)
    windows = language_windows(LANGS, n=2, length=12)
    full = heads.analyse_heads(model, windows, heads.HeadRule(), KernelContext())
    stop = tmp_path / "stop"
    ctx = KernelContext(checkpoint_path=str(tmp_path / "ck.json"), stop_path=str(stop))
    stop.write_text("")
    from polyquant.errors import KernelStopped

    with pytest.raises(KernelStopped):
        heads.analyse_heads(model, windows, heads.HeadRule(), ctx)
    stop.unlink()
    resumed_ctx = KernelContext.from_json({"checkpoint_path": str(tmp_path / "ck.json")})
    assert len(resumed_ctx.resume_state["delta"]) == 1
    resumed = heads.analyse_heads(model, windows, heads.HeadRule(), resumed_ctx)
    assert resumed == full
    with pytest.raises(CheckpointError, match="another model, corpus or rule"):
        heads.analyse_heads(model, windows, heads.HeadRule(k=5), resumed_ctx)
