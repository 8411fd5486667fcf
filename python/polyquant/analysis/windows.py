"""Token windows for the analysis kernels (attention-heads, layer-importance).

These kernels compare one model with itself under small changes (a head ablated, one layer
quantized, a gradient taken), so what they need from a corpus is a fixed, reproducible set of
token windows per language and the summed next-token NLL over them. Perplexity *protocols*
(rolling, chunked, sliding, comparable with published numbers) belong to polyquant.eval.perplexity;
here a window is simply a document's tokens (BOS first when the tokenizer has one) cut into
non-overlapping pieces of at most `seq_len` tokens, and every position after the first is scored.

Windows of equal length are batched together, so no padding is ever needed and every score is
exactly what the model gives the window alone.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import CorpusError, ParameterError


def tokenize_windows(tokenizer, docs: list[str], seq_len: int, max_windows: int | None = None) -> list[torch.Tensor]:
    """Cut each document into non-overlapping windows of ≤ seq_len tokens (1-D LongTensors, CPU).

    Windows shorter than 2 tokens score nothing and are dropped. `max_windows` keeps the first
    windows in document order (deterministic), so a cheap run looks at a fixed subset.
    """
    if seq_len < 2:
        raise ParameterError(f"seq_len {seq_len} is too short: a window needs at least 2 tokens")
    if max_windows is not None and max_windows < 1:
        raise ParameterError(f"max_windows {max_windows} must be at least 1")
    bos = getattr(tokenizer, "bos_token_id", None)
    out: list[torch.Tensor] = []
    for doc in docs:
        ids = tokenizer(doc, add_special_tokens=False)["input_ids"]
        if bos is not None:
            ids = [bos] + list(ids)
        for start in range(0, len(ids), seq_len):
            piece = ids[start : start + seq_len]
            if len(piece) >= 2:
                out.append(torch.tensor(piece, dtype=torch.long))
            if max_windows is not None and len(out) >= max_windows:
                return out
    return out


def corpus_windows(
    tokenizer, languages: dict[str, list[str]], wanted: list[str] | None, seq_len: int, max_windows: int | None
) -> dict[str, list[torch.Tensor]]:
    """Windows per language of a ResolvedCorpus's `languages` map; a missing or empty language is a CorpusError."""
    names = list(wanted) if wanted else list(languages)
    out: dict[str, list[torch.Tensor]] = {}
    for lang in names:
        if lang not in languages:
            raise CorpusError(f"language {lang!r} is not in the corpus (it has {', '.join(sorted(languages)) or 'none'})")
        windows = tokenize_windows(tokenizer, languages[lang], seq_len, max_windows)
        if not windows:
            raise CorpusError(f"language {lang!r} has no window of at least 2 tokens in the corpus")
        out[lang] = windows
    return out


def equal_length_batches(windows: list[torch.Tensor], batch_size: int) -> Iterator[torch.Tensor]:
    """Batches (B, T) of windows that share a length, in a deterministic order; no padding."""
    for _, batch in batches_in_order(windows, batch_size):
        yield batch


def model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def batch_nll(model: nn.Module, ids: torch.Tensor) -> torch.Tensor:
    """Summed next-token NLL (nats) of each row of a (B, T) batch, shape (B,), in float32."""
    logits = model(input_ids=ids).logits  # (B, T, V)
    logp = F.log_softmax(logits[:, :-1].float(), dim=-1)
    return -logp.gather(-1, ids[:, 1:, None]).squeeze(-1).sum(dim=1)


@torch.no_grad()
def nll_sum(model: nn.Module, windows: list[torch.Tensor], batch_size: int = 8) -> tuple[float, int]:
    """(total NLL in nats, number of scored tokens) over the windows."""
    device = model_device(model)
    total, count = 0.0, 0
    for ids in equal_length_batches(windows, batch_size):
        ids = ids.to(device)
        total += float(batch_nll(model, ids).double().sum())
        count += ids.shape[0] * (ids.shape[1] - 1)
    return total, count


def batches_in_order(windows: list[torch.Tensor], batch_size: int) -> Iterator[tuple[list[int], torch.Tensor]]:
    """(window indices, (B, T) batch) over windows of equal length, as equal_length_batches
    batches them, so per-window statistics can be put back in the windows' order."""
    if batch_size < 1:
        raise ParameterError(f"batch_size {batch_size} must be at least 1")
    by_len: dict[int, list[int]] = defaultdict(list)
    for i, w in enumerate(windows):
        by_len[int(w.numel())].append(i)
    for length in sorted(by_len):
        idx = by_len[length]
        for j in range(0, len(idx), batch_size):
            chunk = idx[j : j + batch_size]
            yield chunk, torch.stack([windows[i] for i in chunk])


@torch.no_grad()
def window_nlls(model: nn.Module, windows: list[torch.Tensor], batch_size: int = 8) -> list[float]:
    """Summed next-token NLL (nats, float64) of every window, in the windows' order (the unit a
    bootstrap resamples); Σ equals nll_sum's total."""
    device = model_device(model)
    out = [0.0] * len(windows)
    for chunk, ids in batches_in_order(windows, batch_size):
        for i, v in zip(chunk, batch_nll(model, ids.to(device)).double().cpu().tolist()):
            out[i] = v
    return out


def scored_tokens(windows: list[torch.Tensor]) -> list[int]:
    """Next-token predictions scored in each window (its length − 1)."""
    return [int(w.numel()) - 1 for w in windows]


def mean_nll(model: nn.Module, windows: list[torch.Tensor], batch_size: int = 8) -> float:
    total, count = nll_sum(model, windows, batch_size)
    if count == 0:
        raise CorpusError("no token to score: every window is shorter than 2 tokens")
    return total / count


def windows_digest(windows: dict[str, list[torch.Tensor]]) -> str:
    """A short digest of the exact token windows per language (checkpoints must match it)."""
    import hashlib

    h = hashlib.sha256()
    for lang in sorted(windows):
        h.update(lang.encode() + b"\0")
        for w in windows[lang]:
            h.update(w.numpy().astype("int64").tobytes() + b"\1")
    return h.hexdigest()[:16]
