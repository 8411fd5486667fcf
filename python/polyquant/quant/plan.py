"""Which modules get quantized, and how: the quantization plan as a list of `QuantTarget`s.

`resolve_targets(model, quant, protect, overrides)`:
1. every linear of every block (found by models/structure.py, GPT-2's Conv1D and fused projections included); the token
   (and position) embeddings only with `quant.include_embeddings`, the lm_head only with
   `quant.include_lm_head` (a head tied to the embedding is the same parameter: one target);
2. `protect.layers` (negative indices count from the end) drop every linear of those blocks;
   `protect.modules` (regular expressions, `re.search` on the full module name) drop any target;
3. `overrides` (in order, later ones win) change bits, group_size or sym of the targets they
   match: `layers` (block indices) and/or `modules` (a regex); with both, a target must match both.

Protected modules are absent from the result. Every target's group size is checked against its
in_features here, so a bad group size fails before any quantization starts.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any, Optional

import torch
from torch import nn

from ..errors import ParameterError
from ..models import structure
from .grid import check_bits, effective_group_size, stored_bpw

log = logging.getLogger(__name__)


@dataclass
class QuantTarget:
    """One weight to quantize."""

    name: str  # full module name, e.g. "model.layers.3.mlp.down_proj"
    layer: Optional[int]  # block index; None for embeddings and lm_head
    module: nn.Module = field(repr=False, compare=False)
    bits: int = 4  # the quant config's bits unless an override changed them
    group_size: int = 128  # −1: per channel
    sym: bool = False  # symmetric grid (zero at the mid-point)
    transposed: bool = False  # the parameter is stored in × out (GPT-2 Conv1D)
    kind: str = "linear"  # "linear" (a block linear), "embedding" or "lm_head"
    ggml_type: Optional[str] = None  # method gguf: the llama.cpp block type (gguf_method.py); bits / group_size follow it
    ggml_reason: str = ""  # method gguf: which llama-quantize rule chose it

    @property
    def param_name(self) -> str:
        return f"{self.name}.weight"

    def weight(self) -> torch.Tensor:
        """The weight as out × in (a view; rows of an embedding are tokens)."""
        w = self.module.weight
        return w.t() if self.transposed else w

    def to_param_layout(self, w_out_in: torch.Tensor) -> torch.Tensor:
        """An out × in tensor in the parameter's own layout."""
        return w_out_in.t().contiguous() if self.transposed else w_out_in

    def describe(self) -> dict[str, Any]:
        out = {"name": self.name, "layer": self.layer, "bits": self.bits, "group_size": self.group_size, "sym": self.sym}
        if self.ggml_type is not None:
            from .ggml_blocks import GGML_TYPES

            out.update(type=self.ggml_type, bpw=GGML_TYPES[self.ggml_type].bpw)
        return out


def _compile(pattern: Any, where: str) -> re.Pattern:
    if not isinstance(pattern, str):
        raise ParameterError(f"{where} {pattern!r} is not a regular expression string")
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ParameterError(f"{where} {pattern!r} is not a valid regular expression: {exc}") from exc


def _layers(indices: Any, n_layers: int, where: str) -> set[int]:
    if not isinstance(indices, (list, tuple)):
        raise ParameterError(f"{where} {indices!r} is not a list of layer indices")
    out = set()
    for i in indices:
        if isinstance(i, bool) or not isinstance(i, int):
            raise ParameterError(f"{where} entry {i!r} is not an integer layer index")
        out.add(structure.resolve_layer_index(i, n_layers, where))
    return out


def all_candidates(model: nn.Module, quant: dict) -> list[QuantTarget]:
    """Every module the quant config may quantize, before protection and overrides (method gguf: typed here)."""
    found = structure.structure_of(model)
    bits = check_bits(quant.get("bits", 4))
    group_size = quant.get("group_size", 128)
    sym = bool(quant.get("sym", False))
    out: list[QuantTarget] = []
    seen: set[int] = set()
    for name, (layer, mod) in structure.all_linears(model).items():
        out.append(QuantTarget(name, layer, mod, bits, group_size, sym, transposed=name in found.transposed, kind="linear"))
        seen.add(id(mod.weight))
    extra: list[tuple[str, str]] = []
    gguf = quant.get("method") == "gguf"
    if gguf:  # llama-quantize's tensors: the token embedding and the output too, never position embeddings
        extra += [(n, "embedding") for n in found.embeddings[:1]]
    elif quant.get("include_embeddings", False):
        extra += [(n, "embedding") for n in found.embeddings]
    if (gguf or quant.get("include_lm_head", False)) and found.lm_head is not None:
        extra.append((found.lm_head, "lm_head"))
    for name, kind in extra:
        try:
            mod = structure.module(model, name)
        except AttributeError:
            log.warning("model has no module %s; skipped", name)
            continue
        if id(mod.weight) in seen:  # tied lm_head / embedding: one parameter, one target
            log.info("%s shares its weight with a module already targeted; quantized once", name)
            continue
        seen.add(id(mod.weight))
        out.append(QuantTarget(name, None, mod, bits, group_size, sym, transposed=structure.is_conv1d(mod), kind=kind))
    if gguf:
        from .gguf_method import assign_types

        assign_types(model, quant, out)  # over the whole model: protection must not shift llama.cpp's counters
        out = [t for t in out if t.ggml_type != "F16"]  # a row no block divides: llama.cpp keeps it in F16, we keep it dense
    return out


