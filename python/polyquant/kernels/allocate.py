"""`allocate` kernel: bits per layer (or module group) so that every language stays within bounds.

1. **Sensitivities.** Each candidate grid (e.g. int2/3/4/6/8 at the step's group size) quantizes
   the whole model once (RTN or GPTQ, kept as codes); then, per unit u and candidate c, only u's
   linears take c's values (everything else in full precision) and the corpus is evaluated:
   ΔNLL[u, c, ℓ] nats per language (a quantize-one sweep at every width).
2. **Solve** (`allocate/solve.py`, an exact integer program): `goal: min-size` finds the smallest
   model (bits per weight) whose predicted degradation meets the bound for every language
   (`bound.degradation` ε, `bound.delta_bpb`, `bound.disparity`); `goal: min-worst` the allocation
   within `budget_bpw` whose worst language degrades least. The prediction is additive in NLL
   (stated in the outputs' `model`).
3. **Verify.** The allocation's plan quantizes the model afresh (as a `disparity` step with the
   plan's `overrides` would; for RTN it must equal the mixture of candidate codes the search used,
   checked) and is measured, with paired bootstrap CIs as the `disparity` kernel computes them. Where a measured value breaks a bound,
   the interaction the additive model missed (measured − predicted) tightens that bound, the
   allocation is cut off, and the program is solved again, at most `verify.max_iterations` times;
   if none passes, `met: false` with the best measured allocation and each language's shortfall.
4. **Baselines** at the same sizes (`allocate/baselines.py`): uniform, first and last block in
   full precision, llama.cpp's Q4_K_M rule, and the average-loss optimum (`solve.min_mean`), each
   measured; with the worst-language optimum they make the Pareto curves (bits per weight vs
   worst-language degradation).
5. **Plan**: polyquant's own `quant` + `protect` + `overrides` (a `disparity` or `quantize`
   step re-quantizes with them) and every quantizer's syntax (`polyquant/compile/`).

Measurements are checkpointed (every `checkpoint_every` evaluations, and when stopped) as the
per-window NLLs of each configuration; a resumed step recomputes the codes (deterministic) and
reuses them, so its result equals an uninterrupted run. The model leaves the step bit-exact.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from typing import Any, Optional

import numpy as np

from ..allocate import baselines, solve
from ..allocate.plan import module_table, polyquant_plan
from ..allocate.units import Choice, Unit, bpw_of, build_units, choices_of, expand, modules_of
from ..analysis.bootstrap import BootstrapConfig
from ..analysis.disparity import LanguageUnits, analyse
from ..compile import compile_all
from ..context import KernelContext
from ..errors import CheckpointError, KernelStopped, ParameterError
from ..quant.apply import apply_weights
from ..eval.compare import language_windows, window_bytes, window_nll
from ..eval.perplexity import Protocol, same_protocol
from ..models import resident, structure
from ..quant.methods import quant_summary, quantize_model
from ..quant.mixture import MixedWeights
from ..quant.plan import all_candidates, resolve_targets
from .contract import ContractError, kernel

log = logging.getLogger(__name__)
LN2 = math.log(2.0)
FP = Choice(None)

ADDITIVE_MODEL = (
    "additive in NLL: an allocation's ΔNLL_ℓ is predicted as the sum over units of the ΔNLL_ℓ measured with that unit "
    "alone at its choice (all others in full precision); d_ℓ = exp(ΔNLL_ℓ/T_ℓ) − 1 and ΔBPB_ℓ = ΔNLL_ℓ/(ln 2 · B_ℓ) are "
    "exact under it, the disparity bound uses d ≈ ΔNLL/T; every allocation reported is measured, not predicted"
)


def _key(params: dict, fingerprint: str) -> str:
    """What a checkpoint must match to be resumed: everything that changes a measurement."""
    relevant = {k: params.get(k) for k in ("quant", "protect", "candidates", "full_precision", "protocol")}
    relevant.update(fingerprint=fingerprint, corpus=(params.get("corpus") or {}).get("digest"))
    return hashlib.sha256(json.dumps(relevant, sort_keys=True, default=str).encode()).hexdigest()


def _config_id(assignment: dict[str, Choice]) -> str:
    """A configuration's name in the checkpoint: a digest of its quantized modules and grids."""
    text = ";".join(f"{n}={c.label}" for n, c in sorted(assignment.items()) if c.quantized)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class Measurer:
    """Evaluates per-module assignments on the corpus (each configuration once, checkpointed)."""

    def __init__(self, loaded: Any, modules: list, codes: dict[Choice, dict], windows: dict, docs: dict, protocol: Protocol, languages: list[str], boot: BootstrapConfig, reference: str, state: dict, every: int, ctx: KernelContext):
        self.loaded, self.modules, self.codes, self.windows = loaded, modules, codes, windows
        self.languages, self.boot, self.reference, self.state, self.every, self.ctx = languages, boot, reference, state, every, ctx
        self.batch_size = protocol.batch_size
        self.seg_tokens = {lang: np.array([w.scored for w in windows[lang]], dtype=np.float64) for lang in languages}
        self.seg_bytes = {lang: window_bytes(windows[lang], docs[lang], protocol) for lang in languages}
        self.tokens = np.array([self.seg_tokens[lang].sum() for lang in languages])
        self.bytes = np.array([self.seg_bytes[lang].sum() for lang in languages])
        self.mixed = MixedWeights(loaded.model, [m.param_name for m in modules if not m.fixed])
        self.base = window_nll(loaded, windows, self.batch_size)
        self.base_total = np.array([math.fsum(self.base[lang]) for lang in languages])
        self.count, self.since, self.expected = 0, 0, 0
        self.calibration: Optional[dict] = None  # the step's calibration, documents included (a plan names none)

    def _cached(self, cid: str, evaluate) -> dict[str, np.ndarray]:
        if cid not in self.state["evaluated"]:
            if self.ctx.should_stop():
                self.ctx.checkpoint(self.state)
                raise KernelStopped(f"allocate stopped after {len(self.state['evaluated'])} evaluations")
            nll = evaluate()
            self.state["evaluated"][cid] = {lang: nll[lang].tolist() for lang in self.languages}
            self.since += 1
            if self.since >= self.every:
                self.ctx.checkpoint(self.state)
                self.since = 0
        self.count += 1
        self.ctx.progress(min(self.count, self.expected or self.count), max(self.expected, self.count), "evaluations")
        return {lang: np.asarray(v, dtype=np.float64) for lang, v in self.state["evaluated"][cid].items()}

    def nll(self, assignment: dict[str, Choice]) -> dict[str, np.ndarray]:
        """Per-window NLLs with each module at its assigned candidate's codes (a mixture)."""

        def evaluate() -> dict[str, np.ndarray]:
            by_param = {m.name: m.param_name for m in self.modules}
            self.mixed.set({by_param[n]: self.codes[c][by_param[n]] for n, c in assignment.items() if c.quantized})
            return window_nll(self.loaded, self.windows, self.batch_size)

        return self._cached(_config_id(assignment), evaluate)

    def requantized(self, assignment: dict[str, Choice], plan: dict, method: str) -> dict[str, np.ndarray]:
        """Per-window NLLs of the model quantized afresh with the plan's quant + protect + overrides,
        as a `disparity` step would quantize it. RTN quantizes each module on its own, so this must
        equal the mixture's evaluation: a difference means the plan does not say what was chosen,
        and fails the step. (GPTQ's sequential error feedback makes the two differ; there the
        re-quantized model is the one that counts.)"""

        def evaluate() -> dict[str, np.ndarray]:
            self.mixed.set({})
            targets = resolve_targets(self.loaded.model, plan["quant"], plan["protect"], plan["overrides"])
            result = quantize_model(self.loaded, {**plan["quant"], "calibration": self.calibration}, targets, self.ctx)
            with apply_weights(self.loaded.model, result.weights):
                return window_nll(self.loaded, self.windows, self.batch_size)

        fresh = self._cached("plan:" + _config_id(assignment), evaluate)
        if method == "rtn":
            mixed = self.nll(assignment)
            for lang in self.languages:
                gap = float(np.max(np.abs(fresh[lang] - mixed[lang]) / np.maximum(1.0, np.abs(mixed[lang]))))
                if gap > 1e-5:
                    raise ContractError(f"allocate: the plan re-quantized gives {lang} NLLs {gap:.2e} (relative) away from the allocation it was written from; the plan does not express the allocation")
        return fresh

    def measured_plan(self, assignment: dict[str, Choice], plan: dict, method: str) -> dict:
        return self._stats(self.requantized(assignment, plan, method))

    def dnll(self, assignment: dict[str, Choice]) -> np.ndarray:
        """(L,) measured ΔNLL (nats over the corpus) per language."""
        return self.total_dnll(self.nll(assignment))

    def total_dnll(self, nll: dict[str, np.ndarray]) -> np.ndarray:
        return np.array([math.fsum(nll[lang]) for lang in self.languages]) - self.base_total

    def measured(self, assignment: dict[str, Choice]) -> dict:
        """d and ΔBPB per language with paired bootstrap CIs, the disparity index and the worst language."""
        return self._stats(self.nll(assignment))

    def _stats(self, nll: dict[str, np.ndarray]) -> dict:
        units = {lang: LanguageUnits(self.base[lang], nll[lang], self.seg_tokens[lang], self.seg_bytes[lang]) for lang in self.languages}
        stats = analyse(units, self.reference, self.boot)
        d = {lang: stats["languages"][lang]["degradation"]["value"] for lang in self.languages}
        worst = max(self.languages, key=lambda lang: (d[lang], -self.languages.index(lang)))
        return {
            "degradation": {lang: stats["languages"][lang]["degradation"] for lang in self.languages},
            "delta_bpb": {lang: stats["languages"][lang]["delta_bpb"] for lang in self.languages},
            "disparity": stats["disparity"],
            "worst_language": worst,
            "worst": stats["languages"][worst]["degradation"],
            "mean": math.fsum(d.values()) / len(d),
        }

    def close(self) -> None:
        self.mixed.close()


