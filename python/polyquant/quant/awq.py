"""AWQ (Lin et al., 2023): activation-aware weight quantization by per-input-channel scaling.

Weights that meet large activations matter more. For linears that read the same input x (a scale
group, derived in awq_groups.py) AWQ scales input channel c of their weights by s_c and divides the
preceding op's output by s_c, which leaves the full-precision function unchanged:
    y = W x = (W diag(s)) (diag(s)⁻¹ x)
but rounds the important channels on a finer relative grid. The paper's search space is
    s = x_mean^α ,  α ∈ [0, 1]   (x_mean: mean |x| per input channel on the calibration set)
normalised by sqrt(max(s) · min(s)); the α that minimises the block's output MSE with the group's
linears fake-quantized, Q(W diag(s)) diag(s)⁻¹, wins. α = 0 is s = 1, i.e. plain RTN, so the
search never does worse than RTN on its own calibration loss. An optional clipping search then
shrinks each group's weight range, max|w| → (1 − i/clip_grid) · max|w|, i < clip_grid / 2,
minimising the group's output error on sampled calibration tokens.

Follows mit-han-lab/llm-awq `awq/quantize/auto_scale.py` (`_search_module_scale`, `apply_scale`,
`scale_ln_fcs`, `scale_fc_fc`) and `auto_clip.py` (`auto_clip_layer`, max_shrink 0.5, 512 tokens,
q/k projections not clipped). As there, α runs over {k / grid : k = 0 … grid − 1} (`alpha_grid:
llm-awq`; `linspace` is linspace(0, 1, grid), both ends included) and each group is scored on the
output of the module it feeds (`loss: module`): llm-awq's `module2inspect`, here derived for any
architecture as the innermost module holding all of the group's linears (self_attn for q/k/v, mlp
for gate/up, the linear itself for o_proj and down_proj), run on the inputs it received in the
full-precision block; `loss: block` scores the whole block's output instead. The scale groups are
derived from the model and verified (awq_groups.py) instead of listed per architecture. Every fold is
checked again after the search, on the block and on the logits. Search returns data
(`AwqResults`); `apply_awq(model, results)` applies it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Optional

import torch
from torch import nn

from ..context import KernelContext
from ..errors import KernelStopped, ModelError, ParameterError
from ..models import structure
from .apply import WeightSnapshot, apply_weights
from .awq_groups import ScaleGroup, derive_block_groups, fold_changes_output, fold_weights, relative_change, tolerance
from .calibration import BlockCalls, calibration_for, capture_block_inputs, run_block
from .coded import CodeArena, CodedWeight
from .grid import QuantizedWeight, effective_group_size, quantize_weight
from .result import QuantResult
from .rtn import relative_error

log = logging.getLogger(__name__)

CLIP_TOKENS = 512  # calibration tokens sampled per linear for the clip search (llm-awq n_sample_token)
CLIP_MAX_SHRINK = 0.5  # the clip search tries shrink factors down to 1 − max_shrink (llm-awq)
OUT_CHUNK = 256  # output rows per step of the clip search (memory only)


@dataclass
class AwqConfig:
    """`quant.awq` of a workflow (src/kernels/common.ts AwqOptions)."""

    grid: int = 20  # α values tried: k / grid for k < grid (llm-awq), or linspace(0, 1, grid)
    alpha_grid: str = "llm-awq"  # "llm-awq": {k / grid}; "linspace": both ends included
    loss: str = "module"  # "module": the output of the module the group feeds (llm-awq); "block": the block's
    clip: bool = True  # search a clipping ratio per output row and group after scaling
    clip_grid: int = 20  # shrink steps of 1 / clip_grid; steps up to CLIP_MAX_SHRINK are tried
    batch_size: int = 8  # calibration sequences per forward pass (memory only)

    @classmethod
    def from_quant(cls, quant: dict) -> "AwqConfig":
        opts = dict(quant.get("awq") or {})
        unknown = set(opts) - set(cls.__dataclass_fields__)
        if unknown:
            raise ParameterError(f"quant.awq has unknown option(s) {sorted(unknown)}")
        cfg = cls(**opts)
        if cfg.grid < 2 or cfg.clip_grid < 2:
            raise ParameterError(f"quant.awq grid {cfg.grid} and clip_grid {cfg.clip_grid} must be at least 2")
        if cfg.alpha_grid not in ("llm-awq", "linspace") or cfg.loss not in ("module", "block"):
            raise ParameterError(f"quant.awq alpha_grid {cfg.alpha_grid!r} (llm-awq or linspace) or loss {cfg.loss!r} (module or block) is unknown")
        return cfg


@dataclass
class AwqScale:
    """One scale group's result: fold 1/s into `prev`, multiply the columns of `linears` by s."""

    prev: str  # full module name of the norm or linear before the group
    linears: tuple[str, ...]  # full module names of the linears that read the scaled input
    s: torch.Tensor  # (in_features,) float32, CPU
    alpha: float  # the winning exponent
    loss: float  # block output MSE at the winning α
    loss_rtn: float  # block output MSE at α = 0 (s = 1: plain RTN)
    fold: str = "divide"  # how a norm prev absorbs 1/s (awq_groups.FOLDS)

    @property
    def group(self) -> ScaleGroup:
        return ScaleGroup(self.prev, self.linears, self.fold)


