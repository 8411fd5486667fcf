"""Per-head language specificity: head ablation per language, and a cheap activation statistic.

Ablation. Head h of layer l is removed by zeroing its slice of the input of the attention output
projection (`attn_out` of models/structure.py: the last linear the attention module calls, Llama `o_proj`, GPT-2 `attn.c_proj`): the
projection's input is the concatenation of the heads' outputs, (B, T, nh·hs), so zeroing columns
[h·hs, (h+1)·hs) removes exactly that head's contribution to the residual stream (a bias, if the
projection has one, stays). The zeroing is a forward pre-hook: no weight is touched, so "restoring"
is removing the hook, and the model is bit-identical afterwards even if the forward raised.

    Δ[h, L] = NLL_L(model without h) − NLL_L(model)      (mean nats per scored token)

Rule ("language-specific"). Head h is specific to language L when

    Δ[h, L] ≥ max(floor, k · median_{L' ≠ L} Δ[h, L'])

i.e. removing it costs L at least `floor` nats per token and at least k times what it costs the
typical other language (a negative or zero median leaves only the floor). Defaults k = 3,
floor = 0.01. A head may be specific to more than one language; it counts once in the shares.

Activation statistic. During the baseline pass, a[h, L] = mean over tokens of ‖o_h(t)‖₂, the
L2 norm of head h's output slice. Normalised per head, ã[h, L] = a[h, L] / mean_L' a[h, L'], so
heads of different scale compare. Specificity scores, one per head:

    s_abl(h) = max_L (Δ[h, L] − median_{L'≠L} Δ[h, L'])
    s_act(h) = max_L (ã[h, L] − median_{L'≠L} ã[h, L'])

Agreement between the cheap statistic and ablation is the Spearman correlation of s_act with
s_abl over all heads, and the share of heads whose argmax language is the same under both.
"""

from __future__ import annotations

import contextlib
import math
import statistics
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
import torch
from torch import nn

from ..errors import ModelError, ParameterError
from .permutation import spearman_p
from ..models import structure
from .windows import equal_length_batches, model_device


@dataclass(frozen=True)
class HeadGeometry:
    layers: int  # number of blocks
    heads: int  # attention heads per block (query heads: o_proj reads one slice per query head)
    head_dim: int  # hs: width of one head's slice of attn_out's input


@dataclass
class HeadRule:
    k: float = 3.0  # Δ for L must be ≥ k × the median Δ over the other languages
    floor: float = 0.01  # ... and ≥ this many nats per token

    def __post_init__(self) -> None:
        if not self.k > 0:
            raise ParameterError(f"rule.k {self.k} must be positive")
        if not self.floor >= 0:
            raise ParameterError(f"rule.floor {self.floor} must be ≥ 0")