def _pred_d(dnll: np.ndarray, tokens: np.ndarray, languages: list[str]) -> dict[str, float]:
    return {lang: math.expm1(float(dnll[i]) / float(tokens[i])) for i, lang in enumerate(languages)}


class Bounds:
    """The per-language bounds as linear rows over ΔNLL, and their check on measured values."""

    def __init__(self, raw: dict, resolved_eps: Optional[float], languages: list[str], reference: str, tokens: np.ndarray, n_bytes: np.ndarray):
        self.languages, self.reference = languages, reference
        L = len(languages)
        self.rows: list[solve.Row] = []
        self.eps, self.bpb, self.disparity = resolved_eps, raw.get("delta_bpb"), raw.get("disparity")
        for i, lang in enumerate(languages):
            if self.eps is not None:
                self.rows.append(solve.Row(np.eye(L)[i], float(tokens[i] * math.log1p(self.eps)), f"d_{lang} ≤ {self.eps:.4g}"))
            if self.bpb is not None:
                self.rows.append(solve.Row(np.eye(L)[i] / (LN2 * n_bytes[i]), float(self.bpb), f"ΔBPB_{lang} ≤ {self.bpb:.4g}"))
        if self.disparity is not None:
            r = languages.index(reference)
            w = np.array([1.0 / ((L - 1) * tokens[i]) for i in range(L)])
            w[r] = -float(self.disparity) / tokens[r]
            self.rows.append(solve.Row(w, 0.0, f"disparity ≤ {self.disparity:.4g}"))

    def shortfall(self, m: dict) -> dict[str, float]:
        """Per language, how far the measured values are above the bound (0 when within); the
        disparity index's excess under the key `disparity`."""
        out: dict[str, float] = {}
        for lang in self.languages:
            excess = 0.0
            if self.eps is not None:
                excess = max(excess, m["degradation"][lang]["value"] - self.eps)
            if self.bpb is not None:
                excess = max(excess, m["delta_bpb"][lang]["value"] - self.bpb)
            out[lang] = excess
        if self.disparity is not None:
            value = m["disparity"]["value"]
            out["disparity"] = math.inf if value is None else max(0.0, value - self.disparity)
        return out

    def unconfirmed(self, m: dict) -> list[str]:
        """Languages (and `disparity`) whose 95% CI reaches above the bound: the corpus cannot
        confirm the bound there, even where the point estimate meets it."""
        out = []
        for lang in self.languages:
            hi_d = m["degradation"][lang]["ci"][1]
            hi_b = m["delta_bpb"][lang]["ci"][1]
            if (self.eps is not None and (hi_d is None or hi_d > self.eps)) or (self.bpb is not None and (hi_b is None or hi_b > self.bpb)):
                out.append(lang)
        if self.disparity is not None:
            hi = m["disparity"]["ci"][1]
            if hi is None or hi > self.disparity:
                out.append("disparity")
        return out

    def violated(self, m: dict) -> list[int]:
        """Indices of the rows the measurement breaks (exact values, not the linearisation)."""
        bad = []
        k = 0
        for lang in self.languages:
            if self.eps is not None:
                if m["degradation"][lang]["value"] > self.eps:
                    bad.append(k)
                k += 1
            if self.bpb is not None:
                if m["delta_bpb"][lang]["value"] > self.bpb:
                    bad.append(k)
                k += 1
        if self.disparity is not None:
            value = m["disparity"]["value"]
            if value is None or value > self.disparity or m["degradation"][self.reference]["value"] <= 0 < m["mean"]:
                bad.append(k)
        return bad