def _examples(candidates: list[QuantTarget]) -> str:
    names = [t.name for t in candidates]
    return ", ".join(names[:3]) + (", …" if len(names) > 3 else "")


def resolve_targets(model: nn.Module, quant: Optional[dict] = None, protect: Optional[dict] = None, overrides: Optional[list] = None) -> list[QuantTarget]:
    """The modules to quantize and their settings; protected modules are absent (see module docstring)."""
    quant = quant or {}
    protect = protect or {}
    overrides = overrides or []
    n_layers = structure.num_layers(model)
    protected_layers = _layers(protect.get("layers", []), n_layers, "protect.layers")
    protected_res = [_compile(p, "protect.modules") for p in protect.get("modules", [])]
    candidates = all_candidates(model, quant)
    # a pattern that matches nothing is a typo far more often than a wish: it must not quantize
    # everything at the defaults with a success status
    for k, r in enumerate(protected_res):
        if not any(r.search(t.name) for t in candidates):
            raise ParameterError(f"protect.modules[{k}] {r.pattern!r} matches no module (they are named like {_examples(candidates)})")
    targets = [
        t
        for t in candidates
        if not (t.layer is not None and t.layer in protected_layers) and not any(r.search(t.name) for r in protected_res)
    ]
    if not isinstance(overrides, list):
        raise ParameterError(f"overrides {overrides!r} is not a list")
    for k, ov in enumerate(overrides):
        where = f"overrides[{k}]"
        if not isinstance(ov, dict) or ("layers" not in ov and "modules" not in ov):
            raise ParameterError(f"{where} {ov!r} names neither `layers` nor `modules`")
        layers = _layers(ov["layers"], n_layers, f"{where}.layers") if ov.get("layers") is not None else None
        regex = _compile(ov["modules"], f"{where}.modules") if ov.get("modules") is not None else None
        if "bits" in ov and ov["bits"] is not None:
            check_bits(ov["bits"], where)
        gguf = quant.get("method") == "gguf"
        set_by_grid = [k for k in ("bits", "group_size", "sym") if ov.get(k) is not None]
        if gguf and set_by_grid:
            raise ParameterError(f"{where} sets {', '.join(set_by_grid)}; with quant.method gguf an override sets `type` (a llama.cpp block type)")
        if not gguf and ov.get("type") is not None:
            raise ParameterError(f"{where} sets type {ov['type']!r}, which only quant.method gguf reads (method {quant.get('method', 'rtn')!r} takes bits, group_size, sym)")
        if regex is not None and not any(regex.search(t.name) and (layers is None or t.layer in layers) for t in candidates):
            raise ParameterError(f"{where}.modules {regex.pattern!r} matches no module{' of those layers' if layers is not None else ''} (they are named like {_examples(candidates)})")
        for t in targets:
            if layers is not None and (t.layer is None or t.layer not in layers):
                continue
            if regex is not None and not regex.search(t.name):
                continue
            if ov.get("bits") is not None:
                t.bits = ov["bits"]
            if ov.get("group_size") is not None:
                t.group_size = ov["group_size"]
            if ov.get("sym") is not None:
                t.sym = bool(ov["sym"])
            if ov.get("type") is not None:
                from .gguf_method import override_type

                override_type(t, str(ov["type"]), where)
    for t in targets:
        if t.ggml_type is None:  # a gguf target's blocks were fitted to its rows when it was typed
            effective_group_size(t.weight().shape[1], t.group_size, t.name)
    return targets


def protected_names(model: nn.Module, quant: Optional[dict], targets: list[QuantTarget]) -> list[str]:
    """Candidate modules that the plan leaves in full precision."""
    chosen = {t.name for t in targets}
    return [t.name for t in all_candidates(model, quant or {}) if t.name not in chosen]


FULL_PRECISION_BPW = 16.0  # a module left in full precision: the float16/bfloat16 a checkpoint ships


def grid_summary(model: nn.Module, quant: dict, targets: list[QuantTarget]) -> dict:
    """What a quantization stores: bits per weight over every candidate module (protected ones at
    16, a gguf type at its llama.cpp size, `quant/grid.stored_bpw` otherwise), and the targets
    grouped by grid with their layers, so that overrides show in outputs and reports."""
    by_name = {t.name: t for t in targets}
    total = weighted = 0.0
    grids: dict[tuple, dict] = {}
    for c in all_candidates(model, quant):
        w = c.weight()
        n = float(w.numel())
        t = by_name.get(c.name)
        if t is None:
            bpw = FULL_PRECISION_BPW
        elif t.ggml_type is not None:
            bpw = float(t.describe()["bpw"])
        else:
            bpw = stored_bpw(t.bits, t.group_size, t.sym, int(w.shape[1]))
        total += n
        weighted += n * bpw
        if t is not None:
            key = (t.ggml_type,) if t.ggml_type is not None else (t.bits, t.group_size, t.sym)
            g = grids.setdefault(key, {"bits": t.bits, "group_size": t.group_size, "sym": t.sym, **({"type": t.ggml_type} if t.ggml_type else {}), "modules": 0, "layers": set()})
            g["modules"] += 1
            if t.layer is not None:
                g["layers"].add(t.layer)
    out = [{**g, "layers": sorted(g["layers"])} for g in sorted(grids.values(), key=lambda g: -g["modules"])]
    return {"bpw": weighted / total if total else None, "grids": out}
