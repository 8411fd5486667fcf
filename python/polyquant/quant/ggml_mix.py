"""llama.cpp's per-tensor type choice for its mixed file types (llama-quantize's Q4_K_M, Q3_K_S …).

A GGUF "Q4_K_M" is not Q4_K everywhere: llama-quantize gives more bits to the output, to some
attn_v and ffn_down layers, and falls back to a 32-wide block type where a row length is not a
multiple of 256. To compare polyquant's methods with the files people publish, polyquant must
put the same type on the same tensor; this module says which, as a pure function of plain data
(`choose_types`), so that the plan can be stored, tested and applied separately.

Specification: ggml-org/llama.cpp `src/llama-quant.cpp` at commit
007dbbf3fd17eefe9b47fee45f48f7ba5e62b714, functions `llama_tensor_get_type` (outer wrapper:
the mixture unless `pure`, then the fallback), `llama_tensor_get_type_impl` (the rules),
`tensor_type_fallback`, `llama_ftype_get_default_type`, `init_quantize_state_counters` and
`llama_quant_model_from_metadata` (how a 70B is recognised). The code below is ours; the
comments name the branch each rule comes from. Two things differ from the older copy at
8784689fee07c6daabf3487d24e1535534ef6e6b, and we follow the newer one: Q2_K / Q3_K fall back to
Q4_0 (was IQ4_NL), and a fused attn_qkv takes the attn_v rules and counter (`category_is_attn_v`
now routes it there, leaving the later ATTENTION_QKV branch unreachable).

Counters, as in `quantize_state_impl`: `n_attention_wv` counts the attn_v-like tensors of the
list, `i_attention_wv` advances at each of them in list order; `n_ffn_down` is the model's
layer count (not a tensor count) and `i_ffn_down` advances at each ffn_down. So the list must be
in model order, and a module left out of the list (protected) shifts the attn_v count exactly as
a tensor missing from a GGUF would.

Left out: importance matrices (no rule here depends on one except the Q4_0 / Q5_0 ffn_down guard,
which needs one); the IQ*, TQ*, Q2_K_S, MXFP4 and NVFP4 file types; the user overrides
(`--output-tensor-type`, `--token-embedding-type`, `--tensor-type`); which tensors are quantized
at all (`tensor_allows_quantization`: the caller's targets decide, and "other" takes the default).
Cheap model facts are modelled: n_gqa, n_expert (== 8 rules, and the layer read from the tensor
when n_expert > 1), the "falcon" architecture, and the Llama 70B attn_v bump.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from ..errors import ParameterError

# ggml's block sizes (ggml_blck_size): QK4_0 … QK8_0 = 32, QK_K = 256
BLOCK_SIZES: dict[str, int] = {
    "Q4_0": 32, "Q4_1": 32, "Q5_0": 32, "Q5_1": 32, "Q8_0": 32,
    "Q2_K": 256, "Q3_K": 256, "Q4_K": 256, "Q5_K": 256, "Q6_K": 256,
}  # fmt: skip
BLOCK_TYPES: tuple[str, ...] = tuple(BLOCK_SIZES)

# file type (LLAMA_FTYPE_MOSTLY_<name>) -> its default tensor type (llama_ftype_get_default_type)
PRESETS: dict[str, str] = {
    "Q2_K": "Q2_K",
    "Q3_K_S": "Q3_K", "Q3_K_M": "Q3_K", "Q3_K_L": "Q3_K",
    "Q4_K_S": "Q4_K", "Q4_K_M": "Q4_K",
    "Q5_K_S": "Q5_K", "Q5_K_M": "Q5_K",
    "Q6_K": "Q6_K",
    "Q8_0": "Q8_0", "Q4_0": "Q4_0", "Q4_1": "Q4_1", "Q5_0": "Q5_0", "Q5_1": "Q5_1",
}  # fmt: skip

# tensor_type_fallback: a row length the type's block does not divide -> this type (then F16)
FALLBACK: dict[str, str] = {"Q2_K": "Q4_0", "Q3_K": "Q4_0", "Q4_K": "Q5_0", "Q5_K": "Q5_1", "Q6_K": "Q8_0"}

# llama.cpp's tensor_category, by our names
ROLES: tuple[str, ...] = (
    "token_embd", "output", "attn_q", "attn_k", "attn_v", "attn_qkv", "attn_kv_b", "attn_output",
    "ffn_gate", "ffn_up", "ffn_down", "other",
)  # fmt: skip
ATTN_V_LIKE = frozenset({"attn_v", "attn_qkv", "attn_kv_b"})  # category_is_attn_v


@dataclass(frozen=True)
class TensorRole:
    """One weight as llama.cpp sees it: its category, layer and shape (ggml's ne[0] = cols)."""

    name: str  # polyquant's module name, only for messages
    role: str  # one of ROLES
    layer: Optional[int]  # block index; None outside the blocks
    rows: int  # out_features (ne[1])
    cols: int  # in_features: the row length a block must divide (ne[0])


@dataclass(frozen=True)
class ModelFacts:
    """The hyper-parameters llama_tensor_get_type_impl reads."""

    n_layers: int  # hparams.n_layer: n_ffn_down, and the 70B test
    n_head: int
    n_head_kv: int  # n_gqa = n_head // n_head_kv (0 when n_head_kv is 0, as hparams.n_gqa)
    n_expert: int = 0  # 0 or 1: dense; the "== 8" rules are Mixtral's
    tied_output: bool = False  # lm_head is the embedding: token_embd takes the output rule
    arch: str = "llama"  # llama.cpp's architecture name; "falcon" has its own rules

    @property
    def n_gqa(self) -> int:
        return self.n_head // self.n_head_kv if self.n_head_kv else 0

    @property
    def is_70b(self) -> bool:
        """LLM_TYPE_70B as llama_quant_model_from_metadata infers it (the only type the rules read)."""
        return self.arch == "llama" and self.n_layers == 80 and self.n_head != self.n_head_kv


@dataclass(frozen=True)
class Choice:
    tensor: TensorRole
    ggml_type: str  # a BLOCK_TYPES name, or "F16" when even the fallback's block does not fit
    reason: str  # which rule chose it, e.g. "use_more_bits(ffn_down 0/32) -> Q6_K"


# (role, fragments) in match order; a fragment matches whole dot-separated segments of the name
_ROLE_FRAGMENTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("ffn_down", ("down_proj", "mlp.c_proj", "fc2", "dense_4h_to_h")),
    ("attn_output", ("o_proj", "out_proj", "self_attn.dense", "attention.dense", "self_attention.dense", "attn.c_proj")),
    ("attn_qkv", ("c_attn", "qkv_proj", "query_key_value")),
    ("attn_kv_b", ("kv_b_proj",)),
    ("attn_q", ("q_proj",)),
    ("attn_k", ("k_proj",)),
    ("attn_v", ("v_proj",)),
    ("ffn_gate", ("gate_proj",)),
    ("ffn_up", ("up_proj", "gate_up_proj", "c_fc", "fc1", "dense_h_to_4h")),  # Phi-3 fuses gate and up into ffn_up
    ("token_embd", ("embed_tokens", "wte", "word_embeddings", "embed_in")),
    ("output", ("lm_head", "embed_out")),
)
_LAYER = re.compile(r"\.(?:layers|h|blocks)\.(\d+)\.")