def _check(params: dict) -> None:
    quant = params["quant"]
    if quant["method"] not in ("rtn", "gptq"):
        raise ParameterError(
            f"allocate: quant.method {quant['method']!r}: the allocation mixes per-module codes of separately quantized models, "
            "which holds for rtn and gptq; awq folds scales into shared norms and gguf chooses its own types (measure with rtn, compile to AutoAWQ or llama.cpp)"
        )
    for flag in ("include_embeddings", "include_lm_head"):
        if quant.get(flag):
            raise ParameterError(f"allocate: quant.{flag}: the allocation covers the block linears only")
    if params["goal"] == "min-size" and not any(params["bound"].get(k) is not None for k in ("degradation", "delta_bpb", "disparity")):
        raise ParameterError("allocate: goal min-size needs a bound (bound.degradation, bound.delta_bpb or bound.disparity)")
    if params["goal"] == "min-worst" and params.get("budget_bpw") is None:
        raise ParameterError("allocate: goal min-worst needs budget_bpw (a number, or {uniform_bits: 4})")


def _reference_choice(spec: dict, choices: list[Choice], quant: dict, where: str) -> Choice:
    """The candidate `{uniform_bits: b}` names (the step's group size and symmetry)."""
    wanted = [c for c in choices if c.quantized and c.bits == spec["uniform_bits"]]
    exact = [c for c in wanted if c.group_size == quant["group_size"] and c.sym == bool(quant["sym"])]
    if not (exact or wanted):
        raise ParameterError(f"{where}.uniform_bits {spec['uniform_bits']} is not among the candidates' bits ({', '.join(c.label for c in choices)})")
    return (exact or wanted)[0]