@dataclass
class AwqResults:
    """What the AWQ search found: data that can be stored, cached and re-applied."""

    scales: list[AwqScale] = field(default_factory=list)
    clips: dict[str, torch.Tensor] = field(default_factory=dict)  # linear name → max |w| (out, n_groups), CPU
    skipped: list[str] = field(default_factory=list)  # scale groups not searched, with the reason
    # linear name → the grid its scaled and clipped weight was put on (codes, scales, zeros, CPU):
    # what an export packs, so that the checkpoint is exactly the model that was evaluated
    grids: dict[str, QuantizedWeight] = field(default_factory=dict)

    def describe(self) -> dict:
        return {
            "scales": [
                {"prev": a.prev, "linears": list(a.linears), "fold": a.fold, "alpha": a.alpha, "loss": a.loss, "loss_rtn": a.loss_rtn}
                for a in self.scales
            ],
            "clipped": sorted(self.clips),
            "skipped": self.skipped,
        }


# --- single matrices ----------------------------------------------------------------------------


def _fake_quant(W: torch.Tensor, bits: int, group_size: int, sym: bool, module: str = "") -> torch.Tensor:
    return quantize_weight(W, bits, group_size, sym, module).dequantize(W.dtype)


def scales_for(x_mean: torch.Tensor, alpha: float) -> torch.Tensor:
    """s = x_mean^α, clamped ≥ 1e-4 and normalised by sqrt(max(s) · min(s)) (llm-awq)."""
    s = x_mean.float().pow(alpha).clamp(min=1e-4)
    return s / (s.max() * s.min()).sqrt()


def alphas(grid: int, kind: str = "llm-awq") -> list[float]:
    """llm-awq's `ratio * 1 / n_grid` for ratio in range(n_grid), or linspace(0, 1, grid)."""
    return [k / grid for k in range(grid)] if kind == "llm-awq" else torch.linspace(0, 1, grid).tolist()


def alpha_search(x_mean: torch.Tensor, grid: int, loss_of, kind: str = "llm-awq") -> tuple[float, torch.Tensor, float, float]:
    """The one α search (production and tests): s = scales_for(x_mean, α) for α in `alphas(grid, kind)`,
    scored by `loss_of(s)`; returns (α, s, loss, loss at α = 0, i.e. plain RTN). The first minimum wins."""
    best: Optional[tuple[float, torch.Tensor, float]] = None
    loss_rtn = float("nan")
    for alpha in alphas(grid, kind):
        s = scales_for(x_mean, alpha)
        loss = float(loss_of(s))
        if alpha == 0.0:
            loss_rtn = loss
        if best is None or loss < best[2]:
            best = (alpha, s, loss)
    assert best is not None
    return best[0], best[1], best[2], loss_rtn


@torch.no_grad()
def awq_search_layer(
    W: torch.Tensor, X: torch.Tensor, bits: int, group_size: int = -1, sym: bool = False, grid: int = 20, alpha_grid: str = "llm-awq"
) -> tuple[torch.Tensor, float]:
    """The scale search for one linear with inputs X (tokens × in): (s, α) minimising ‖XWᵀ − X Q(W s)/s ᵀ‖²."""
    ref = X @ W.t()

    def loss_of(s: torch.Tensor) -> float:
        s = s.to(W.dtype)
        return float((X @ (_fake_quant(W * s, bits, group_size, sym) / s).t() - ref).pow(2).mean())

    alpha, s, _, _ = alpha_search(X.abs().mean(0), grid, loss_of, alpha_grid)
    return s.to(W.dtype), alpha