def role_of(module_name: str) -> tuple[str, Optional[int]]:
    """The llama.cpp category and block index of a Hugging Face module name (Llama, Qwen, GPT-2 …)."""
    dotted = f".{module_name}."
    m = _LAYER.search(dotted)
    layer = int(m.group(1)) if m else None
    for role, fragments in _ROLE_FRAGMENTS:
        if any(f".{f}." in dotted for f in fragments):
            return role, layer
    return "other", layer


def use_more_bits(i_layer: int, n_layers: int) -> bool:
    """The first and last eighth of the layers, and every third one between (llama_tensor_get_type_impl)."""
    return i_layer < n_layers // 8 or i_layer >= 7 * n_layers // 8 or (i_layer - n_layers // 8) % 3 == 2


@dataclass
class _Counters:
    """quantize_state_impl's counters for one pass over the tensors."""

    n_attention_wv: int
    n_ffn_down: int
    i_attention_wv: int = 0
    i_ffn_down: int = 0


Rule = Optional[tuple[str, str]]  # (type, reason), or None: the default stays


def _output_rule(ftype: str, default: str, t: TensorRole, facts: ModelFacts) -> Rule:
    """OUTPUT, or TOKEN_EMBD of a tied model: Q8_0 where the default's block does not fit, else Q6_K."""
    who = "output" if t.role == "output" else "tied token_embd (output rule)"
    if facts.arch == "falcon":
        return "Q8_0", f"{who} of falcon -> Q8_0"
    if t.cols % BLOCK_SIZES[default] != 0:
        return "Q8_0", f"{who} row length {t.cols} not a multiple of {BLOCK_SIZES[default]} -> Q8_0"
    if default != "Q8_0":
        return "Q6_K", f"{who} -> Q6_K"
    return None