@kernel("allocate")
def run(params: dict, ctx: KernelContext) -> dict:
    _check(params)
    quant, protect, goal = params["quant"], params["protect"], params["goal"]
    loaded = resident.get(params["model"])
    corpus = params["corpus"]
    languages = list(corpus["languages"])
    reference = params["reference"]
    if reference not in languages:
        raise ParameterError(f"reference language {reference!r} is not in the corpus languages {', '.join(languages)}")
    if len(languages) < 2:
        raise ParameterError("allocate compares languages: the corpus needs at least two")
    n_layers = structure.num_layers(loaded.model)
    targets = resolve_targets(loaded.model, quant, protect, [])
    if not targets:
        raise ParameterError("protect leaves no module to quantize")
    modules = modules_of(all_candidates(loaded.model, quant), targets)
    choices = choices_of(params["candidates"], quant, params["full_precision"], modules)
    units = build_units(modules, params["units"])
    boot = BootstrapConfig.from_params(params["bootstrap"])

    key = _key(params, loaded.fingerprint)
    state = ctx.resume_state
    if state is not None and state.get("key") != key:
        raise CheckpointError("the allocate checkpoint was written for other parameters, model or corpus; rerun with --force")
    state = state or {"key": key, "evaluated": {}}

    codes: dict[Choice, dict] = {}
    for c in choices:  # one quantization pass per candidate grid, kept as codes (recomputed on resume)
        if c.quantized:
            ctx.log(f"candidate {c.label}: quantizing every target ({quant['method']})")
            qc = {**quant, "bits": c.bits, "group_size": c.group_size, "sym": c.sym}
            codes[c] = quantize_model(loaded, qc, resolve_targets(loaded.model, qc, protect, []), ctx, coded=True).coded

    protocol, windows, docs = language_windows(loaded, corpus, Protocol.from_params(params["protocol"]))
    m = Measurer(loaded, modules, codes, windows, docs, protocol, languages, boot, reference, state, params["checkpoint_every"], ctx)
    m.calibration = quant.get("calibration")
    try:
        return _allocate(params, ctx, loaded, m, modules, units, choices, n_layers, goal, quant, protect, protocol)
    finally:
        if m.since:
            ctx.checkpoint(state)
        m.close()  # the model leaves the step as it came, also when stopped or failed


