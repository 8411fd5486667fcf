"""Allocation units and candidate choices.

A unit is what takes one choice: a block (`layers`), a block's attention or MLP linears
(`attention-mlp`, by llama.cpp's tensor categories, `quant/ggml_mix.role_of`), or one linear
(`modules`). A choice is a quantization grid (bits, group size, symmetry) or full precision.

Bits per weight count what a packed checkpoint stores: the codes, plus per group a float16 scale
and, for an asymmetric grid, a `bits`-wide zero point (GPTQ/AWQ packing):
    bpw = bits + (16 + (0 if sym else bits)) / g,   g = in_features for per-channel (group −1);
full precision is 16 (the float16/bfloat16 weights a checkpoint ships).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..errors import ParameterError
from ..quant.ggml_mix import role_of
from ..quant.grid import effective_group_size, stored_bpw
from ..quant.plan import FULL_PRECISION_BPW



@dataclass(frozen=True)
class Choice:
    """One option for a unit: a grid, or full precision (`bits` None)."""

    bits: Optional[int]
    group_size: int = 128
    sym: bool = False

    @property
    def quantized(self) -> bool:
        return self.bits is not None

    @property
    def label(self) -> str:
        if self.bits is None:
            return "fp16"
        g = "per-channel" if self.group_size == -1 else f"g{self.group_size}"
        return f"int{self.bits} {g}{' sym' if self.sym else ''}"

    def bpw(self, in_features: int) -> float:
        if self.bits is None:
            return FULL_PRECISION_BPW
        return stored_bpw(self.bits, self.group_size, self.sym, in_features)

    def record(self) -> dict:
        return {"label": self.label, "bits": self.bits, "group_size": None if self.bits is None else self.group_size, "sym": None if self.bits is None else self.sym}


@dataclass(frozen=True)
class Module:
    """A quantizable linear as the allocation sees it."""

    name: str
    layer: int
    role: str  # llama.cpp's category (attn_q, ffn_down, …)
    in_features: int
    params: int
    param_name: str
    fixed: bool = False  # kept in full precision by the step's `protect`: every choice leaves it so


@dataclass(frozen=True)
class Unit:
    label: str
    layers: tuple[int, ...]
    modules: tuple[Module, ...]

    @property
    def params(self) -> int:
        return sum(m.params for m in self.modules)

    def bits(self, choice: Choice) -> float:
        """Stored bits of the unit's weights under `choice`."""
        return sum(m.params * (FULL_PRECISION_BPW if m.fixed else choice.bpw(m.in_features)) for m in self.modules)

    @property
    def free(self) -> bool:
        """Whether any of its modules takes the unit's choice (not all fixed in full precision)."""
        return any(not m.fixed for m in self.modules)


def modules_of(candidates: list, targets: list) -> list[Module]:
    """The block linears among a quant config's candidates (`quant/plan.QuantTarget`), in model
    order; those not among the step's targets (protected) are `fixed`."""
    chosen = {t.name for t in targets}
    out = []
    for t in candidates:
        if t.kind != "linear" or t.layer is None:
            continue
        w = t.weight()
        out.append(Module(t.name, t.layer, role_of(t.name)[0], int(w.shape[1]), int(w.numel()), t.param_name, fixed=t.name not in chosen))
    return out


def expand(units: list[Unit], picks: list[Choice]) -> dict[str, Choice]:
    """Per-module assignment from one choice per unit; fixed modules stay in full precision."""
    return {m.name: Choice(None) if m.fixed else c for u, c in zip(units, picks) for m in u.modules}


def _half(role: str) -> str:
    return "attention" if role.startswith("attn") else "mlp" if role.startswith("ffn") else "other"


def build_units(modules: list[Module], granularity: str) -> list[Unit]:
    if granularity == "modules":
        return [Unit(m.name, (m.layer,), (m,)) for m in modules]
    groups: dict[tuple, list[Module]] = {}
    for m in modules:
        key = (m.layer,) if granularity == "layers" else (m.layer, _half(m.role))
        groups.setdefault(key, []).append(m)
    if granularity == "layers":
        return [Unit(f"layer {k[0]}", (k[0],), tuple(ms)) for k, ms in groups.items()]
    if granularity == "attention-mlp":
        return [Unit(f"layer {k[0]} {k[1]}", (k[0],), tuple(ms)) for k, ms in groups.items()]
    raise ParameterError(f"units {granularity!r} is not layers, attention-mlp or modules")


def choices_of(candidates: list[dict], quant: dict, full_precision: bool, modules: list[Module]) -> list[Choice]:
    """The candidate grids (group size and symmetry default to the quant config's), checked
    against every module's in_features, then full precision when allowed; duplicates dropped."""
    out: list[Choice] = []
    for k, c in enumerate(candidates):
        choice = Choice(int(c["bits"]), int(c.get("group_size") or quant["group_size"]), bool(c["sym"] if c.get("sym") is not None else quant["sym"]))
        for m in modules:
            if not m.fixed:
                effective_group_size(m.in_features, choice.group_size, f"candidates[{k}] for {m.name}")
        if choice not in out:
            out.append(choice)
    if full_precision:
        out.append(Choice(None))
    if not out:
        raise ParameterError("allocate needs at least one candidate")
    return out


def bpw_of(modules: list[Module], assignment: dict[str, Choice]) -> float:
    """Bits per weight of the block linears under a per-module assignment."""
    total = sum(m.params for m in modules)
    return sum(m.params * (FULL_PRECISION_BPW if m.fixed else assignment[m.name].bpw(m.in_features)) for m in modules) / total