@torch.no_grad()
def clip_search(W: torch.Tensor, X: torch.Tensor, bits: int, group_size: int, sym: bool, clip_grid: int = 20) -> torch.Tensor:
    """Per (output row, group) clipping bound max |w| minimising that group's output error on X (tokens × in).

    Returns max_val (out, n_groups). llm-awq `auto_clip_layer`, chunked over output rows.
    """
    out_f, in_f = W.shape
    g = effective_group_size(in_f, group_size)
    n_groups = in_f // g
    x = X.float().reshape(-1, n_groups, g)  # (T, G, g)
    best_val = torch.empty(out_f, n_groups)
    for r0 in range(0, out_f, OUT_CHUNK):
        w = W[r0 : r0 + OUT_CHUNK].float()  # (o, in)
        wg = w.reshape(-1, n_groups, g)
        org_out = torch.einsum("tgk,ogk->tog", x, wg)  # each group's share of each output
        org_max = wg.abs().amax(dim=-1)  # (o, G)
        best_err = torch.full_like(org_max, float("inf"))
        best = org_max.clone()
        for i in range(int(CLIP_MAX_SHRINK * clip_grid)):
            max_val = org_max * (1 - i / clip_grid)
            cur = torch.maximum(torch.minimum(wg, max_val[..., None]), -max_val[..., None])
            q = _fake_quant(cur.reshape(w.shape), bits, group_size, sym).reshape(wg.shape)
            err = (torch.einsum("tgk,ogk->tog", x, q) - org_out).pow(2).mean(dim=0)  # (o, G)
            better = err < best_err
            best_err = torch.where(better, err, best_err)
            best = torch.where(better, max_val, best)
        best_val[r0 : r0 + OUT_CHUNK] = best
    return best_val