def _allocate(params, ctx, loaded, m: Measurer, modules, units: list[Unit], choices: list[Choice], n_layers: int, goal: str, quant: dict, protect: dict, protocol: Protocol) -> dict:
    languages = m.languages
    quantized = [c for c in choices if c.quantized]
    n_eval_baselines = (3 * len(quantized) + 2 * (len(quantized) + 1)) if params["baselines"] else 0
    m.expected = sum(1 for u in units if u.free) * len(quantized) + params["verify"]["max_iterations"] + n_eval_baselines

    # 1. sensitivities: each unit alone at each candidate (from quantize-one sweeps where given)
    U, C, L = len(units), len(choices), len(languages)
    dnll = np.zeros((U, C, L))
    allowed = np.ones((U, C), dtype=bool)
    known = _from_sweeps(params["sweeps"], params, units, choices, modules, m, protocol, quant, dnll)
    for u, unit in enumerate(units):
        for c, choice in enumerate(choices):
            if not choice.quantized:
                continue
            if not unit.free:
                allowed[u, c] = False
                continue
            if (u, c) in known:
                continue
            picks = [choice if v is unit else FP for v in units]
            dnll[u, c] = m.dnll(expand(units, picks))
    problem = solve.Problem(np.array([[unit.bits(c) for c in choices] for unit in units]), dnll, m.tokens, allowed)
    total_params = sum(mod.params for mod in modules)

    def bpw_of_picks(picks: list[int]) -> float:
        return problem.size(picks) / total_params

    def assignment_of(picks: list[int]) -> dict[str, Choice]:
        return expand(units, [choices[c] for c in picks])

    uniform_measured: dict[Choice, dict] = {}

    def uniform_point(choice: Choice) -> dict:
        if choice not in uniform_measured:
            uniform_measured[choice] = m.measured(baselines.uniform(modules, choice))
        return uniform_measured[choice]

    # 2. the bound or budget, resolved
    bound_raw = params["bound"]
    eps: Optional[float] = None
    bound_record: dict[str, Any] = {}
    if bound_raw.get("degradation") is not None:
        spec = bound_raw["degradation"]
        if isinstance(spec, dict):
            ref_choice = _reference_choice(spec, choices, quant, "bound.degradation")
            lang = spec.get("language") or params["reference"]
            if lang not in languages:
                raise ParameterError(f"bound.degradation.language {lang!r} is not in the corpus languages {', '.join(languages)}")
            eps = spec["factor"] * uniform_point(ref_choice)["degradation"][lang]["value"]
            if eps < 0:
                raise ParameterError(
                    f"bound.degradation resolved to {100 * eps:+.3f}% ({spec['factor']:g} × d_{lang} of uniform {ref_choice.label}): below 0, which not even "
                    f"full precision meets; on this corpus {ref_choice.label} does not measurably hurt {lang} — give a larger corpus or a number"
                )
            bound_record["degradation"] = {"value": eps, "from": f"{spec['factor']:g} × d_{lang} of uniform {ref_choice.label}"}
        else:
            eps = float(spec)
            bound_record["degradation"] = {"value": eps, "from": "given"}
    for k in ("delta_bpb", "disparity"):
        if bound_raw.get(k) is not None:
            bound_record[k] = {"value": float(bound_raw[k]), "from": "given"}
    bounds = Bounds(bound_raw, eps, languages, params["reference"], m.tokens, m.bytes)

    budget_bpw: Optional[float] = None
    if goal == "min-worst":
        b = params["budget_bpw"]
        budget_bpw = bpw_of(modules, baselines.uniform(modules, _reference_choice(b, choices, quant, "budget_bpw"))) if isinstance(b, dict) else float(b)
        bound_record["budget_bpw"] = {"value": budget_bpw, "from": f"uniform int{b['uniform_bits']}" if isinstance(b, dict) else "given"}

    # 3. solve and verify
    iterations: list[dict] = []
    cuts: list[list[int]] = []
    rows = list(bounds.rows)
    chosen: Optional[tuple[list[int], dict]] = None
    unmet_reason: Optional[str] = None
    for it in range(params["verify"]["max_iterations"]):
        if goal == "min-size":
            picks = solve.min_size(problem, rows, cuts)
        else:
            picks = solve.min_worst(problem, budget_bpw * total_params * (1 + 1e-12), cuts)
        if picks is None:
            unmet_reason = "no allocation of the candidates meets the bounds under the additive model" if it == 0 else "no other allocation is left that the corrected bounds admit"
            break
        pred = problem.predicted(picks)
        plan = polyquant_plan(modules, assignment_of(picks), quant, protect)
        meas = m.measured_plan(assignment_of(picks), plan, quant["method"])
        bad = bounds.violated(meas) if goal == "min-size" else []
        iterations.append({
            "bpw": bpw_of_picks(picks), "predicted": _pred_d(pred, m.tokens, languages),
            "measured": {lang: meas["degradation"][lang]["value"] for lang in languages},
            "violated": [rows[k].name for k in bad],
        })  # fmt: skip
        if chosen is None or _worse(chosen[1], meas, bounds):
            chosen = (picks, meas)
        if not bad:
            chosen = (picks, meas)
            break
        meas_dnll = m.total_dnll(m.requantized(assignment_of(picks), plan, quant["method"]))
        for k in bad:  # the interaction the additive model missed tightens the broken bound
            r = rows[k]
            miss = float(r.w @ meas_dnll - r.w @ pred)
            over = float(r.w @ meas_dnll - bounds.rows[k].b)
            rows[k] = solve.Row(r.w, r.b - max(miss, over, 1e-12 * abs(r.b) + 1e-12), r.name)
        cuts.append(picks)
    if chosen is None:  # not even the prediction admits an allocation: report the least-degrading one, and by how much it misses
        picks = solve.min_worst(problem, math.inf)
        a = assignment_of(picks)
        iterations.append({"bpw": bpw_of_picks(picks), "predicted": _pred_d(problem.predicted(picks), m.tokens, languages), "measured": {}, "violated": []})
        chosen = (picks, m.measured_plan(a, polyquant_plan(modules, a, quant, protect), quant["method"]))
        iterations[-1]["measured"] = {lang: chosen[1]["degradation"][lang]["value"] for lang in languages}
        unmet_reason = f"{unmet_reason} (full precision {'allowed' if params['full_precision'] else 'not allowed'}); the least-degrading allocation is reported"
    picks, meas = chosen
    assignment = assignment_of(picks)
    shortfall = bounds.shortfall(meas) if goal == "min-size" else {lang: 0.0 for lang in languages}
    met = all(v <= 0 for v in shortfall.values())
    pred = problem.predicted(picks)
    bpw = bpw_of_picks(picks)

    # 4. baselines and the Pareto curves
    comparison = _baselines(m, problem, modules, units, choices, quant, n_layers, total_params, bpw, assignment_of) if params["baselines"] else None

    plan = polyquant_plan(modules, assignment, quant, protect)
    table = module_table(modules, assignment)
    other_params = _other_params(loaded.model, modules)
    return {
        "goal": goal,
        "model": ADDITIVE_MODEL,
        "units": params["units"],
        "reference": params["reference"],
        "languages": languages,
        "candidates": [{**c.record(), "bpw": c.bpw(max(mod.in_features for mod in modules))} for c in choices],
        "bound": bound_record,
        "sensitivities": [
            {"unit": unit.label, "layers": list(unit.layers), "params": unit.params,
             "choices": {choices[c].label: {lang: math.expm1(dnll[u, c, i] / m.tokens[i]) for i, lang in enumerate(languages)}
                         for c in range(C) if choices[c].quantized and allowed[u, c]}}
            for u, unit in enumerate(units)
        ],  # fmt: skip
        "allocation": {
            "units": [{"unit": unit.label, "choice": choices[picks[u]].label} for u, unit in enumerate(units)],
            "bpw": bpw,
            "bytes": {"linears": problem.size(picks) / 8, "model": problem.size(picks) / 8 + 2 * other_params},
            "predicted": _pred_d(pred, m.tokens, languages),
            "measured": meas["degradation"],
            "delta_bpb": meas["delta_bpb"],
            "disparity": meas["disparity"],
            "worst_language": meas["worst_language"],
            "met": met,
            "unconfirmed": bounds.unconfirmed(meas) if goal == "min-size" else [],
            "shortfall": shortfall,
            "reason": None if met else (unmet_reason or f"no allocation met every bound within {params['verify']['max_iterations']} verified iterations; the best measured one is reported"),
        },
        "iterations": iterations,
        "baselines": comparison,
        "plan": {**plan, "modules": table},
        "compiled": compile_all(table, plan["quant"], loaded),
        "quant": quant_summary(quant),
        "configurations": len(m.state["evaluated"]),
        "protocol": protocol.record(),
    }


