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
from ..models import resident, structure
from ..quant.apply import apply_weights
from ..quant.coded import CodedWeight
from ..quant.methods import quant_summary, quantize_model
from ..quant.spill import SpilledOriginals
from ..quant.swap import swapped_in
from . import quantize as quantize_kernel
from ..analysis.degradation import degradation
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


def _mean(d: dict[str, float]) -> float:
    return math.fsum(d.values()) / len(d)


def _key(params: dict, groups: list[list[int]], fingerprint: str) -> str:
    """What a checkpoint must match to be resumed: everything that changes the rows."""
    relevant = {k: params.get(k) for k in ("quant", "protect", "overrides", "mode", "protocol", "max_steps")}
    relevant.update(groups=groups, fingerprint=fingerprint, corpus=(params.get("corpus") or {}).get("digest"))
    return hashlib.sha256(json.dumps(relevant, sort_keys=True, default=str).encode()).hexdigest()


class Sweep:
    """One sweep's state: the quantized weights as codes, the evaluation windows and the baseline.

    Block linears change between configurations in place: their original values go to a temporary
    file once (`quant/spill.py`), and each configuration writes only the linears whose state
    differs from the previous one's (two layers in protect-one), so evaluations run on plain
    parameters. Where the file cannot be written (a full disk), they are swapped in per module call
    instead (`quant/swap.py`): the same numbers, no extra memory, one dequantization per forward.
    `close()` puts every original back, bit for bit.
    """

    def __init__(self, loaded: Any, targets: list, coded: dict[str, CodedWeight], windows: dict, batch_size: int, ctx: KernelContext):
        self.loaded, self.targets, self.coded, self.windows = loaded, targets, coded, windows
        self.batch_size, self.ctx = batch_size, ctx
        self.swappable = {t.param_name for t in targets if t.kind == "linear"}  # the rest is copied in (quant/swap.py)
        self.tokens = {lang: float(sum(w.scored for w in ws)) for lang, ws in windows.items()}
        self.base = window_nll(loaded, windows, batch_size)
        self.applied: set[str] = set()  # block linears that hold their quantized value now
        try:
            self.spilled: Optional[SpilledOriginals] = SpilledOriginals(loaded.model, sorted(self.swappable))
        except OSError as exc:
            log.warning("layer-sweep: could not write the originals to a temporary file (%s); swapping weights in per module call", exc)
            self.spilled = None

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

    def _set_quantized(self, want: set[str]) -> None:
        """Bring the block linears to `want` quantized, the rest original, touching only those that change."""
        model = self.loaded.model
        for n in sorted(self.applied - want):
            self.spilled.restore(n)
            self.applied.discard(n)
        for n in sorted(want - self.applied):
            param = model.get_parameter(n)
            with torch.no_grad():
                param.copy_(self.coded[n].dequantize(param.device))
            self.applied.add(n)

    def evaluate(self, names: list[str]) -> dict[str, float]:
        model = self.loaded.model
        copied = {n: self.coded[n].dequantize(model.get_parameter(n).device) for n in names if n not in self.swappable}
        linears = [n for n in names if n in self.swappable]
        if self.spilled is not None:
            self._set_quantized(set(linears))
            with apply_weights(model, copied):
                nll = window_nll(self.loaded, self.windows, self.batch_size)
        else:
            with apply_weights(model, copied), swapped_in(model, self.coded, linears):
                nll = window_nll(self.loaded, self.windows, self.batch_size)
        return _degradation(self.base, nll, self.tokens)

    def close(self) -> None:
        """Every block linear back to its original value; the temporary file closed."""
        if self.spilled is None:
            return
        try:
            self._set_quantized(set())
        finally:
            self.spilled.close()
            self.spilled = None


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

    quant, targets, protected = quantize_kernel.plan(loaded, params)
    result = quantize_model(loaded, quant, targets, ctx, coded=True)  # the one quantization pass (recomputed on resume)
    protocol, windows, _ = language_windows(loaded, params["corpus"], Protocol.from_params(params["protocol"]))
    sweep = Sweep(loaded, targets, result.coded, windows, protocol.batch_size, ctx)
    try:
        all_d = sweep.evaluate(sweep.params_for(None, set()))

        if mode == "protect-cumulative":
            total = sum(len(groups) - k for k in range(steps))
        else:
            total = len(groups)
        since = [0]  # configurations since the last checkpoint

        def config(cfg_id: str, names: list[str]) -> dict[str, float]:
            """Evaluate one configuration, or reuse it from the checkpoint."""
            if cfg_id in state["evaluated"]:
                return state["evaluated"][cfg_id]
            if ctx.should_stop():
                ctx.checkpoint(state)
                raise KernelStopped(f"layer-sweep stopped after {len(state['evaluated'])} of {total} configurations")
            d = sweep.evaluate(names)
            state["evaluated"][cfg_id] = d
            ctx.progress(len(state["evaluated"]), total, "configurations", cfg_id)
            since[0] += 1
            if since[0] >= every:
                ctx.checkpoint(state)
                since[0] = 0
            return d

        rows: list[dict] = []
        if mode in ("protect-one", "quantize-one"):
            for g in groups:
                if mode == "protect-one":
                    names = sweep.params_for(None, set(g))
                else:
                    names = sweep.params_for(set(g), set())
                d = config(f"{mode}:{','.join(map(str, g))}", names)
                rows.append({"layers": g, "label": label(g), "degradation": d, "mean": _mean(d)})
            if mode == "protect-one":
                scores = [_mean(all_d) - r["mean"] for r in rows]
            else:
                scores = [r["mean"] for r in rows]
            order = sorted(range(len(rows)), key=lambda i: (-scores[i], i))
            critical = [{"layers": rows[i]["layers"], "label": rows[i]["label"], "score": scores[i]} for i in order]
        else:
            chosen: list[int] = []  # group indices protected so far, in greedy order
            critical = []
            prev = _mean(all_d)
            for _ in range(steps):
                best = None
                for gi, g in enumerate(groups):
                    if gi in chosen:
                        continue
                    prot = sorted({i for c in chosen + [gi] for i in groups[c]})
                    d = config("protect:" + ",".join(map(str, prot)), sweep.params_for(None, set(prot)))
                    if best is None or _mean(d) < _mean(best[1]):
                        best = (gi, d)
                gi, d = best
                chosen.append(gi)
                prot = sorted({i for c in chosen for i in groups[c]})
                rows.append({"layers": prot, "label": "protect " + label(prot).removeprefix("layer ").removeprefix("layers "), "degradation": d, "mean": _mean(d), "added": groups[gi]})
                critical.append({"layers": groups[gi], "label": label(groups[gi]), "score": prev - _mean(d)})
                prev = _mean(d)
        if since[0]:
            ctx.checkpoint(state)

        return {
            "mode": mode,
            "quant": quant_summary(quant),
            "protected": protected,
            "groups": groups,
            "languages": sorted(windows),
            "baseline": {lang: math.exp(math.fsum(sweep.base[lang]) / sweep.tokens[lang]) for lang in sorted(windows)},
            "all_quantized": {"degradation": all_d, "mean": _mean(all_d)},
            "rows": rows,
            "critical_layers": critical,
            "configurations": total,
            "protocol": protocol.record(),
        }
    finally:
        sweep.close()  # the model leaves the step as it came, also when stopped or failed
