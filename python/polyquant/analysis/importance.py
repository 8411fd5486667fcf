"""Layer importance criteria, per block ℓ and per calibration language (PRO-003).

θ_ℓ are the weights of block ℓ's linears (`structure.block_linears`); ℓ_n is the mean
next-token NLL of window n (nats per scored token); N windows per language.

- Diagonal Fisher (empirical): F_ℓ = Σ_{i∈θ_ℓ} (1/N) Σ_n (∂ℓ_n/∂θ_i)², the trace of the diagonal
  Fisher restricted to the block (one backward pass per window).
- Hessian trace (Hutchinson): with H the Hessian of the mean loss (1/N) Σ_n ℓ_n and Rademacher
  vectors v_j (entries ±1, drawn from a CPU generator seeded with seed·1_000_003 + j, so CPU and
  CUDA runs draw the same v), tr(H_ℓ) ≈ (1/m) Σ_j Σ_{i∈θ_ℓ} v_{j,i} (H v_j)_i. One Hessian-vector
  product (double backward) per window and sample serves every block at once, since
  E[v vᵀ] = I makes the block-restricted sum an unbiased estimate of the block's trace.
- Activation variance: for block output h_ℓ ∈ R^{tokens×d}, mean over the d dimensions of the
  per-dimension variance over all tokens of the language (population variance, float64).
- Block influence (ShortGPT): BI_ℓ = 1 − mean over tokens of cos(x_t, y_t), x the block's input
  hidden state and y its output. An identity block has BI = 0.
- Quantization sensitivity: d_ℓ = exp(NLL_q − NLL) − 1 = PPL_q/PPL − 1 when only block ℓ's linears
  are quantized (the quant config's method, e.g. RTN, through polyquant.quant; one quantization
  pass, then apply → measure → restore per layer).

Correlations: Spearman ρ (scipy.stats.spearmanr; two-sided permutation p, `analysis/permutation.py`) between every pair of criteria
across layers, per language; a constant criterion has no rank correlation and gives null.
"""

from __future__ import annotations

import contextlib
import itertools
import math
from dataclasses import dataclass
from typing import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ParameterError
from .permutation import spearman_p
from ..models import structure
from .windows import equal_length_batches, model_device, windows_digest
from .degradation import degradation

CRITERIA = ("fisher", "hessian_trace", "activation_variance", "block_influence", "quant_sensitivity")
SEED_STRIDE = 1_000_003  # v_j is drawn from a generator seeded with seed·SEED_STRIDE + j


@dataclass
class ImportanceConfig:
    criteria: tuple[str, ...] = CRITERIA  # which criteria to compute
    hutchinson_samples: int = 16  # m Rademacher vectors per language
    seed: int = 0  # seeds the Rademacher vectors
    batch_size: int = 8  # windows per forward pass (activation statistics, sensitivity)

    def __post_init__(self) -> None:
        unknown = [c for c in self.criteria if c not in CRITERIA]
        if unknown:
            raise ParameterError(f"unknown criteria {unknown}; known: {', '.join(CRITERIA)}")
        if not self.criteria:
            raise ParameterError("criteria is empty: name at least one of " + ", ".join(CRITERIA))
        if self.hutchinson_samples < 1:
            raise ParameterError(f"hutchinson_samples {self.hutchinson_samples} must be at least 1")
        if self.batch_size < 1:
            raise ParameterError(f"batch_size {self.batch_size} must be at least 1")


def layer_params(model: nn.Module) -> list[list[nn.Parameter]]:
    """θ_ℓ for every block: the weights of its linears (biases excluded)."""
    return [[m.weight for m in structure.block_linears(model, i).values()] for i in range(structure.num_layers(model))]


def window_loss(model: nn.Module, ids: torch.Tensor) -> torch.Tensor:
    """ℓ_n: mean next-token NLL of one (1, T) window, with gradient."""
    logits = model(input_ids=ids).logits
    return F.cross_entropy(logits[0, :-1].float(), ids[0, 1:])


def _grad_mode(model: nn.Module):
    """Gradients wrt the block weights only; everything else frozen for the duration."""

    @contextlib.contextmanager
    def ctx() -> Iterator[list[list[nn.Parameter]]]:
        groups = layer_params(model)
        wanted = {id(p) for g in groups for p in g}
        saved = [(p, p.requires_grad) for p in model.parameters()]
        try:
            for p, _ in saved:
                p.requires_grad_(id(p) in wanted)
            with torch.enable_grad():
                yield groups
        finally:
            for p, flag in saved:
                p.requires_grad_(flag)

    return ctx()


def diagonal_fisher(model: nn.Module, windows: list[torch.Tensor]) -> list[float]:
    """F_ℓ = Σ_{i∈θ_ℓ} mean_n (∂ℓ_n/∂θ_i)² for every block ℓ."""
    device = model_device(model)
    with _grad_mode(model) as groups:
        flat = [p for g in groups for p in g]
        sums = [0.0] * len(groups)
        for w in windows:
            grads = torch.autograd.grad(window_loss(model, w[None].to(device)), flat)
            k = 0
            for li, g in enumerate(groups):
                for _ in g:
                    sums[li] += float(grads[k].double().pow(2).sum())
                    k += 1
    return [s / len(windows) for s in sums]