def _from_sweeps(sweeps: list, params: dict, units: list[Unit], choices: list[Choice], modules: list, m: Measurer, protocol: Protocol, quant: dict, dnll: np.ndarray) -> set[tuple[int, int]]:
    """Fill ΔNLL[u, c] from layer-sweep outputs (quantize-one): ΔNLL_ℓ = T_ℓ · ln(1 + d_ℓ). Each
    sweep must have run on this model, corpus and protocol, which its baseline perplexities
    (equal to ours to 1e-9) and protocol record show; returns the (unit, choice) cells it filled."""
    filled: set[tuple[int, int]] = set()
    ppl = {lang: math.exp(m.base_total[i] / m.tokens[i]) for i, lang in enumerate(m.languages)}
    fixed = sorted(mod.name for mod in modules if mod.fixed)
    for k, sw in enumerate(sweeps):
        where = f"sweeps[{k}]"
        if sw.get("mode") != "quantize-one":
            raise ParameterError(f"{where}: a layer-sweep in mode quantize-one gives sensitivities; this one ran {sw.get('mode')!r}")
        if params["units"] != "layers":
            raise ParameterError(f"{where}: a layer sweep measures whole layers; it serves units: layers, not {params['units']}")
        q = sw.get("quant") or {}
        if q.get("method") != quant["method"]:
            raise ParameterError(f"{where}: the sweep quantized with {q.get('method')!r}, this step with {quant['method']!r}")
        choice = Choice(q.get("bits"), q.get("group_size"), bool(q.get("sym")))
        if choice not in choices:
            raise ParameterError(f"{where}: the sweep's grid {choice.label} is not among the candidates ({', '.join(c.label for c in choices)})")
        if not same_protocol(sw.get("protocol"), protocol.record()):
            raise ParameterError(f"{where}: the sweep's protocol {sw.get('protocol')} is not this step's {protocol.record()}")
        for lang in m.languages:
            theirs = (sw.get("baseline") or {}).get(lang)
            if theirs is None or abs(theirs - ppl[lang]) > 1e-9 * ppl[lang]:
                raise ParameterError(f"{where}: its baseline perplexity of {lang} ({theirs}) is not this step's ({ppl[lang]:.10g}): it ran on another model, corpus or protocol")
        if sorted(sw.get("protected") or []) != fixed:
            raise ParameterError(f"{where}: it protected {sorted(sw.get('protected') or [])}, this step protects {fixed}")
        c = choices.index(choice)
        by_layers = {unit.layers: u for u, unit in enumerate(units)}
        for row in sw.get("rows") or []:
            u = by_layers.get(tuple(row["layers"]))
            if u is None:
                raise ParameterError(f"{where}: row {row.get('label')} covers layers {row['layers']}, which is not one unit")
            dnll[u, c] = [m.tokens[i] * math.log1p(row["degradation"][lang]) for i, lang in enumerate(m.languages)]
            filled.add((u, c))
    return filled


