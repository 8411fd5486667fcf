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

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ParameterError
from .permutation import spearman_p
from ..models import structure
from .bootstrap import BootstrapConfig
from .importance_uncertainty import draw_counts, importance_uncertainty, score
from .windows import model_device, windows_digest

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


def fisher_terms(model: nn.Module, windows: list[torch.Tensor]) -> dict:
    """x[n, ℓ] = Σ_{i∈θ_ℓ} (∂ℓ_n/∂θ_i)²: each window's term of the diagonal Fisher."""
    device = model_device(model)
    with _grad_mode(model) as groups:
        flat = [p for g in groups for p in g]
        x = np.zeros((len(windows), len(groups)))
        for n, w in enumerate(windows):
            grads = torch.autograd.grad(window_loss(model, w[None].to(device)), flat)
            k = 0
            for li, g in enumerate(groups):
                for _ in g:
                    x[n, li] += float(grads[k].double().pow(2).sum())
                    k += 1
    return {"x": x}


def diagonal_fisher(model: nn.Module, windows: list[torch.Tensor]) -> list[float]:
    """F_ℓ = Σ_{i∈θ_ℓ} mean_n (∂ℓ_n/∂θ_i)² for every block ℓ."""
    return fisher_terms(model, windows)["x"].mean(axis=0).tolist()


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
    return per_loss_hutchinson(loss_fns, groups, n_samples, seed).mean(axis=0).tolist()


def per_loss_hutchinson(
    loss_fns: list[Callable[[], torch.Tensor]], groups: list[list[torch.Tensor]], n_samples: int, seed: int
) -> np.ndarray:
    """(losses, n_samples, groups): v_jᵀ H_n v_j restricted to each group, for every loss n."""
    flat = [p for g in groups for p in g]
    out = np.zeros((len(loss_fns), n_samples, len(groups)))
    for n, fn in enumerate(loss_fns):
        grads = torch.autograd.grad(fn(), flat, create_graph=True)
        for j in range(n_samples):
            v = rademacher(flat, seed, j)
            gv = sum((g * vi).sum() for g, vi in zip(grads, v))
            Hv = torch.autograd.grad(gv, flat, retain_graph=True)
            k = 0
            for gi, g in enumerate(groups):
                for _ in g:
                    out[n, j, gi] += float((v[k].double() * Hv[k].double()).sum())
                    k += 1
    return out


def hessian_terms(model: nn.Module, windows: list[torch.Tensor], n_samples: int, seed: int) -> dict:
    """samples (N, m, L): v_jᵀ H_n v_j per window n, sample j and block; x (N, L) their mean over j."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    device = model_device(model)
    # Fused attention kernels (flash, memory-efficient; CPU and CUDA) have no double backward:
    # the math backend computes the same attention and supports Hessian-vector products.
    with _grad_mode(model) as groups, sdpa_kernel(SDPBackend.MATH):
        fns = [(lambda w=w: window_loss(model, w[None].to(device))) for w in windows]
        per = per_loss_hutchinson(fns, groups, n_samples, seed)
    return {"samples": per, "x": per.mean(axis=1)}


def trace_and_se(terms: dict) -> tuple[list[float], list[float]]:
    """Hutchinson tr(H_ℓ) (mean over windows and samples) and its standard error over the m samples."""
    samples = terms["samples"].mean(axis=0).tolist()  # (m, L): each sample's mean over the windows
    means, ses = [], []
    for li in range(terms["samples"].shape[2]):
        xs = [s[li] for s in samples]
        m = sum(xs) / len(xs)
        var = sum((x - m) ** 2 for x in xs) / (len(xs) - 1) if len(xs) > 1 else float("nan")
        means.append(m)
        ses.append(math.sqrt(var / len(xs)) if len(xs) > 1 else float("nan"))
    return means, ses


def hessian_trace(model: nn.Module, windows: list[torch.Tensor], n_samples: int, seed: int) -> tuple[list[float], list[float]]:
    """Hutchinson tr(H_ℓ) for every block, and its standard error over the m samples."""
    return trace_and_se(hessian_terms(model, windows, n_samples, seed))


def _hidden(t) -> torch.Tensor:
    return t[0] if isinstance(t, (tuple, list)) else t


@torch.no_grad()
def activation_terms(model: nn.Module, windows: list[torch.Tensor], batch_size: int) -> dict:
    """Per window n and block ℓ: s1/s2 (N, L, d) the sums of the block output and its square over
    the window's positions, cos (N, L) the summed cos(input, output), positions (N,)."""
    from .windows import batches_in_order

    n_layers = structure.num_layers(model)
    d = model.config.hidden_size
    N = len(windows)
    s1 = np.zeros((N, n_layers, d))
    s2 = np.zeros((N, n_layers, d))
    cos = np.zeros((N, n_layers))
    rows: list[int] = []  # the windows of the batch being run
    handles = []

    def make(layer: int):
        def hook(_mod, args, kwargs, output):
            x = args[0] if args else kwargs["hidden_states"]
            x, y = _hidden(x).double(), _hidden(output).double()  # (B, T, d)
            s1[rows, layer] = y.sum(1).cpu().numpy()
            s2[rows, layer] = (y * y).sum(1).cpu().numpy()
            cos[rows, layer] = F.cosine_similarity(x, y, dim=-1).sum(1).cpu().numpy()

        return hook

    for i, block in enumerate(structure.blocks(model)):
        handles.append(block.register_forward_hook(make(i), with_kwargs=True))
    device = model_device(model)
    try:
        for chunk, ids in batches_in_order(windows, batch_size):
            rows[:] = chunk
            model(input_ids=ids.to(device))
    finally:
        for h in handles:
            h.remove()
    return {"s1": s1, "s2": s2, "cos": cos, "positions": np.array([float(w.numel()) for w in windows])}