def rademacher(params: list[torch.Tensor], seed: int, j: int) -> list[torch.Tensor]:
    """v_j: ±1 entries shaped like `params`, from a CPU generator (device-independent draws)."""
    g = torch.Generator().manual_seed(seed * SEED_STRIDE + j)
    return [
        (torch.randint(0, 2, p.shape, generator=g, dtype=torch.int8).to(p.dtype) * 2 - 1).to(p.device) for p in params
    ]


def hutchinson_samples(
    loss_fns: list[Callable[[], torch.Tensor]], groups: list[list[torch.Tensor]], n_samples: int, seed: int
) -> list[list[float]]:
    """vᵀ_j (H v_j) restricted to each group, for j < n_samples: samples[j][group].

    H is the Hessian of the mean of the losses, so each sample is the mean over loss functions of
    v_jᵀ H_n v_j; the graph of each loss's gradient is built once and reused for every v_j.
    """
    flat = [p for g in groups for p in g]
    out = [[0.0] * len(groups) for _ in range(n_samples)]
    for fn in loss_fns:
        grads = torch.autograd.grad(fn(), flat, create_graph=True)
        for j in range(n_samples):
            v = rademacher(flat, seed, j)
            gv = sum((g * vi).sum() for g, vi in zip(grads, v))
            Hv = torch.autograd.grad(gv, flat, retain_graph=True)
            k = 0
            for gi, g in enumerate(groups):
                for _ in g:
                    out[j][gi] += float((v[k].double() * Hv[k].double()).sum()) / len(loss_fns)
                    k += 1
    return out