def _worse(best: dict, candidate: dict, bounds: Bounds) -> bool:
    """Whether `candidate` breaks the bounds by less than `best` (the allocation kept when none is met)."""
    return max(bounds.shortfall(candidate).values()) < max(bounds.shortfall(best).values())


def _other_params(model: Any, modules: list) -> int:
    """Parameters outside the allocated linears (embeddings, norms, head), counted once when tied."""
    seen, total = set(), 0
    linear = {m.param_name for m in modules}
    for name, p in model.named_parameters():
        if id(p) in seen or name in linear:
            continue
        seen.add(id(p))
        total += p.numel()
    return total


def _point(strategy: str, label: str, bpw: float, meas: dict) -> dict:
    return {"strategy": strategy, "label": label, "bpw": bpw, "worst_language": meas["worst_language"], "worst": meas["worst"], "mean": meas["mean"], "degradation": {k: v["value"] for k, v in meas["degradation"].items()}}


def _baselines(m: Measurer, problem, modules, units, choices, quant, n_layers, total_params, alloc_bpw, assignment_of) -> dict:
    """Every strategy's measured points, and each baseline beside the worst-language optimum at its size."""
    quantized = sorted((c for c in choices if c.quantized), key=lambda c: (c.bits, c.group_size))
    curves: dict[str, list[dict]] = {"uniform": [], "first + last block fp16": [], "Q4_K_M rule": [], "average-loss optimal": [], "worst-language optimal": []}

    def add(strategy: str, label: str, assignment: dict[str, Choice]) -> dict:
        point = _point(strategy, label, bpw_of(modules, assignment), m.measured(assignment))
        curves[strategy].append(point)
        return point

    base = next((c for c in quantized if c.bits == quant["bits"] and c.group_size == quant["group_size"]), quantized[0])
    at_base: list[dict] = []  # the three rule-based baselines at the step's own grid
    for c in quantized:
        points = [add("uniform", f"uniform {c.label}", baselines.uniform(modules, c)),
                  add("first + last block fp16", f"{c.label}, L0 + L{n_layers - 1} fp16", baselines.protect_ends(modules, c, n_layers))]
        rule = baselines.q4_k_m_rule(modules, c, choices, n_layers)
        if rule is not None:
            points.append(add("Q4_K_M rule", f"{c.label}, attn_v/ffn_down bumped", rule))
        if c == base:
            at_base = points
    budgets = sorted({p["bpw"] for p in curves["uniform"]} | {alloc_bpw})
    solved: dict[tuple[str, float], dict] = {}
    for b in budgets:
        for strategy, fn in (("average-loss optimal", solve.min_mean), ("worst-language optimal", solve.min_worst)):
            picks = fn(problem, b * total_params * (1 + 1e-12))
            if picks is not None:
                solved[(strategy, b)] = add(strategy, f"{strategy} ≤ {b:.3f} bpw", assignment_of(picks))
    head_to_head = []
    avg = solved.get(("average-loss optimal", alloc_bpw))
    for p in at_base + ([avg] if avg else []):
        picks = solve.min_worst(problem, p["bpw"] * total_params * (1 + 1e-12))
        ours = None
        if picks is not None:
            a = assignment_of(picks)
            ours = _point("worst-language optimal", f"worst-language optimal ≤ {p['bpw']:.3f} bpw", bpw_of(modules, a), m.measured(a))
        head_to_head.append({"baseline": p, "optimal": ours})
    for pts in curves.values():
        pts.sort(key=lambda p: p["bpw"])
    return {"curves": [{"strategy": s, "points": pts} for s, pts in curves.items()], "equal_bpw": head_to_head}
