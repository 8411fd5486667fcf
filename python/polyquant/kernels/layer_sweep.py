"""`layer-sweep` kernel: which layers' quantization hurts which languages.

Modes (a "group" is one layer, or one of `layer_groups`, e.g. [[0, 1], [2, 3]]):
- `protect-one`: quantize every target except group g's (one configuration per group);
- `quantize-one`: quantize only group g's targets;
- `protect-cumulative`: greedy; step k tries adding each remaining group to the protected set
  and keeps the one that lowers the mean degradation most (G + (G−1) + … configurations, capped
  by `max_steps`).

Cost: ONE quantization pass over all targets (`quant/methods.py`), kept as bit-packed codes
(`quant/coded.py`, a seventh of float32 at 4 bits), then per configuration one evaluation. The
block linears' originals are written once to an unlinked temporary file (`quant/spill.py`); a
configuration then writes in place only the linears whose state changes from the previous one
(dequantized from their codes, or read back from the file), so the sweep holds the model, the
codes and one tensor in flight, not the model three times over, and evaluates plain parameters.
Without a writable temporary file the linears are swapped in per module call instead
(`quant/swap.py`; same numbers, a dequantization per forward). Embedding and lm_head targets,
which a model may read as tensors, are copied in with `apply_weights` and restored. At the end,
also when stopped or failed, every original is read back: the model is bit-exact. No reloads.

Degradation of language ℓ under a configuration: d_ℓ = PPL_q/PPL_b − 1 =
exp((NLL_q − NLL_b) / T) − 1 on the corpus's windows (`eval/perplexity.py` protocol);
`mean` is the unweighted mean of d_ℓ over languages.
Critical layers: protect-one ranks groups by how much protecting them lowers the all-quantized
mean (all.mean − row.mean); quantize-one by the row's own mean; protect-cumulative by greedy order
with the improvement each step brought.

Uncertainty (`analysis/sweep_uncertainty.py`): each row (and the all-quantized model) gets paired
bootstrap 95% CIs on its per-language d and mean, and the disparity index against `reference`;
each critical group its score's CI, whether that excludes 0, and P(top k) over the replicates;
`uncertainty` gives the minimum detectable effect per language and a note when no layer is
separated (the five-article default corpus rarely separates them).

Checkpoints: every `checkpoint_every` configurations, and before stopping, the state holds the
finished rows (and the greedy search's position), never weights. On resume the quantized weights
are recomputed (deterministic) and the sweep continues; the result equals an uninterrupted run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from typing import Any, Optional

import numpy as np
import torch

from ..context import KernelContext
from ..errors import CheckpointError, KernelStopped, ParameterError
from ..eval.compare import language_windows, window_nll
from ..eval.perplexity import Protocol
from ..executor.fanout import open_on_helpers, run_units
from ..models import resident, structure
from ..quant.apply import apply_weights
from ..quant.coded import CodedWeight
from ..quant.methods import quant_summary, quantize_model
from ..quant.mixture import MixedWeights
from ..quant.swap import swapped_in
from . import quantize as quantize_kernel
from ..analysis.bootstrap import BootstrapConfig
from ..analysis.degradation import degradation
from ..analysis.sweep_uncertainty import sweep_uncertainty
from .contract import kernel

log = logging.getLogger(__name__)


def _groups(raw: Optional[list], n_layers: int) -> list[list[int]]:
    if raw is None:
        return [[i] for i in range(n_layers)]
    groups, seen = [], set()
    for k, g in enumerate(raw):
        resolved = sorted({structure.resolve_layer_index(i, n_layers, f"layer_groups[{k}]") for i in g})
        overlap = seen.intersection(resolved)
        if overlap:
            raise ParameterError(f"layer_groups[{k}] repeats layer(s) {sorted(overlap)} of an earlier group")
        seen.update(resolved)
        groups.append(resolved)
    return groups


def label(layers: list[int]) -> str:
    if len(layers) == 1:
        return f"layer {layers[0]}"
    if layers == list(range(layers[0], layers[-1] + 1)):
        return f"layers {layers[0]}-{layers[-1]}"
    return "layers " + ",".join(str(i) for i in layers)


def _degradation(base: dict[str, np.ndarray], quant: dict[str, np.ndarray], tokens: dict[str, float]) -> dict[str, float]:
    return {lang: degradation(math.fsum(base[lang]), math.fsum(quant[lang]), tokens[lang]) for lang in base}


def _arrays(stored: dict[str, list]) -> dict[str, np.ndarray]:
    return {lang: np.asarray(v, dtype=np.float64) for lang, v in stored.items()}


def _mean(d: dict[str, float]) -> float:
    return math.fsum(d.values()) / len(d)


REFERENCE_UNITS = ("base", "all")  # the baseline and the all-quantized model: not configurations


def _key(params: dict, groups: list[list[int]], fingerprint: str) -> str:
    """What a checkpoint must match to be resumed: everything that changes the rows."""
    relevant = {k: params.get(k) for k in ("quant", "protect", "overrides", "mode", "protocol", "max_steps")}
    relevant.update(groups=groups, fingerprint=fingerprint, corpus=(params.get("corpus") or {}).get("digest"), format=2)  # 2: per-window NLLs
    return hashlib.sha256(json.dumps(relevant, sort_keys=True, default=str).encode()).hexdigest()


class Sweep:
    """One sweep's state: the quantized weights as codes, the evaluation windows and the baseline.

    Block linears change between configurations in place: their original values go to a temporary
    file once (`quant/mixture.py` over `quant/spill.py`), and each configuration writes only the linears whose state
    differs from the previous one's (two layers in protect-one), so evaluations run on plain
    parameters. Where the file cannot be written (a full disk), they are swapped in per module call
    instead (`quant/swap.py`): the same numbers, no extra memory, one dequantization per forward.
    `close()` puts every original back, bit for bit.
    """

    def __init__(self, loaded: Any, targets: list, coded: dict[str, CodedWeight], windows: dict, batch_size: int, ctx: KernelContext, baseline: bool = True):
        self.loaded, self.targets, self.coded, self.windows = loaded, targets, coded, windows
        self.batch_size, self.ctx = batch_size, ctx
        self.swappable = {t.param_name for t in targets if t.kind == "linear"}  # the rest is copied in (quant/swap.py)
        self.tokens = {lang: float(sum(w.scored for w in ws)) for lang, ws in windows.items()}
        # the baseline before any weight is switched (the switches are in place)
        self._base: Optional[dict[str, np.ndarray]] = window_nll(loaded, windows, batch_size) if baseline else None
        try:  # the block linears switch in place between their codes and their originals (kept in a file)
            self.mixed: Optional[MixedWeights] = MixedWeights(loaded.model, self.swappable)
        except OSError as exc:
            log.warning("layer-sweep: could not write the originals to a temporary file (%s); swapping weights in per module call", exc)
            self.mixed = None

    @property
    def base(self) -> dict[str, np.ndarray]:
        """Per-window NLLs of the model as it came (measured at the start; a helper's sweep has none)."""
        if self._base is None:
            raise RuntimeError("this sweep was opened without its baseline (a helper's: executor/units.py)")
        return self._base

    def set_baseline(self, nll: dict[str, np.ndarray]) -> None:
        """The baseline measured as a unit (here or on a helper: `run`), for a sweep opened without it."""
        self._base = nll

    def params_for(self, quantized_layers: Optional[set[int]], protected_layers: set[int]) -> list[str]:
        """Parameter names to swap in: targets in `quantized_layers` (None: all) minus `protected_layers`.
        Embeddings and lm_head (layer None) follow "all" (protect modes) and are left out of quantize-one."""
        names = []
        for t in self.targets:
            if t.layer is None:
                if quantized_layers is None:
                    names.append(t.param_name)
                continue
            if (quantized_layers is None or t.layer in quantized_layers) and t.layer not in protected_layers:
                names.append(t.param_name)
        return names

    def evaluate(self, names: list[str]) -> dict[str, np.ndarray]:
        """Per-window NLLs with `names` quantized."""
        model = self.loaded.model
        copied = {n: self.coded[n].dequantize(model.get_parameter(n).device) for n in names if n not in self.swappable}
        linears = [n for n in names if n in self.swappable]
        if self.mixed is not None:
            self.mixed.set({n: self.coded[n] for n in linears})  # writes only the linears that change
            with apply_weights(model, copied):
                nll = window_nll(self.loaded, self.windows, self.batch_size)
        else:
            with apply_weights(model, copied), swapped_in(model, self.coded, linears):
                nll = window_nll(self.loaded, self.windows, self.batch_size)
        return nll

    def degradation(self, nll: dict[str, np.ndarray]) -> dict[str, float]:
        return _degradation(self.base, nll, self.tokens)

    def close(self) -> None:
        """Every block linear back to its original value; the temporary file closed."""
        if self.mixed is not None:
            self.mixed.close()
            self.mixed = None


def open_sweep(params: dict, ctx: KernelContext, baseline: bool = True) -> tuple:
    """The sweep's deterministic setup: (quant, protected, protocol, windows, Sweep). A helper actor
    (executor/units.py) makes the same one from the same params, so its units equal this actor's."""
    loaded = resident.get(params["model"])
    quant, targets, protected = quantize_kernel.plan(loaded, params)
    result = quantize_model(loaded, quant, targets, ctx, coded=True)  # the one quantization pass (recomputed on resume)
    protocol, windows, _ = language_windows(loaded, params["corpus"], Protocol.from_params(params["protocol"]))
    return quant, protected, protocol, windows, Sweep(loaded, targets, result.coded, windows, protocol.batch_size, ctx, baseline)


def evaluate_unit(sweep: Sweep, names: list[str]) -> dict[str, list[float]]:
    """One configuration's per-window NLLs, as stored in the checkpoint (float64 lists: exact)."""
    return {lang: v.tolist() for lang, v in sweep.evaluate(names).items()}


@kernel("layer-sweep")
def run(params: dict, ctx: KernelContext) -> dict:
    mode, every = params["mode"], params["checkpoint_every"]
    loaded = resident.get(params["model"])
    groups = _groups(params.get("layer_groups"), structure.num_layers(loaded.model))
    max_steps = params.get("max_steps")
    steps = min(max_steps or len(groups), len(groups))
    key = _key(params, groups, loaded.fingerprint)

    state = ctx.resume_state
    if state is not None:
        if state.get("key") != key:
            raise CheckpointError("the layer-sweep checkpoint was written for other parameters, model or corpus; rerun with --force")
        log.info("resuming layer-sweep after %d configurations", len(state["evaluated"]))
    else:
        state = {"key": key, "evaluated": {}}

    open_on_helpers(ctx, ("layer-sweep", params))  # Ray helpers make the same setup meanwhile
    quant, protected, protocol, windows, sweep = open_sweep(params, ctx, baseline=False)  # the baseline is a unit below
    try:
        if mode == "protect-cumulative":
            total = sum(len(groups) - k for k in range(steps))
        else:
            total = len(groups)
        since = [0]  # configurations since the last checkpoint

        def configurations_done() -> int:
            return len([c for c in state["evaluated"] if c not in REFERENCE_UNITS])

        def finished(cfg_id: str, nll: dict[str, list[float]], where: str = "") -> None:
            state["evaluated"][cfg_id] = nll
            if cfg_id in REFERENCE_UNITS:
                return
            ctx.progress(configurations_done(), total, "configurations", f"{cfg_id} on {where}" if where else cfg_id)
            since[0] += 1
            if since[0] >= every:
                ctx.checkpoint(state)
                since[0] = 0

        def stopped() -> None:
            ctx.checkpoint(state)
            raise KernelStopped(f"layer-sweep stopped after {configurations_done()} of {total} configurations")

        def evaluate(configs: list[tuple[str, list[str]]]) -> list[dict[str, float]]:
            """Each configuration's degradation; those not in the checkpoint evaluated here or on the
            helper actors lent to this step (executor/fanout.py), merged by configuration id."""
            missing = [(cid, names) for cid, names in dict(configs).items() if cid not in state["evaluated"]]
            run_units(ctx, missing, lambda names: evaluate_unit(sweep, names), finished, stopped, remote=("layer-sweep", params))
            sweep.set_baseline(_arrays(state["evaluated"]["base"]))
            return [sweep.degradation(_arrays(state["evaluated"][cid])) for cid, _ in configs]

        rows: list[dict] = []
        row_ids: list[str] = []  # each row's configuration in state["evaluated"]
        # the baseline (nothing quantized: every original written back, bit for bit) and the
        # all-quantized model are units like the configurations, so that helpers share them too
        everything = ("all", sweep.params_for(None, set()))
        reference = [("base", []), everything]
        if mode in ("protect-one", "quantize-one"):
            configs = []
            for g in groups:
                if mode == "protect-one":
                    names = sweep.params_for(None, set(g))
                else:
                    names = sweep.params_for(set(g), set())
                configs.append((f"{mode}:{','.join(map(str, g))}", names))
            all_d, *found = evaluate([*reference, *configs])[1:]
            for g, (cid, _), d in zip(groups, configs, found):
                rows.append({"layers": g, "label": label(g), "degradation": d, "mean": _mean(d)})
                row_ids.append(cid)
            if mode == "protect-one":
                scores = [_mean(all_d) - r["mean"] for r in rows]
            else:
                scores = [r["mean"] for r in rows]
            order = sorted(range(len(rows)), key=lambda i: (-scores[i], i))
            critical = [{"layers": rows[i]["layers"], "label": rows[i]["label"], "score": scores[i]} for i in order]
        else:
            all_d = evaluate(reference)[1]
            chosen: list[int] = []  # group indices protected so far, in greedy order
            critical = []
            prev = _mean(all_d)
            for _ in range(steps):
                candidates = [gi for gi in range(len(groups)) if gi not in chosen]
                configs = []
                for gi in candidates:
                    prot = sorted({i for c in chosen + [gi] for i in groups[c]})
                    configs.append(("protect:" + ",".join(map(str, prot)), sweep.params_for(None, set(prot))))
                best = None
                for gi, d in zip(candidates, evaluate(configs)):
                    if best is None or _mean(d) < _mean(best[1]):
                        best = (gi, d)
                gi, d = best
                chosen.append(gi)
                prot = sorted({i for c in chosen for i in groups[c]})
                row_ids.append("protect:" + ",".join(map(str, prot)))
                rows.append({"layers": prot, "label": "protect " + label(prot).removeprefix("layer ").removeprefix("layers "), "degradation": d, "mean": _mean(d), "added": groups[gi]})
                critical.append({"layers": groups[gi], "label": label(groups[gi]), "score": prev - _mean(d)})
                prev = _mean(d)
        if since[0]:
            ctx.checkpoint(state)

        boot = BootstrapConfig.from_params(params["bootstrap"])
        unc = sweep_uncertainty(
            {lang: np.asarray(v) for lang, v in sweep.base.items()},
            {lang: np.array([w.scored for w in ws], dtype=np.float64) for lang, ws in windows.items()},
            {cid: _arrays(state["evaluated"][cid]) for cid in ["all", *row_ids]},
            "all", list(zip(row_ids, [r["layers"] for r in rows])), mode, params["reference"], boot, params["top_k"],
        )  # fmt: skip
        for row, extra in zip(rows, unc["rows"]):
            row.update(extra)
        if mode in ("protect-one", "quantize-one"):
            by_layers = {tuple(r["layers"]): k for k, r in enumerate(rows)}
            for c in critical:
                c.update(unc["ranking"][by_layers[tuple(c["layers"])]])
        separated = [c["label"] for c in critical if c.get("separated")]
        note = None
        if mode in ("protect-one", "quantize-one") and not separated:
            mde = ", ".join(f"{lang} {100 * v:.2f}%" for lang, v in unc["mde"].items() if v is not None)
            note = (f"no layer's score has a 95% CI that excludes 0: this corpus cannot separate the layers from each other or from the "
                    f"{'all-quantized model' if mode == 'protect-one' else 'baseline'} (it resolves differences in d of about {mde}); "
                    "use a larger corpus, e.g. FLORES+ devtest (README, Corpora)")  # fmt: skip

        return {
            "mode": mode,
            "quant": quant_summary(quant),
            "protected": protected,
            "groups": groups,
            "languages": list(windows),  # the workflow's order
            "baseline": {lang: math.exp(math.fsum(sweep.base[lang]) / sweep.tokens[lang]) for lang in windows},
            "all_quantized": {"degradation": all_d, "mean": _mean(all_d), **unc["all"]},
            "rows": rows,
            "critical_layers": critical,
            "configurations": total,
            "uncertainty": {"bootstrap": boot.record(), "top_k": unc["top_k"], "mde": unc["mde"], "separated": separated, "note": note},
            "protocol": protocol.record(),
        }
    finally:
        sweep.close()  # the model leaves the step as it came, also when stopped or failed