def hessian_trace(model: nn.Module, windows: list[torch.Tensor], n_samples: int, seed: int) -> tuple[list[float], list[float]]:
    """Hutchinson tr(H_ℓ) for every block, and its standard error over the m samples."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    device = model_device(model)
    # Fused attention kernels (flash, memory-efficient; CPU and CUDA) have no double backward:
    # the math backend computes the same attention and supports Hessian-vector products.
    with _grad_mode(model) as groups, sdpa_kernel(SDPBackend.MATH):
        fns = [(lambda w=w: window_loss(model, w[None].to(device))) for w in windows]
        samples = hutchinson_samples(fns, groups, n_samples, seed)
    means, ses = [], []
    for li in range(len(groups)):
        xs = [s[li] for s in samples]
        m = sum(xs) / len(xs)
        var = sum((x - m) ** 2 for x in xs) / (len(xs) - 1) if len(xs) > 1 else float("nan")
        means.append(m)
        ses.append(math.sqrt(var / len(xs)) if len(xs) > 1 else float("nan"))
    return means, ses


def _hidden(t) -> torch.Tensor:
    return t[0] if isinstance(t, (tuple, list)) else t


@torch.no_grad()
def activation_stats(model: nn.Module, windows: list[torch.Tensor], batch_size: int) -> tuple[list[float], list[float]]:
    """Per block: activation variance of its output and block influence 1 − mean cos(input, output)."""
    n_layers = structure.num_layers(model)
    d = model.config.hidden_size
    s1 = torch.zeros(n_layers, d, dtype=torch.float64)
    s2 = torch.zeros(n_layers, d, dtype=torch.float64)
    cos_sum = torch.zeros(n_layers, dtype=torch.float64)
    count = 0
    handles = []

    def make(layer: int):
        def hook(_mod, args, kwargs, output):
            x = args[0] if args else kwargs["hidden_states"]
            y = _hidden(output)
            x, y = _hidden(x).double().reshape(-1, d), y.double().reshape(-1, d)
            s1[layer] += y.sum(0).cpu()
            s2[layer] += (y * y).sum(0).cpu()
            cos_sum[layer] += F.cosine_similarity(x, y, dim=-1).sum().cpu()

        return hook

    for i, block in enumerate(structure.blocks(model)):
        handles.append(block.register_forward_hook(make(i), with_kwargs=True))
    device = model_device(model)
    try:
        for ids in equal_length_batches(windows, batch_size):
            model(input_ids=ids.to(device))
            count += ids.numel()
    finally:
        for h in handles:
            h.remove()
    mean = s1 / count
    var = (s2 / count - mean * mean).clamp_min(0).mean(dim=1)
    return var.tolist(), (1 - cos_sum / count).tolist()


def spearman_matrix(scores: dict[str, list[float]]) -> list[dict]:
    """Spearman ρ and p for every pair of criteria across layers (null when undefined)."""
    from scipy import stats

    out = []
    for a, b in itertools.combinations(scores, 2):
        x, y = scores[a], scores[b]
        ok = [i for i in range(len(x)) if x[i] is not None and y[i] is not None and math.isfinite(x[i]) and math.isfinite(y[i])]
        xs, ys = [x[i] for i in ok], [y[i] for i in ok]
        if len(ok) >= 3 and len(set(xs)) > 1 and len(set(ys)) > 1:
            rho = float(stats.spearmanr(xs, ys)[0])
            p, _ = spearman_p(xs, ys)  # exact over the n! pairings of few layers, where the t-test reads 0 at ρ = 1
            out.append({"a": a, "b": b, "rho": rho, "p": p, "n": len(ok)})
        else:
            out.append({"a": a, "b": b, "rho": None, "p": None, "n": len(ok)})
    return out


@torch.no_grad()
def quant_sensitivity(
    model: nn.Module, windows: list[torch.Tensor], weights: dict[str, torch.Tensor], layer_names: list[list[str]], batch_size: int
) -> list[float | None]:
    """d_ℓ = exp(NLL with only block ℓ's quantized weights swapped in − NLL) − 1; None for a block with none."""
    from ..quant.apply import apply_weights
    from .windows import mean_nll

    base = mean_nll(model, windows, batch_size)
    out: list[float | None] = []
    for names in layer_names:
        if not names:
            out.append(None)  # every linear of this block is protected
            continue
        with apply_weights(model, weights, names):
            q = mean_nll(model, windows, batch_size)
        out.append(degradation(base, q, 1.0))  # mean NLLs: per token already
    return out


def analyse_importance(
    model: nn.Module,
    windows: dict[str, list[torch.Tensor]],
    cfg: ImportanceConfig,
    ctx,
    quantized: tuple[dict[str, torch.Tensor], list[list[str]]] | None = None,
) -> dict:
    """Every criterion for every block and language, then their Spearman correlations.

    `quantized` is (weights, names per layer) from one quantization pass, needed for
    quant_sensitivity. Checkpoints after every (language, criterion); resumes from ctx.resume_state.
    """
    from ..errors import CheckpointError, KernelStopped

    n_layers = structure.num_layers(model)
    langs = list(windows)
    if "quant_sensitivity" in cfg.criteria and quantized is None:
        raise ParameterError("quant_sensitivity needs a quant config (the kernel's `quant`)")
    key = f"{n_layers}|{langs}|{cfg}|{windows_digest(windows)}"
    state = ctx.resume_state
    if state is not None and state.get("key") != key:
        raise CheckpointError(f"layer-importance checkpoint does not match this run (key {state.get('key')!r})")
    state = state or {"key": key, "scores": {lang: {} for lang in langs}, "extra": {lang: {} for lang in langs}}
    steps = [(lang, c) for lang in langs for c in cfg.criteria]
    for done, (lang, crit) in enumerate(steps):
        if crit in state["scores"][lang]:
            continue
        if ctx.should_stop():
            ctx.checkpoint(state)
            raise KernelStopped(f"layer-importance stopped before {crit} on {lang}")
        ctx.progress(done, len(steps), "criteria", f"{crit} on {lang}")
        w = windows[lang]
        if crit == "fisher":
            state["scores"][lang][crit] = diagonal_fisher(model, w)
        elif crit == "hessian_trace":
            tr, se = hessian_trace(model, w, cfg.hutchinson_samples, cfg.seed)
            state["scores"][lang][crit] = tr
            state["extra"][lang]["hessian_trace_se"] = se
        elif crit in ("activation_variance", "block_influence"):
            var, bi = activation_stats(model, w, cfg.batch_size)
            state["scores"][lang]["activation_variance"] = var if "activation_variance" in cfg.criteria else None
            state["scores"][lang]["block_influence"] = bi if "block_influence" in cfg.criteria else None
            for c in ("activation_variance", "block_influence"):
                if state["scores"][lang][c] is None:
                    del state["scores"][lang][c]
        elif crit == "quant_sensitivity":
            weights, names = quantized
            state["scores"][lang][crit] = quant_sensitivity(model, w, weights, names, cfg.batch_size)
        ctx.checkpoint(state)
    ctx.progress(len(steps), len(steps), "criteria", "done")

    per_language = {}
    for lang in langs:
        scores = {c: state["scores"][lang][c] for c in cfg.criteria}
        per_language[lang] = {
            "layers": [
                {"layer": i, **{c: scores[c][i] for c in cfg.criteria}} for i in range(n_layers)
            ],
            "hessian_trace_se": state["extra"][lang].get("hessian_trace_se"),
            "correlations": spearman_matrix(scores),
        }
    # Mean over languages of each criterion, and the layer ranking by each (most important first).
    mean = {
        c: [
            (sum(v) / len(v)) if (v := [state["scores"][lang][c][i] for lang in langs if state["scores"][lang][c][i] is not None]) else None
            for i in range(n_layers)
        ]
        for c in cfg.criteria
    }
    ranking = {
        c: sorted((i for i in range(n_layers) if mean[c][i] is not None), key=lambda i: -mean[c][i]) for c in cfg.criteria
    }
    return {
        "languages": langs,
        "layers": n_layers,
        "criteria": list(cfg.criteria),
        "hutchinson_samples": cfg.hutchinson_samples,
        "seed": cfg.seed,
        "per_language": per_language,
        "mean": {"layers": [{"layer": i, **{c: mean[c][i] for c in cfg.criteria}} for i in range(n_layers)], "correlations": spearman_matrix(mean)},
        "ranking": ranking,
    }
