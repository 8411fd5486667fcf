"""Calibration sets for GPTQ and AWQ (PRO-002), and the activations they produce inside a model.

`build_calibration(tokenizer, corpus, languages, mix, samples, seq_len, seed)` draws `samples`
windows of `seq_len` consecutive tokens from each language's documents (a ResolvedCorpus, see
docs/internals.md) and returns them as one LongTensor (n, seq_len), shuffled so that batches mix
languages, plus the metadata that goes into the artifact and the cache key.

Mixtures:
- `bytes` (the default): every language contributes (nearly) the same number of UTF-8 bytes of text.
  Tokenizers spend up to 15× more tokens per byte on some scripts, so equal *samples* of seq_len
  tokens would give those languages far less text. A language's sample count is proportional to its
  tokens per byte t_l: a window of seq_len tokens holds ≈ seq_len / t_l bytes, so k_l ∝ t_l
  equalises k_l · seq_len / t_l. Counts are rounded by largest remainder (each language gets ≥ 1).
- `samples`: equal sample counts (remainders to the first languages in order).

Each language's documents are joined with blank lines and tokenized once (no special tokens); a
window starts at a uniformly drawn token offset (torch.Generator seeded with `seed`, so the set is
the same on every machine). A language with fewer than seq_len tokens is repeated to fill a window,
and the metadata says so. seq_len is clamped to the model's context length (the fixtures have 128).

`capture_block_inputs` runs the model on the calibration ids up to its last block, keeping block
0's hidden states and, for every block, whatever else the model passes it (its own attention mask,
rotary embeddings, position ids), and checks on the first batch that replaying each recorded call
gives the model's own output; `run_block` runs one block on those inputs. GPTQ and AWQ both walk
the model with them.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any, Optional

import torch
from torch import nn

from ..errors import CorpusError, ModelError, ParameterError
from ..models import structure

log = logging.getLogger(__name__)

MIXES = ("bytes", "samples")
DOC_SEPARATOR = "\n\n"  # between documents of one language in its token stream


@dataclass
class CalibrationConfig:
    """`quant.calibration` of a workflow (src/kernels/common.ts CalibrationSpec), corpus resolved."""

    corpus: Optional[dict] = None  # a ResolvedCorpus {source, split, digest, languages: {lang: [docs]}}
    languages: Optional[list[str]] = None  # None: every language of the corpus, in its order
    mix: str = "bytes"  # bytes: equal UTF-8 bytes per language; samples: equal sample counts
    samples: int = 128  # calibration sequences in total
    seq_len: int = 512  # tokens per sequence (clamped to the model's context length)
    seed: int = 0  # window positions and the shuffle

    @classmethod
    def from_quant(cls, quant: dict) -> "CalibrationConfig":
        raw = quant.get("calibration")
        if not raw:
            raise ParameterError(f"quant.calibration is required by method {quant.get('method', '?')!r} (a corpus, languages, samples, seq_len)")
        unknown = set(raw) - set(cls.__dataclass_fields__)
        if unknown:
            raise ParameterError(f"quant.calibration has unknown key(s) {sorted(unknown)}")
        return cls(**raw)


def _language_stream(tokenizer: Any, docs: list[str]) -> tuple[list[int], int]:
    text = DOC_SEPARATOR.join(docs)
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return list(ids), len(text.encode("utf-8"))


def _allocate(weights: list[float], total: int) -> list[int]:
    """Integer counts ∝ weights summing to `total`, each ≥ 1 (largest remainder)."""
    n = len(weights)
    if total < n:
        raise ParameterError(f"calibration samples {total} is fewer than the {n} languages to draw from")
    share = [total * w / sum(weights) for w in weights]
    counts = [max(1, int(s)) for s in share]
    order = sorted(range(n), key=lambda i: share[i] - int(share[i]), reverse=True)
    k = 0
    while sum(counts) < total:
        counts[order[k % n]] += 1
        k += 1
    while sum(counts) > total:  # only when the ≥ 1 floor pushed the sum over
        i = max(range(n), key=lambda j: counts[j] - share[j])
        counts[i] -= 1
    return counts


def build_calibration(
    tokenizer: Any,
    corpus: dict,
    languages: Optional[list[str]] = None,
    mix: str = "bytes",
    samples: int = 128,
    seq_len: int = 512,
    seed: int = 0,
    max_positions: Optional[int] = None,
) -> tuple[torch.Tensor, dict]:
    """The calibration set: (ids LongTensor (samples, seq_len'), meta). See the module docstring."""
    if mix not in MIXES:
        raise ParameterError(f"calibration mix {mix!r} is not one of {', '.join(MIXES)}")
    if isinstance(samples, bool) or not isinstance(samples, int) or samples <= 0:
        raise ParameterError(f"calibration samples {samples!r} must be a positive integer")
    if isinstance(seq_len, bool) or not isinstance(seq_len, int) or seq_len <= 0:
        raise ParameterError(f"calibration seq_len {seq_len!r} must be a positive integer")
    if not isinstance(corpus, dict) or not isinstance(corpus.get("languages"), dict):
        raise CorpusError(f"calibration corpus must be a resolved corpus with documents per language, got {type(corpus).__name__}")
    available = corpus["languages"]
    languages = list(languages) if languages else list(available)
    for lang in languages:
        docs = available.get(lang)
        if not docs or not any(d.strip() for d in docs):
            raise CorpusError(
                f"calibration language {lang!r} has no documents in corpus {corpus.get('source')}/{corpus.get('split')}; "
                f"available: {', '.join(sorted(available)) or 'none'}"
            )
    seq_len_asked = seq_len
    if max_positions is not None and seq_len > max_positions:
        seq_len = max_positions
        log.info("calibration seq_len %d clamped to the model's context length %d", seq_len_asked, max_positions)

    streams = {lang: _language_stream(tokenizer, available[lang]) for lang in languages}
    tpb = {lang: len(ids) / nbytes for lang, (ids, nbytes) in streams.items()}
    if mix == "bytes":
        counts = dict(zip(languages, _allocate([tpb[l] for l in languages], samples)))
    else:
        counts = dict(zip(languages, _allocate([1.0] * len(languages), samples)))

    gen = torch.Generator().manual_seed(int(seed))
    rows: list[torch.Tensor] = []
    per_language: dict[str, dict] = {}
    for lang in languages:
        ids, nbytes = streams[lang]
        if not ids:
            raise CorpusError(f"calibration language {lang!r}: its documents tokenize to no tokens")
        repeated = len(ids) < seq_len
        stream = torch.tensor(ids * (seq_len // len(ids) + 1) if repeated else ids, dtype=torch.long)
        n_starts = len(stream) - seq_len + 1
        starts = torch.randint(0, n_starts, (counts[lang],), generator=gen)
        windows = torch.stack([stream[s : s + seq_len] for s in starts.tolist()])
        window_bytes = sum(len(tokenizer.decode(w.tolist()).encode("utf-8")) for w in windows)
        rows.append(windows)
        per_language[lang] = {
            "samples": counts[lang],
            "tokens": counts[lang] * seq_len,
            "bytes": window_bytes,  # UTF-8 bytes of the decoded windows
            "tokens_per_byte": tpb[lang],
            "source_tokens": len(ids),
            "source_bytes": nbytes,
            "repeated": repeated,
        }
    all_ids = torch.cat(rows)
    order = torch.randperm(len(all_ids), generator=gen)
    all_ids = all_ids[order].contiguous()
    meta = {
        "corpus": {k: corpus.get(k) for k in ("source", "split", "digest")},
        "languages": languages,
        "mix": mix,
        "samples": samples,
        "seq_len": seq_len,
        "seq_len_requested": seq_len_asked,
        "seq_len_clamped": seq_len != seq_len_asked,
        "seed": seed,
        "per_language": per_language,
        "ids_digest": hashlib.sha256(all_ids.numpy().astype("<i8").tobytes()).hexdigest(),
    }
    return all_ids, meta


def calibration_for(loaded: Any, quant: dict) -> tuple[torch.Tensor, dict]:
    """The calibration set a quant config asks for, on the loaded model's tokenizer and context."""
    cfg = CalibrationConfig.from_quant(quant)
    if cfg.corpus is None:
        raise ParameterError("quant.calibration.corpus is missing: the engine resolves it from the workflow corpus (split train)")
    return build_calibration(
        loaded.tokenizer, cfg.corpus, cfg.languages, cfg.mix, cfg.samples, cfg.seq_len, cfg.seed, getattr(loaded, "max_positions", None)
    )


# --- activations inside the model ---------------------------------------------------------------


class _StopForward(Exception):
    """Raised once the last block has run: the final norm and lm_head need not."""


BlockInput = tuple[torch.Tensor, tuple, dict]  # (hidden states, other positional args, keyword args)
REPLAY_TOLERANCE = {torch.float32: 1e-5, torch.float64: 1e-10}  # relative to max |output|; 2e-3 for half types


def _hidden(out: Any) -> torch.Tensor:
    return out[0] if isinstance(out, (tuple, list)) else out


def _split_call(args: tuple, kwargs: dict) -> BlockInput:
    kwargs = dict(kwargs)
    if args:
        return args[0], tuple(args[1:]), kwargs
    return kwargs.pop("hidden_states"), (), kwargs


@dataclass
class BlockCalls:
    """How the model called each block on the calibration set.

    `hidden` are block 0's input hidden states per batch; `extras[layer][batch]` the other
    arguments the model passed block `layer` (its own attention mask: sliding-window and global
    layers differ; position ids, rotary embeddings, anything else), so a block is replayed exactly
    as the model runs it.
    """

    hidden: list[torch.Tensor]
    extras: list[list[tuple[tuple, dict]]]

    def inputs(self, layer: int, hidden: Optional[list[torch.Tensor]] = None) -> list[BlockInput]:
        """Block `layer`'s inputs: the given hidden states (block 0's by default) with that block's arguments."""
        hidden = self.hidden if hidden is None else hidden
        return [(h, a, k) for h, (a, k) in zip(hidden, self.extras[layer])]


@torch.no_grad()
def capture_block_inputs(model: nn.Module, ids: torch.Tensor, batch_size: int = 8, device: Any = None) -> BlockCalls:
    """Run the model on `ids` (n, T) up to its last block, recording every block's call.

    On the first batch each block is replayed from the recorded call and its output compared
    with the model's own; a difference (a block that reads state the replay does not carry) is
    an error, not a silently wrong calibration.
    """
    if ids.dim() != 2 or ids.shape[0] == 0:
        raise ParameterError(f"calibration ids must be (n, seq_len) with n > 0, got {tuple(ids.shape)}")
    blocks = structure.blocks(model)
    hidden0: list[torch.Tensor] = []
    extras: list[list[tuple[tuple, dict]]] = [[] for _ in blocks]
    first: dict[int, BlockInput] = {}
    replaying = [False]

    def pre(layer: int):
        def hook(_mod: nn.Module, args: tuple, kwargs: dict) -> None:
            if replaying[0]:
                return
            hidden, rest, kw = _split_call(args, kwargs)
            if layer == 0:
                hidden0.append(hidden.detach())
            extras[layer].append((rest, kw))
            if len(extras[layer]) == 1:
                first[layer] = (hidden.detach(), rest, kw)

        return hook

    def post(layer: int):
        def hook(mod: nn.Module, _args: tuple, _kwargs: dict, out: Any) -> None:
            if replaying[0]:
                return
            if layer in first:
                _check_replay(mod, layer, first.pop(layer), _hidden(out), replaying)
            if layer == len(blocks) - 1:
                raise _StopForward

        return hook

    handles = []
    for i, b in enumerate(blocks):
        handles.append(b.register_forward_pre_hook(pre(i), with_kwargs=True))
        handles.append(b.register_forward_hook(post(i), with_kwargs=True))
    device = device or next(model.parameters()).device
    try:
        for b in range(0, ids.shape[0], batch_size):
            try:
                model(input_ids=ids[b : b + batch_size].to(device), use_cache=False)
            except _StopForward:
                pass
    finally:
        for h in handles:
            h.remove()
    n_batches = (ids.shape[0] + batch_size - 1) // batch_size
    short = [i for i, e in enumerate(extras) if len(e) != n_batches]
    if short:
        raise ParameterError(f"blocks {short[:8]} of {type(model).__name__} were not reached for every calibration batch")
    return BlockCalls(hidden0, extras)


def _check_replay(block: nn.Module, layer: int, call: BlockInput, own: torch.Tensor, replaying: list) -> None:
    replaying[0] = True
    try:
        replayed = run_block(block, [call])[0]
    finally:
        replaying[0] = False
    scale = float(own.detach().abs().max()) or 1.0
    diff = float((replayed.float() - own.float()).abs().max()) / scale
    if diff > REPLAY_TOLERANCE.get(own.dtype, 2e-3):
        raise ModelError(f"block {layer}: replaying the recorded call differs from the model's own output by {diff:.2e} (relative); calibration would be wrong")


@torch.no_grad()
def run_block(block: nn.Module, inputs: list[BlockInput]) -> list[torch.Tensor]:
    """The block's output hidden states for each captured batch."""
    return [_hidden(block(hidden, *args, **kwargs)) for hidden, args, kwargs in inputs]