def head_geometry(model: nn.Module) -> HeadGeometry:
    cfg = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    heads = getattr(cfg, "num_attention_heads", None) or getattr(cfg, "n_head", None) or getattr(cfg, "n_heads", None)
    if not heads:
        raise ModelError(f"model config has no num_attention_heads ({type(cfg).__name__})")
    attn_out = attn_out_module(model, 0)
    in_f, _ = structure.in_out_features(model, attn_out)
    if in_f % heads != 0:
        raise ModelError(f"{structure.structure_of(model).attn_out} has {in_f} inputs, not a multiple of {heads} heads")
    return HeadGeometry(layers=structure.num_layers(model), heads=int(heads), head_dim=in_f // heads)


def attn_out_module(model: nn.Module, layer: int) -> nn.Module:
    return structure.attn_out_module(model, layer)


@contextlib.contextmanager
def ablate_head(model: nn.Module, layer: int, head: int) -> Iterator[None]:
    """Within the block, head `head` of block `layer` contributes nothing; weights are never touched."""
    geo = head_geometry(model)
    if not 0 <= layer < geo.layers:
        raise ParameterError(f"layer {layer} is out of range for a model with {geo.layers} layers")
    if not 0 <= head < geo.heads:
        raise ParameterError(f"head {head} is out of range for {geo.heads} heads")
    lo, hi = head * geo.head_dim, (head + 1) * geo.head_dim

    def pre_hook(_mod: nn.Module, args: tuple) -> tuple:
        x = args[0].clone()  # (B, T, nh·hs)
        x[..., lo:hi] = 0
        return (x, *args[1:])

    handle = attn_out_module(model, layer).register_forward_pre_hook(pre_hook)
    try:
        yield
    finally:
        handle.remove()


@contextlib.contextmanager
def record_head_norms(model: nn.Module, sums: torch.Tensor) -> Iterator[None]:
    """Adds Σ_t ‖o_h(t)‖₂ into sums[layer, head] (float64, CPU) for every forward pass inside."""
    geo = head_geometry(model)
    handles = []

    def make(layer: int) -> Callable:
        def pre_hook(_mod: nn.Module, args: tuple) -> None:
            x = args[0].detach().float()  # (B, T, nh·hs)
            per_head = x.reshape(*x.shape[:-1], geo.heads, geo.head_dim).norm(dim=-1)  # (B, T, nh)
            sums[layer] += per_head.reshape(-1, geo.heads).sum(dim=0).double().cpu()

        return pre_hook

    for layer in range(geo.layers):
        handles.append(attn_out_module(model, layer).register_forward_pre_hook(make(layer)))
    try:
        yield
    finally:
        for h in handles:
            h.remove()


@torch.no_grad()
def baseline_pass(model: nn.Module, windows: list[torch.Tensor], batch_size: int) -> tuple[float, list[list[float]]]:
    """Mean NLL of the unablated model and the per-head mean output norm a[l][h] in one pass."""
    from .windows import batch_nll

    geo = head_geometry(model)
    sums = torch.zeros(geo.layers, geo.heads, dtype=torch.float64)
    device = model_device(model)
    total, scored, positions = 0.0, 0, 0
    with record_head_norms(model, sums):
        for ids in equal_length_batches(windows, batch_size):
            ids = ids.to(device)
            total += float(batch_nll(model, ids).double().sum())
            scored += ids.shape[0] * (ids.shape[1] - 1)
            positions += ids.numel()
    return total / scored, (sums / positions).tolist()


def specific_languages(delta: dict[str, float], rule: HeadRule) -> list[str]:
    """Languages L with Δ[L] ≥ max(floor, k · median of the other languages' Δ)."""
    if len(delta) < 2:
        raise ParameterError(f"language specificity needs at least 2 languages, got {sorted(delta)}")
    out = []
    for lang, d in delta.items():
        others = statistics.median(v for l2, v in delta.items() if l2 != lang)
        if d >= max(rule.floor, rule.k * others):
            out.append(lang)
    return out


def specificity_score(values: dict[str, float]) -> tuple[float, str]:
    """max_L (v[L] − median_{L'≠L} v[L']) and the L that attains it."""
    best, best_lang = -float("inf"), ""
    for lang, v in values.items():
        gap = v - statistics.median(x for l2, x in values.items() if l2 != lang)
        if gap > best:
            best, best_lang = gap, lang
    return best, best_lang


def normalise_per_head(act: dict[str, float]) -> dict[str, float]:
    mean = sum(act.values()) / len(act)
    return {lang: (v / mean if mean > 0 else 0.0) for lang, v in act.items()}


def _fingerprint(geo: HeadGeometry, rule: HeadRule, windows: dict[str, list[torch.Tensor]]) -> str:
    """What a checkpoint must match to be resumed: geometry, rule and the exact windows."""
    from .windows import windows_digest

    return f"v2|{geo.layers}x{geo.heads}x{geo.head_dim}|k={rule.k}|floor={rule.floor}|{windows_digest(windows)}"


def analyse_heads(
    model: nn.Module,
    windows: dict[str, list[torch.Tensor]],
    rule: HeadRule,
    ctx,
    batch_size: int = 8,
    checkpoint_every: int = 1,
    critical_layers: list[int] | None = None,
    boot=None,
) -> dict:
    """Ablate every head on every language's windows; classify heads; compare with activations;
    bootstrap the classification over the windows (analysis/heads_uncertainty.py, `boot`).

    Checkpoints after every `checkpoint_every` layers through `ctx.checkpoint`; a run started
    with `ctx.resume_state` from the same model, windows and rule continues after the last
    finished layer and returns the same result as an uninterrupted run.
    """
    from ..errors import CheckpointError, KernelStopped
    from .bootstrap import BootstrapConfig
    from .heads_uncertainty import head_uncertainty
    from .windows import scored_tokens, window_nlls

    if checkpoint_every < 1:
        raise ParameterError(f"checkpoint_every {checkpoint_every} must be at least 1")
    langs = list(windows)
    if len(langs) < 2:
        raise ParameterError(f"attention-heads needs at least 2 languages, got {langs}")
    geo = head_geometry(model)
    crit = None
    if critical_layers is not None:
        crit = sorted({structure.resolve_layer_index(i, geo.layers, "critical_layers") for i in critical_layers})
    key = _fingerprint(geo, rule, windows)

    state = ctx.resume_state
    if state is not None and state.get("key") != key:
        raise CheckpointError(
            f"attention-heads checkpoint was made for another model, corpus or rule (key {state.get('key')!r}, now {key!r})"
        )
    if state is None:
        act, base_w = {}, {}
        for lang in langs:
            _, act[lang] = baseline_pass(model, windows[lang], batch_size)
            base_w[lang] = window_nlls(model, windows[lang], batch_size)
        tokens = {lang: scored_tokens(windows[lang]) for lang in langs}
        base = {lang: math.fsum(base_w[lang]) / sum(tokens[lang]) for lang in langs}
        # nll[layer][head][lang]: per-window NLL sums with the head ablated (the bootstrap's input)
        state = {"key": key, "base_nll": base, "base_windows": base_w, "tokens": tokens, "activation": act, "delta": [], "nll": []}
        ctx.checkpoint(state)

    total = geo.layers * geo.heads * len(langs)
    for layer in range(len(state["delta"]), geo.layers):
        rows, nll_rows = [], []
        for head in range(geo.heads):
            row, nll_row = {}, {}
            with ablate_head(model, layer, head):
                for lang in langs:
                    nll_row[lang] = window_nlls(model, windows[lang], batch_size)
                    row[lang] = (math.fsum(nll_row[lang]) - math.fsum(state["base_windows"][lang])) / sum(state["tokens"][lang])
                    done = (layer * geo.heads + head) * len(langs) + langs.index(lang) + 1
                    ctx.progress(done, total, "ablations", f"layer {layer} head {head} {lang}")
            rows.append(row)
            nll_rows.append(nll_row)
        state["delta"].append(rows)
        state["nll"].append(nll_rows)
        if (layer + 1) % checkpoint_every == 0 or layer + 1 == geo.layers:
            ctx.checkpoint(state)
        if ctx.should_stop() and layer + 1 < geo.layers:
            ctx.checkpoint(state)
            raise KernelStopped(f"attention-heads stopped after layer {layer} of {geo.layers}")
    out = summarise(geo, langs, state, rule, crit)
    ablated = {lang: np.array([state["nll"][l][h][lang] for l in range(geo.layers) for h in range(geo.heads)]) for lang in langs}
    unc = head_uncertainty(
        geo.layers, geo.heads, langs, state["base_windows"], state["tokens"], ablated, rule.k, rule.floor,
        [h["specific_to"] for h in out["heads"]], crit, boot or BootstrapConfig(),
    )  # fmt: skip
    for head, extra in zip(out["heads"], unc.pop("heads")):
        head.update(extra)
    out["uncertainty"] = unc
    return out


def summarise(geo: HeadGeometry, langs: list[str], state: dict, rule: HeadRule, crit: list[int] | None) -> dict:
    """Turn Δ and activation tables into the kernel's outputs (pure; tested on hand-made tables)."""
    from scipy import stats

    heads, s_abl, s_act, same_top = [], [], [], 0
    per_layer = []
    per_language = {lang: 0 for lang in langs}
    for layer in range(geo.layers):
        n_spec = 0
        for head in range(geo.heads):
            delta = {lang: float(state["delta"][layer][head][lang]) for lang in langs}
            act = {lang: float(state["activation"][lang][layer][head]) for lang in langs}
            act_n = normalise_per_head(act)
            spec = specific_languages(delta, rule)
            abl_score, abl_lang = specificity_score(delta)
            act_score, act_lang = specificity_score(act_n)
            s_abl.append(abl_score)
            s_act.append(act_score)
            same_top += abl_lang == act_lang
            n_spec += bool(spec)
            for lang in spec:
                per_language[lang] += 1
            heads.append(
                {
                    "layer": layer,
                    "head": head,
                    "delta_nll": delta,
                    "specific_to": spec,
                    "ablation_specificity": abl_score,
                    "top_language": abl_lang,
                    "activation": act,
                    "activation_normalised": act_n,
                    "activation_specificity": act_score,
                    "activation_top_language": act_lang,
                }
            )
        per_layer.append({"layer": layer, "specific": n_spec, "heads": geo.heads, "share": n_spec / geo.heads})

    n_heads = geo.layers * geo.heads
    n_specific = sum(p["specific"] for p in per_layer)
    if len(set(s_abl)) > 1 and len(set(s_act)) > 1:
        rho = float(stats.spearmanr(s_abl, s_act)[0])
        spearman = {"rho": rho, "p": spearman_p(s_abl, s_act)[0]}  # permutation p (analysis/permutation.py)
    else:  # a constant score has no rank correlation
        spearman = {"rho": None, "p": None}

    critical = None
    if crit is not None:
        in_c = [p for p in per_layer if p["layer"] in crit]
        out_c = [p for p in per_layer if p["layer"] not in crit]
        a, b = sum(p["specific"] for p in in_c), sum(p["heads"] for p in in_c)
        c, d = sum(p["specific"] for p in out_c), sum(p["heads"] for p in out_c)
        share_in = a / b if b else None
        share_out = c / d if d else None
        if b and d:
            # One-sided Fisher exact test: are specific heads over-represented in critical layers?
            _, p_fisher = stats.fisher_exact([[a, b - a], [c, d - c]], alternative="greater")
            p_fisher = float(p_fisher)
        else:
            p_fisher = None
        critical = {
            "layers": crit,
            "share_in_critical": share_in,
            "share_elsewhere": share_out,
            "holds_more": (share_in is not None and share_out is not None and share_in > share_out),
            "fisher_p": p_fisher,
        }

    return {
        "languages": langs,
        "layers": geo.layers,
        "heads_per_layer": geo.heads,
        "rule": {"k": rule.k, "floor": rule.floor},
        "base_nll": {lang: float(state["base_nll"][lang]) for lang in langs},
        "heads": heads,
        "n_heads": n_heads,
        "n_specific": n_specific,
        "share_specific": n_specific / n_heads,
        "per_layer": per_layer,
        "per_language": per_language,
        "agreement": {"spearman": spearman, "top_language_match": same_top / n_heads},
        "critical_layers": critical,
    }