def _attn_v_rule(ftype: str, default: str, facts: ModelFacts, c: _Counters) -> Rule:
    """The attn_v-like branch: a per-ftype choice, then the 70B bump, then the 8-expert Q8_0."""
    i, n = c.i_attention_wv, c.n_attention_wv
    rule: Rule = None
    if ftype == "Q2_K":
        rule = ("Q4_K", f"attn_v with n_gqa {facts.n_gqa} >= 4 -> Q4_K") if facts.n_gqa >= 4 else ("Q3_K", "attn_v -> Q3_K")
    elif ftype == "Q3_K_M":
        rule = ("Q5_K", f"attn_v {i}/{n} < 2 -> Q5_K") if i < 2 else ("Q4_K", f"attn_v {i}/{n} -> Q4_K")
    elif ftype == "Q3_K_L":
        rule = "Q5_K", "attn_v -> Q5_K"
    elif ftype in ("Q4_K_M", "Q5_K_M") and use_more_bits(i, n):
        rule = "Q6_K", f"use_more_bits(attn_v {i}/{n}) -> Q6_K"
    elif ftype == "Q4_K_S" and i < 4:
        rule = "Q5_K", f"attn_v {i}/{n} < 4 -> Q5_K"
    chosen = rule[0] if rule else default
    if facts.is_70b and chosen in ("Q3_K", "Q4_K"):
        rule = "Q5_K", f"attn_v of a 70B {chosen} -> Q5_K"
    if facts.n_expert == 8:
        rule = "Q8_0", "attn_v of an 8-expert model -> Q8_0"
    return rule


def _ffn_down_rule(ftype: str, t: TensorRole, facts: ModelFacts, c: _Counters) -> Rule:
    """The ffn_down branch; its layer is the counter, or the tensor's own layer in a MoE (layer_info)."""
    i, n = c.i_ffn_down, c.n_ffn_down
    if max(1, facts.n_expert) > 1:
        if t.layer is None or not 0 <= t.layer < n:
            raise ParameterError(f"tensor {t.name}: layer {t.layer} of an ffn_down must be in [0, {n}) in a MoE model")
        i = t.layer
    where, falcon, more = f"ffn_down {i}/{n}", facts.arch == "falcon", use_more_bits(i, n)
    if ftype == "Q2_K":
        return "Q3_K", "ffn_down -> Q3_K"
    if ftype == "Q3_K_M":
        if i < n // 16:
            return "Q5_K", f"{where} < n/16 -> Q5_K"
        if not falcon:
            return "Q4_K", f"{where} -> Q4_K"
        return ("Q4_K", f"use_more_bits({where}) -> Q4_K") if more else ("Q3_K", f"{where} of falcon -> Q3_K")
    if ftype == "Q3_K_L":
        return ("Q4_K", "ffn_down of falcon -> Q4_K") if falcon else ("Q5_K", "ffn_down -> Q5_K")
    if ftype == "Q4_K_M":
        if falcon:
            if i < n // 16:
                return "Q6_K", f"{where} of falcon < n/16 -> Q6_K"
            return ("Q5_K", f"use_more_bits({where}) of falcon -> Q5_K") if more else None
        return ("Q6_K", f"use_more_bits({where}) -> Q6_K") if more else None
    if ftype == "Q5_K_M" and more:
        return "Q6_K", f"use_more_bits({where}) -> Q6_K"
    if ftype == "Q4_K_S" and not falcon and i < n // 8:
        return "Q5_K", f"{where} < n/8 -> Q5_K"
    # left out: Q4_0 / Q5_0 -> Q4_1 / Q5_1 in the first eighth, only with an importance matrix
    return None


def _attn_output_rule(ftype: str, facts: ModelFacts) -> Rule:
    if facts.arch == "falcon":
        return ("Q4_K", "attn_output of falcon -> Q4_K") if ftype == "Q3_K_L" else None
    if facts.n_expert == 8:
        if ftype in ("Q2_K", "Q3_K_S", "Q3_K_M", "Q4_K_S", "Q4_K_M"):
            return "Q5_K", "attn_output of an 8-expert model -> Q5_K"
        return None
    bumped = {"Q2_K": "Q3_K", "Q3_K_M": "Q4_K", "Q3_K_L": "Q5_K"}.get(ftype)
    return (bumped, f"attn_output -> {bumped}") if bumped else None