def clip_weight(W: torch.Tensor, max_val: torch.Tensor) -> torch.Tensor:
    """W (out × in) clamped to ±max_val per (row, group); max_val (out, n_groups)."""
    out_f, in_f = W.shape
    n_groups = max_val.shape[1]
    mv = max_val.to(device=W.device, dtype=W.dtype)[..., None]
    wg = W.reshape(out_f, n_groups, in_f // n_groups)
    return torch.maximum(torch.minimum(wg, mv), -mv).reshape(out_f, in_f)


@torch.no_grad()
def awq_quantize(
    W: torch.Tensor, X: torch.Tensor, bits: int, group_size: int = -1, sym: bool = False, grid: int = 20, clip: bool = True, clip_grid: int = 20
) -> tuple[torch.Tensor, torch.Tensor]:
    """AWQ on one linear: (Ŵ, s) with Ŵ = Q(clip(W s)) / s, the weight as seen by the unscaled input X."""
    s, _ = awq_search_layer(W, X, bits, group_size, sym, grid)
    Ws = W * s
    if clip:
        Ws = clip_weight(Ws, clip_search(Ws, X / s, bits, group_size, sym, clip_grid))
    return _fake_quant(Ws, bits, group_size, sym) / s, s


# --- folding scales into a model ----------------------------------------------------------------


@torch.no_grad()
def awq_weights(model: nn.Module, results: AwqResults) -> dict[str, torch.Tensor]:
    """The new value of every parameter AWQ changes (scales folded, then clipping), by parameter name.

    Pure: the model is not modified. Values are in each parameter's own layout, dtype and device.
    """
    new = fold_weights(model, [(a.group, a.s) for a in results.scales])
    params = dict(model.named_parameters(remove_duplicate=False))
    for lin, max_val in results.clips.items():
        name = f"{lin}.weight"
        if name not in new:
            new[name] = params[name].detach().clone()
        w = new[name].t() if structure.is_conv1d(structure.module(model, lin)) else new[name]
        w.copy_(clip_weight(w, max_val))
    return new


def apply_awq(model: nn.Module, results: AwqResults) -> WeightSnapshot:
    """Fold the scales and apply the clips in place; `snapshot.restore()` undoes it bit-exactly."""
    return apply_weights(model, awq_weights(model, results))


# --- the search over a model ----------------------------------------------------------------------


class _InputStats:
    """Mean |x| per input channel, and a strided sample of tokens, of what enters a module."""

    def __init__(self, keep_tokens: int = 0):
        self.sum: Optional[torch.Tensor] = None
        self.count = 0
        self.keep = keep_tokens
        self.tokens: list[torch.Tensor] = []

    def __call__(self, _mod: nn.Module, args: tuple, _out: Any) -> None:
        x = args[0].detach().reshape(-1, args[0].shape[-1]).float()
        s = x.abs().sum(0)
        self.sum = s if self.sum is None else self.sum + s
        self.count += x.shape[0]
        if self.keep:
            self.tokens.append(x.cpu())

    def mean(self) -> torch.Tensor:
        return self.sum / self.count

    def sample(self) -> torch.Tensor:
        x = torch.cat(self.tokens)
        step = max(1, x.shape[0] // self.keep)
        return x[::step][: self.keep]


def _block_loss(block: nn.Module, inputs: list, ref: list[torch.Tensor]) -> float:
    num, den = 0.0, 0
    for out, r in zip(run_block(block, inputs), ref):
        num += float((out.float() - r.float()).pow(2).sum())
        den += r.numel()
    return num / den


def inspected_module(group: ScaleGroup) -> str:
    """llm-awq's `module2inspect`, for any architecture: the innermost module holding every linear of
    the group (model.layers.3.self_attn for q/k/v, …mlp for gate/up), the linear itself when alone."""
    if len(group.linears) == 1:
        return group.linears[0]
    parts = [n.split(".") for n in group.linears]
    common = []
    for segs in zip(*parts):
        if len(set(segs)) != 1:
            break
        common.append(segs[0])
    return ".".join(common)


def _first(out: Any) -> torch.Tensor:
    return out[0] if isinstance(out, tuple) else out


class _Calls:
    """A module's calls during a block run: (args, kwargs, output), for re-running it on its own."""

    def __init__(self, module: nn.Module):
        self.module, self.calls, self._pending = module, [], None

    def pre(self, _mod, args, kwargs):
        self._pending = (tuple(a.detach() if torch.is_tensor(a) else a for a in args), dict(kwargs))

    def post(self, _mod, _args, _kwargs, out):
        args, kwargs = self._pending
        self.calls.append((args, kwargs, _first(out).detach()))

    def loss(self) -> float:
        """MSE of the module's output now against what it gave in full precision (llm-awq's loss)."""
        num, den = 0.0, 0
        for args, kwargs, ref in self.calls:
            out = _first(self.module(*args, **kwargs))
            num += float((out.float() - ref.float()).pow(2).sum())
            den += ref.numel()
        return num / den


def _record_calls(model: nn.Module, block: nn.Module, inputs: list, names: list[str]) -> dict[str, _Calls]:
    recorders = {n: _Calls(structure.module(model, n) if n else block) for n in names}
    hooks = []
    for r in recorders.values():
        hooks.append(r.module.register_forward_pre_hook(r.pre, with_kwargs=True))
        hooks.append(r.module.register_forward_hook(r.post, with_kwargs=True))
    try:
        run_block(block, inputs)
    finally:
        for h in hooks:
            h.remove()
    return recorders


@torch.no_grad()
def _search_group(model, block, inputs, ref, group: ScaleGroup, targets_by_name, x_mean, cfg, inspect: Optional[_Calls] = None) -> AwqScale:
    """Try every α for one scale group: fake-quantize the group's target linears as Q(W s)/s, score the
    inspected module's output (`inspect`, llm-awq) or the block's."""
    mods = {n: structure.module(model, n) for n in group.linears}
    originals = {n: structure.weight_of(model, m).detach().clone() for n, m in mods.items()}

    def loss_of(s: torch.Tensor) -> float:
        for n, m in mods.items():
            t = targets_by_name.get(n)
            if t is None:
                continue  # a protected linear of the group stays in full precision
            W = originals[n].float()
            sd = s.to(W.device)
            structure.set_weight_of(model, m, _fake_quant(W * sd, t.bits, t.group_size, t.sym, n) / sd)
        return inspect.loss() if inspect is not None else _block_loss(block, inputs, ref)

    try:
        alpha, s, loss, loss_rtn = alpha_search(x_mean, cfg.grid, loss_of, cfg.alpha_grid)
    finally:
        for n, m in mods.items():
            structure.set_weight_of(model, m, originals[n])
    return AwqScale(group.prev, tuple(mods), s.cpu(), alpha, loss, loss_rtn, group.fold)


@torch.no_grad()
def search_awq(model: nn.Module, calls: BlockCalls, targets: list[Any], cfg: AwqConfig, ctx: Optional[KernelContext] = None) -> AwqResults:
    """Scale (and clip) search for every block with targets, on the recorded block calls.

    The model is unchanged afterwards. Block k's inputs are the full-precision outputs of block k−1
    (scaling preserves them exactly), as in llm-awq. Each block's scale groups are derived and
    verified first (awq_groups); after the search the block's found scales are folded without
    quantization and must leave its output unchanged, else the offending groups are dropped.
    """
    blocks = structure.blocks(model)
    by_name = {t.name: t for t in targets if t.kind == "linear"}
    layers = sorted({t.layer for t in by_name.values()})
    results = AwqResults()
    hidden = calls.hidden
    for layer in range(max(layers) + 1 if layers else 0):
        if ctx is not None and ctx.should_stop():
            raise KernelStopped(f"AWQ stopped before block {layer} of {len(blocks)}")
        block = blocks[layer]
        inputs = calls.inputs(layer, hidden)
        ref = run_block(block, inputs)
        if layer in layers:
            derived = derive_block_groups(model, layer, inputs[0])
            results.skipped.extend(derived.rejected)
            groups = [g for g in derived.groups if any(n in by_name for n in g.linears)]
            stats = {g.linears[0]: _InputStats() for g in groups}
            hooks = [structure.module(model, n).register_forward_hook(st) for n, st in stats.items()]
            try:
                run_block(block, inputs)
            finally:
                for h in hooks:
                    h.remove()
            inspect: dict[str, _Calls] = {}
            if cfg.loss == "module":  # what each group's inspected module received in the full-precision block
                block_name = structure.block_prefix(model, layer)
                names = sorted({inspected_module(g) for g in groups})
                inspect = _record_calls(model, block, inputs, [n if n != block_name else "" for n in names])
                inspect = {n: inspect[n if n != block_name else ""] for n in names}
            found = [
                _search_group(model, block, inputs, ref, g, by_name, stats[g.linears[0]].mean(), cfg, inspect.get(inspected_module(g)))
                for g in groups
            ]
            found = _verified(model, block, inputs[0], ref[0], found, results.skipped)
            results.scales.extend(found)
            if cfg.clip:
                block_targets = [t for n, t in by_name.items() if t.layer == layer and n not in derived.no_clip]
                snap = apply_awq(model, AwqResults(scales=found))  # clip on the scaled weights and inputs
                try:
                    samplers = {t.name: _InputStats(CLIP_TOKENS) for t in block_targets}
                    hooks = [t.module.register_forward_hook(samplers[t.name]) for t in block_targets]
                    try:
                        run_block(block, inputs)
                    finally:
                        for h in hooks:
                            h.remove()
                    for t in block_targets:
                        X = samplers[t.name].sample().to(t.module.weight.device)
                        results.clips[t.name] = clip_search(t.weight().detach(), X, t.bits, t.group_size, t.sym, cfg.clip_grid).cpu()
                finally:
                    snap.restore()
        hidden = ref
        if ctx is not None:
            ctx.progress(layer + 1, len(blocks), "blocks", f"awq block {layer}")
    return results


def _verified(model: nn.Module, block: nn.Module, call: tuple, ref: torch.Tensor, found: list[AwqScale], skipped: list[str]) -> list[AwqScale]:
    """The searched scales of one block whose fold (no quantization) leaves the block's output unchanged."""
    tol = tolerance(ref.dtype)
    if fold_changes_output(model, block, call, ref, [(a.group, a.s) for a in found]) <= tol:
        return found
    kept = []
    for a in found:
        change = fold_changes_output(model, block, call, ref, [(a.group, a.s)])
        if change <= tol:
            kept.append(a)
        else:
            skipped.append(f"{', '.join(a.linears)}: the searched scales folded into {a.prev} change the block's output by {change:.1e}")
    return kept


@torch.no_grad()
def check_fold_invariance(model: nn.Module, results: AwqResults, ids: torch.Tensor) -> float:
    """Relative change of the logits on `ids` when every scale of `results` is folded in, unquantized.

    Raises ModelError above tolerance: a wrong fold must never reach a result marked succeeded.
    """
    ref = model(input_ids=ids, use_cache=False).logits
    snap = apply_weights(model, fold_weights(model, [(a.group, a.s) for a in results.scales]))
    try:
        got = model(input_ids=ids, use_cache=False).logits
    finally:
        snap.restore()
    change = relative_change(got, ref)
    if change > tolerance(ref.dtype):
        raise ModelError(f"AWQ: folding the searched scales without quantizing changes the logits by {change:.2e} (relative to max |logit|)")
    return change


@torch.no_grad()
def quantize_model_awq(loaded: Any, quant: dict, targets: list[Any], ctx: Optional[KernelContext] = None, arena: Optional[CodeArena] = None) -> Any:
    """AWQ search, then RTN on the scaled and clipped weights; returns every changed parameter.

    `weights` holds the quantized target weights and the new values of the norms and linears that
    absorbed 1/s (and protected linears of a scaled group, whose columns were multiplied by s).
    With an `arena` (`coded.CodeArena`), the quantized target weights are `result.coded` instead
    (codes of the scaled weights, kept in the arena).
    Embedding and lm_head targets get plain RTN (meta["rtn_fallback"]). The model is left unchanged.
    """

    t0 = time.monotonic()
    model = loaded.model
    cfg = AwqConfig.from_quant(quant)
    ids, cal_meta = calibration_for(loaded, quant)
    calls = capture_block_inputs(model, ids, cfg.batch_size, loaded.device)
    results = search_awq(model, calls, targets, cfg, ctx)
    fold_change = check_fold_invariance(model, results, ids[: cfg.batch_size].to(loaded.device))
    changed = awq_weights(model, results)
    weights: dict[str, torch.Tensor] = {}
    coded_weights: dict[str, CodedWeight] = {}
    errors: dict[str, float] = {}
    for t in targets:
        W0 = t.weight().detach()
        Ws = changed.pop(t.param_name, None)  # the scaled, not yet quantized weight is needed no more
        Ws = W0 if Ws is None else Ws.t() if t.transposed else Ws
        qw = quantize_weight(Ws.float(), t.bits, t.group_size, t.sym, t.name)
        Q = qw.dequantize(torch.float32).to(W0.dtype)  # what _fake_quant(Ws.float()) gives, in W0's dtype
        if arena is not None:
            coded_weights[t.param_name] = CodedWeight.from_grid(qw, W0.dtype, t.transposed, arena)
        else:
            weights[t.param_name] = t.to_param_layout(Q).to("cpu")
            if t.kind == "linear":
                results.grids[t.name] = QuantizedWeight(qw.codes.cpu(), qw.scales.cpu(), qw.zeros.cpu(), qw.bits, qw.group_size, qw.sym)
        errors[t.name] = relative_error(W0, _effective(results, t.name, Q))
    for name, value in changed.items():
        weights[name] = value.detach().to("cpu")
    meta = {
        "method": "awq",
        "awq": {"grid": cfg.grid, "alpha_grid": cfg.alpha_grid, "loss": cfg.loss, "clip": cfg.clip, "clip_grid": cfg.clip_grid},
        "calibration": cal_meta,
        "search": {**results.describe(), "fold_logit_change": fold_change},
        "modules": {t.name: {"bits": t.bits, "group_size": t.group_size, "sym": t.sym} for t in targets},
        "rtn_fallback": [t.name for t in targets if t.kind != "linear"],
        "seconds": time.monotonic() - t0,
    }
    result = QuantResult(weights, errors, meta, coded_weights, awq=results)
    log.info("awq: %d groups scaled, %d linears clipped, %.1fs", len(results.scales), len(results.clips), meta["seconds"])
    return result


def _effective(results: AwqResults, name: str, Q: torch.Tensor) -> torch.Tensor:
    """The weight as the unscaled model sees it: diag(s_prev) · Q · diag(1 / s_cols)."""
    Q = Q.float()
    for a in results.scales:
        s = a.s.to(Q.device)
        if name == a.prev:
            Q = Q * s[:, None]
        if name in a.linears:
            Q = Q / s[None, :]
    return Q