def activation_stats(model: nn.Module, windows: list[torch.Tensor], batch_size: int) -> tuple[list[float], list[float]]:
    """Per block: activation variance of its output and block influence 1 − mean cos(input, output)."""
    terms = activation_terms(model, windows, batch_size)
    ones = np.ones((1, len(windows)))
    return score("activation_variance", terms, ones)[0].tolist(), score("block_influence", terms, ones)[0].tolist()


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
def sensitivity_terms(
    model: nn.Module, windows: list[torch.Tensor], weights: dict[str, torch.Tensor], layer_names: list[list[str]], batch_size: int
) -> dict:
    """base (N,) per-window NLL sums, q (N, L) with only block ℓ's quantized weights swapped in
    (NaN for a block whose linears are all protected), tokens (N,)."""
    from ..quant.apply import apply_weights
    from .windows import scored_tokens, window_nlls

    q = np.full((len(windows), len(layer_names)), np.nan)
    for layer, names in enumerate(layer_names):
        if names:
            with apply_weights(model, weights, names):
                q[:, layer] = window_nlls(model, windows, batch_size)
    return {"base": np.array(window_nlls(model, windows, batch_size)), "q": q, "tokens": np.array(scored_tokens(windows), dtype=np.float64)}


def quant_sensitivity(
    model: nn.Module, windows: list[torch.Tensor], weights: dict[str, torch.Tensor], layer_names: list[list[str]], batch_size: int
) -> list[float | None]:
    """d_ℓ = exp(NLL with only block ℓ's quantized weights swapped in − NLL) − 1; None for a block with none."""
    return _listed(score("quant_sensitivity", sensitivity_terms(model, windows, weights, layer_names, batch_size), np.ones((1, len(windows))))[0])


def _listed(values: np.ndarray) -> list[float | None]:
    return [float(v) if np.isfinite(v) else None for v in values]


def analyse_importance(
    model: nn.Module,
    windows: dict[str, list[torch.Tensor]],
    cfg: ImportanceConfig,
    ctx,
    quantized: tuple[dict[str, torch.Tensor], list[list[str]]] | None = None,
    boot: BootstrapConfig | None = None,
    top_k: int = 3,
) -> dict:
    """Every criterion for every block and language, their Spearman correlations, and the
    bootstrap uncertainty of each ranking (analysis/importance_uncertainty.py).

    `quantized` is (weights, names per layer) from one quantization pass, needed for
    quant_sensitivity. Checkpoints after every (language, criterion); resumes from ctx.resume_state.
    """
    from ..errors import CheckpointError, KernelStopped

    n_layers = structure.num_layers(model)
    langs = list(windows)
    if "quant_sensitivity" in cfg.criteria and quantized is None:
        raise ParameterError("quant_sensitivity needs a quant config (the kernel's `quant`)")
    boot = boot or BootstrapConfig()
    key = f"v2|{n_layers}|{langs}|{cfg}|{boot.record()}|{windows_digest(windows)}"
    state = ctx.resume_state
    if state is not None and state.get("key") != key:
        raise CheckpointError(f"layer-importance checkpoint does not match this run (key {state.get('key')!r})")
    state = state or {"key": key, "scores": {lang: {} for lang in langs}, "extra": {lang: {} for lang in langs}, "replicates": {lang: {} for lang in langs}}
    steps = [(lang, c) for lang in langs for c in cfg.criteria]
    for done, (lang, crit) in enumerate(steps):
        if crit in state["scores"][lang]:
            continue
        if ctx.should_stop():
            ctx.checkpoint(state)
            raise KernelStopped(f"layer-importance stopped before {crit} on {lang}")
        ctx.progress(done, len(steps), "criteria", f"{crit} on {lang}")
        w = windows[lang]
        counts = draw_counts(boot, langs.index(lang), len(w))  # one draw per language, shared by its criteria
        ones = np.ones((1, len(w)))
        if crit == "fisher":
            computed = {crit: fisher_terms(model, w)}
        elif crit == "hessian_trace":
            computed = {crit: hessian_terms(model, w, cfg.hutchinson_samples, cfg.seed)}
            state["extra"][lang]["hessian_trace_se"] = trace_and_se(computed[crit])[1]
        elif crit in ("activation_variance", "block_influence"):
            terms = activation_terms(model, w, cfg.batch_size)  # one pass serves both
            computed = {c: terms for c in ("activation_variance", "block_influence") if c in cfg.criteria}
        elif crit == "quant_sensitivity":
            weights, names = quantized
            computed = {crit: sensitivity_terms(model, w, weights, names, cfg.batch_size)}
        for c, terms in computed.items():
            state["scores"][lang][c] = _listed(score(c, terms, ones)[0])
            state["replicates"][lang][c] = score(c, terms, counts).tolist()
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
        "uncertainty": importance_uncertainty(
            langs, list(cfg.criteria), state["scores"],
            {lang: {c: np.asarray(state["replicates"][lang][c], dtype=np.float64) for c in cfg.criteria} for lang in langs},
            mean, top_k, boot,
        ),  # fmt: skip
    }