def _mixture_rule(ftype: str, default: str, t: TensorRole, facts: ModelFacts, c: _Counters) -> Rule:
    """llama_tensor_get_type_impl for one tensor, its branches in llama.cpp's order; advances the counters."""
    if t.role == "output" or (facts.tied_output and t.role == "token_embd"):
        return _output_rule(ftype, default, t, facts)
    if t.role == "token_embd":
        return None  # its rules are for IQ / TQ file types only
    if t.role in ATTN_V_LIKE:
        rule = _attn_v_rule(ftype, default, facts, c)
        c.i_attention_wv += 1
        return rule
    if t.role == "attn_k":
        return ("Q8_0", "attn_k of an 8-expert model -> Q8_0") if facts.n_expert == 8 else None
    if t.role == "ffn_down":
        rule = _ffn_down_rule(ftype, t, facts, c)
        c.i_ffn_down += 1
        return rule
    if t.role == "attn_output":
        return _attn_output_rule(ftype, facts)
    return None  # attn_q, ffn_gate, ffn_up: rules only for IQ3 file types; other: the default


def _fallback(t: TensorRole, chosen: str, reason: str, default_reason: str) -> tuple[str, str]:
    """tensor_type_fallback: a 32-wide type where the row length is not a multiple of the block, else F16."""
    block = BLOCK_SIZES[chosen]
    if t.cols % block == 0:
        return chosen, reason
    if chosen not in FALLBACK:
        raise ParameterError(
            f"tensor {t.name}: row length {t.cols} is not a multiple of {block}, and {chosen} has no fallback type"
        )
    to = FALLBACK[chosen]
    if t.cols % BLOCK_SIZES[to] != 0:
        to = "F16"  # "must use F16 due to unusual shape"
    note = f"row length {t.cols} not a multiple of {block} -> fallback {to}"
    return to, note if reason == default_reason else f"{reason}; {note}"


def _check(type_or_preset: str, tensors: list[TensorRole], facts: ModelFacts) -> None:
    if type_or_preset not in PRESETS and type_or_preset not in BLOCK_SIZES:
        valid = ", ".join(sorted(set(PRESETS) | set(BLOCK_TYPES)))
        raise ParameterError(f"unknown GGML type or preset {type_or_preset!r}; valid: {valid}")
    if facts.n_layers <= 0:
        raise ParameterError(f"n_layers {facts.n_layers} must be positive")
    for t in tensors:
        if t.role not in ROLES:
            raise ParameterError(f"tensor {t.name}: unknown role {t.role!r}; valid: {', '.join(ROLES)}")
        if t.cols <= 0:
            raise ParameterError(f"tensor {t.name}: row length {t.cols} must be positive")


def choose_types(type_or_preset: str, tensors: list[TensorRole], facts: ModelFacts, pure: bool = False) -> list[Choice]:
    """The GGML type of each tensor (in model order) under a llama-quantize preset or a plain block type.

    A name that is both (Q2_K, Q6_K, Q8_0, Q4_0 …) means the preset, as on llama-quantize's command
    line, so "Q4_0" gives the output Q6_K. `pure` (llama-quantize --pure) skips the mixture and
    keeps only the row-length fallback, which is all a bare Q3_K, Q4_K or Q5_K (no preset) gets.
    """
    _check(type_or_preset, tensors, facts)
    ftype = type_or_preset if type_or_preset in PRESETS else None
    default = PRESETS[ftype] if ftype else type_or_preset
    mixed = ftype is not None and not pure
    default_reason = "preset default" if mixed else "plain type"
    counters = _Counters(n_attention_wv=sum(t.role in ATTN_V_LIKE for t in tensors), n_ffn_down=facts.n_layers)
    choices = []
    for t in tensors:
        rule = _mixture_rule(ftype, default, t, facts, counters) if mixed else None
        chosen, reason = rule if rule else (default, default_reason)
        chosen, reason = _fallback(t, chosen, reason, default_reason)
        choices.append(Choice(tensor=t, ggml_type=chosen, reason=reason))
    return choices
