"""Paired evaluation of a baseline and a quantized model on the same windows: NLL, KL, Δp, top-1.

KL(baseline ‖ quantized) needs both next-token distributions at every scored position, but a
model is only ever in one state at a time (weights are swapped in place, never duplicated). So
the baseline pass keeps, per scored token, on the CPU:
- log p_b(y) of the correct token and argmax p_b (always; 12 bytes a token);
- the whole log-distribution log p_b(·) in float32 when tokens × vocab × 4 bytes fits
  `kl_memory_mb`, else in float16 when × 2 bytes fits, else
- nothing more (mode `recompute`, exact at any corpus size): the quantized pass then computes the
  baseline's distributions again batch by batch, from the original weights (`paired`, which the
  caller provides: the base model, or the originals swapped back in for the batch), so KL is
  computed on both full distributions with no memory for them; or, only with `approximate: true`,
- the top-k approximation (a lower bound, and labelled so): the k most likely tokens' log-probs and ids, and the rest's mass
  r_b = 1 − Σ_k p_b. Then KL ≈ Σ_k p_b (log p_b − log p_q) + r_b (log r_b − log r_q), with p_q
  read at the same k ids: the KL of the two distributions coarsened to k + 1 outcomes, which is a
  lower bound on the true KL (data-processing inequality) and tight when the tail is small
  (tail masses below TAIL_EPS = 1e-6 are float32 rounding and count as 0).
The quantized pass then computes per scored token
    KL_t = Σ_v p_b(v) (log p_b(v) − log p_q(v)),  Δp_t = p_q(y) − p_b(y),  agree_t = [argmax p_q = argmax p_b],
and per window the NLL sums of both passes, for the paired bootstrap. Windows, batching and
padding come from `polyquant.eval.perplexity` (make_windows, iterate_batches, token_nll), so the
baseline PPL here is the `perplexity` kernel's PPL under the same protocol.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np
import torch

from ..errors import KernelStopped, ParameterError
from .perplexity import IGNORE, Protocol, Window, _check_corpus, batch_indices, iterate_batches, make_windows, padded_forward, text_stats, token_nll
from .window_memory import KL_CHUNK_ELEMENTS

log = logging.getLogger("polyquant.eval")

MODES = ("float32", "float16", "recompute", "top-k")
TAIL_EPS = 1e-6  # top-k: a tail mass this small is rounding error of float32 log-softmax


@dataclass(frozen=True)
class CompareConfig:
    kl_memory_mb: float = 2048.0  # cap on the baseline distributions kept on the CPU; above it: float16, then recompute
    top_k: int = 64  # tokens per position kept by the top-k approximation
    approximate: bool = False  # above the cap: the top-k lower bound instead of recomputing (exact)

    @classmethod
    def from_params(cls, raw: Optional[dict]) -> "CompareConfig":
        raw = dict(raw or {})
        unknown = sorted(set(raw) - {"kl_memory_mb", "top_k", "approximate"})
        if unknown:
            raise ParameterError(f"unknown kl key(s) {', '.join(unknown)}; known: kl_memory_mb, top_k, approximate")
        cfg = cls(**raw)
        if not isinstance(cfg.kl_memory_mb, (int, float)) or cfg.kl_memory_mb < 0:
            raise ParameterError(f"kl.kl_memory_mb {cfg.kl_memory_mb!r} must be a non-negative number")
        if isinstance(cfg.top_k, bool) or not isinstance(cfg.top_k, int) or cfg.top_k < 1:
            raise ParameterError(f"kl.top_k {cfg.top_k!r} must be a positive integer")
        return cfg


@dataclass
class LanguageBaseline:
    windows: list[Window]
    seg_nll: np.ndarray  # (n_windows,) baseline NLL sum per window, nats
    seg_tokens: np.ndarray  # (n_windows,) scored tokens per window
    seg_bytes: np.ndarray  # (n_windows,) UTF-8 bytes per window (see `window_bytes`)
    label_logp: torch.Tensor  # (N,) float32 log p_b(y) per scored token, window-major order
    argmax: torch.Tensor  # (N,) int32 argmax p_b
    logp: Optional[torch.Tensor] = None  # (N, V) full log p_b (float32 or float16)
    topk_logp: Optional[torch.Tensor] = None  # (N, k) float32
    topk_idx: Optional[torch.Tensor] = None  # (N, k) int64


@dataclass
class Baseline:
    protocol: Protocol  # resolved
    mode: str  # float32 | float16 | top-k
    top_k: Optional[int]
    languages: dict[str, LanguageBaseline] = field(default_factory=dict)


def window_bytes(windows: list[Window], docs: list[str], protocol: Protocol) -> np.ndarray:
    """UTF-8 bytes per window: each document's bytes shared among its windows by scored tokens
    (chunked: the joined text's bytes shared among chunks by tokens). They sum to the bytes the
    perplexity kernel reports, so Σ over windows of ΔNLL / (ln 2 · bytes) is its ΔBPB."""
    tok = np.array([w.scored for w in windows], dtype=np.float64)
    if protocol.name == "chunked":
        total_bytes, _ = text_stats(docs, protocol)
        return total_bytes * tok / tok.sum()
    doc_idx = np.array([w.doc for w in windows])
    doc_tok = np.bincount(doc_idx, weights=tok, minlength=len(docs))
    doc_bytes = np.array([len(d.encode("utf-8")) for d in docs], dtype=np.float64)
    out = np.zeros_like(tok)
    nz = doc_tok[doc_idx] > 0
    out[nz] = doc_bytes[doc_idx[nz]] * tok[nz] / doc_tok[doc_idx[nz]]
    return out


def language_windows(loaded: Any, corpus: dict, protocol: Protocol) -> tuple[Protocol, dict[str, list[Window]], dict[str, list[str]]]:
    languages = _check_corpus(corpus)
    protocol = protocol.resolve_for(loaded)
    return protocol, {lang: make_windows(loaded.tokenizer, docs, protocol) for lang, docs in languages.items()}, languages


def _pad_id(loaded: Any) -> int:
    pid = loaded.tokenizer.pad_token_id
    return int(pid) if pid is not None else 0


def _choose_mode(n_tokens: int, vocab: int, cfg: CompareConfig) -> str:
    cap = cfg.kl_memory_mb * 1024 * 1024
    if n_tokens * vocab * 4 <= cap:
        return "float32"
    if n_tokens * vocab * 2 <= cap:
        return "float16"
    return "top-k" if cfg.approximate else "recompute"


def _vocab_size(loaded: Any) -> int:
    head = loaded.model.get_output_embeddings()
    return int(head.weight.shape[0])


@torch.no_grad()
def record_baseline(loaded: Any, corpus: dict, protocol: Protocol, cfg: CompareConfig, ctx: Any = None) -> Baseline:
    """Run the baseline once and keep what the comparison needs (see the module docstring)."""
    protocol, per_lang, docs = language_windows(loaded, corpus, protocol)
    n_tokens = sum(w.scored for ws in per_lang.values() for w in ws)
    mode = _choose_mode(n_tokens, _vocab_size(loaded), cfg)
    log.info("baseline: %d scored tokens, distributions kept as %s", n_tokens, mode)
    base = Baseline(protocol=protocol, mode=mode, top_k=cfg.top_k if mode == "top-k" else None)
    total = sum(len(w) for w in per_lang.values())
    done = 0
    for lang, windows in per_lang.items():
        seg_nll = np.zeros(len(windows))
        label_lp, argmax, full, tk_lp, tk_idx = [], [], [], [], []
        for idx, logits, labels in iterate_batches(loaded.model, windows, protocol.batch_size, loaded.device, _pad_id(loaded)):
            nll = token_nll(logits, labels)  # (B, T)
            seg_nll[idx] = nll.sum(dim=1).double().cpu().numpy()
            mask = labels != IGNORE
            lp = torch.log_softmax(logits[mask].float(), dim=-1)  # (n, V), window-major order
            label_lp.append((-nll[mask]).double().cpu())  # float64, as the quantized pass computes it (Δp)
            argmax.append(lp.argmax(dim=-1).to(torch.int32).cpu())
            if mode == "top-k":
                v, i = lp.topk(min(cfg.top_k, lp.shape[-1]), dim=-1)
                tk_lp.append(v.cpu())
                tk_idx.append(i.cpu())
            elif mode in ("float32", "float16"):
                full.append(lp.to(torch.float32 if mode == "float32" else torch.float16).cpu())
            # recompute: nothing more is kept; the quantized pass recomputes the distributions
            done += len(idx)
            if ctx is not None:
                ctx.progress(done, total, "windows", f"baseline {lang}")
                if ctx.should_stop():
                    raise KernelStopped(f"stopped in the baseline pass ({lang}, {done} of {total} windows)")
        base.languages[lang] = LanguageBaseline(
            windows=windows,
            seg_nll=seg_nll,
            seg_tokens=np.array([w.scored for w in windows], dtype=np.float64),
            seg_bytes=window_bytes(windows, docs[lang], protocol),
            label_logp=torch.cat(label_lp),
            argmax=torch.cat(argmax),
            logp=torch.cat(full) if full else None,
            topk_logp=torch.cat(tk_lp) if tk_lp else None,
            topk_idx=torch.cat(tk_idx) if tk_idx else None,
        )
    return base


def _kl_full(lb: torch.Tensor, lq: torch.Tensor) -> torch.Tensor:
    """KL(p_b ‖ p_q) per row of two full log-prob matrices (n, V), float64, in row chunks of
    KL_CHUNK_ELEMENTS (four float64 temporaries: 512 MiB at most, where a 4096-token window at a
    128k vocabulary would need 4 × 4.2 GB at once); each row's sum is the same either way."""
    n, V = lq.shape
    rows = max(1, KL_CHUNK_ELEMENTS // V)
    out = torch.empty(n, dtype=torch.float64, device=lq.device)
    for r in range(0, n, rows):
        b = lb[r : r + rows].to(lq.device, torch.float64)
        out[r : r + rows] = (b.exp() * (b - lq[r : r + rows].double())).sum(-1)
    return out


def _kl_rows(base: LanguageBaseline, sl: slice, lq: torch.Tensor) -> torch.Tensor:
    """KL(p_b ‖ p_q) per token for baseline rows `sl` and quantized log-probs lq (n, V), float64."""
    if base.logp is not None:
        return _kl_full(base.logp[sl], lq)
    lb = base.topk_logp[sl].to(lq.device, torch.float64)  # (n, k)
    lqk = lq.double().gather(-1, base.topk_idx[sl].to(lq.device))
    pb, pq = lb.exp(), lqk.exp()
    rb = 1.0 - pb.sum(-1)  # tail masses; below TAIL_EPS they are float32 rounding, not mass
    rq = torch.clamp(1.0 - pq.sum(-1), min=TAIL_EPS)
    tail = torch.where(rb > TAIL_EPS, rb * (torch.log(torch.clamp(rb, min=TAIL_EPS)) - torch.log(rq)), torch.zeros_like(rb))
    return (pb * (lb - lqk)).sum(-1) + tail


@dataclass
class LanguageComparison:
    seg_nll: np.ndarray  # (n_windows,) quantized NLL per window
    kl: float  # mean KL(p_b ‖ p_q) over scored tokens, nats
    delta_p: float  # mean p_q(y) − p_b(y)
    top1_agreement: float  # share of tokens whose argmax agrees
    tokens: int


def kl_mode_label(baseline: Baseline) -> str:
    """How KL was computed, for the outputs: float32 | float16 | recompute (all exact) | top-<k> lower bound."""
    return f"top-{baseline.top_k} lower bound" if baseline.mode == "top-k" else baseline.mode


@torch.no_grad()
def compare(
    loaded: Any,
    baseline: Baseline,
    ctx: Any = None,
    on_language: Optional[Callable[[str, "LanguageComparison"], None]] = None,
    paired: Optional[Callable[[list[Window]], torch.Tensor]] = None,
) -> dict[str, LanguageComparison]:
    """Run `loaded` (the quantized model, or a pre-quantized variant) over the baseline's windows.
    `on_language(lang, comparison)` is called as each language finishes (live partial results).
    `paired(windows)`: the baseline's logits (B, T, V) for one batch of windows, needed when the
    baseline kept no distributions (mode `recompute`); it is called before each quantized batch."""
    if baseline.mode == "recompute" and paired is None:
        raise ParameterError("the baseline kept no distributions (mode recompute): compare needs `paired` to recompute them")
    vocab = _vocab_size(loaded)
    total = sum(len(lb.windows) for lb in baseline.languages.values())
    done = 0
    out: dict[str, LanguageComparison] = {}
    for lang, lb in baseline.languages.items():
        if lb.logp is not None and lb.logp.shape[-1] != vocab:
            raise ParameterError(f"the variant's vocabulary ({vocab}) differs from the baseline's ({lb.logp.shape[-1]}): KL needs one vocabulary")
        seg_nll = np.zeros(len(lb.windows))
        kl_sum = dp_sum = 0.0
        agree = 0
        pos = 0
        batches = _paired_batches(loaded, lb.windows, baseline.protocol.batch_size, paired) if paired is not None and baseline.mode == "recompute" else (
            (idx, logits, labels, None) for idx, logits, labels in iterate_batches(loaded.model, lb.windows, baseline.protocol.batch_size, loaded.device, _pad_id(loaded))
        )
        for idx, logits, labels, base_logits in batches:
            nll = token_nll(logits, labels)
            seg_nll[idx] = nll.sum(dim=1).double().cpu().numpy()
            mask = labels != IGNORE
            lq = torch.log_softmax(logits[mask].float(), dim=-1)  # (n, V)
            n = lq.shape[0]
            sl = slice(pos, pos + n)
            if base_logits is not None:  # recompute: both full distributions, exact
                if base_logits.shape[-1] != lq.shape[-1]:
                    raise ParameterError(f"the variant's vocabulary ({lq.shape[-1]}) differs from the baseline's ({base_logits.shape[-1]}): KL needs one vocabulary")
                lb_full = torch.log_softmax(base_logits[mask.to(base_logits.device)].float(), dim=-1)
                kl_sum += float(_kl_full(lb_full, lq).sum())
            else:
                kl_sum += float(_kl_rows(lb, sl, lq).sum())
            pq_y = torch.exp(-nll[mask].double())
            pb_y = torch.exp(lb.label_logp[sl].to(pq_y.device, torch.float64))
            dp_sum += float((pq_y - pb_y).sum())
            agree += int((lq.argmax(dim=-1).to(torch.int32).cpu() == lb.argmax[sl]).sum())
            pos += n
            done += len(idx)
            if ctx is not None:
                ctx.progress(done, total, "windows", f"quantized {lang}")
                if ctx.should_stop():
                    raise KernelStopped(f"stopped in the quantized pass ({lang}, {done} of {total} windows)")
        if pos != lb.label_logp.shape[0]:
            raise ParameterError(f"{lang}: the variant scored {pos} tokens, the baseline {lb.label_logp.shape[0]}")
        out[lang] = LanguageComparison(seg_nll, kl_sum / pos, dp_sum / pos, agree / pos, pos)
        if on_language is not None:
            on_language(lang, out[lang])
    return out


def _paired_batches(loaded: Any, windows: list[Window], batch_size: int, paired: Callable[[list[Window]], torch.Tensor]):
    """(indices, quantized logits, labels, baseline logits) per batch, batched as `iterate_batches`
    batches (so the tokens line up with the baseline's records): the baseline's logits first (it
    may swap the original weights in and back), then the quantized model's, on the same padded batch."""
    for idx in batch_indices(windows, batch_size):
        batch = [windows[i] for i in idx]
        base_logits = paired(batch)
        logits, labels = padded_forward(loaded.model, batch, loaded.device, _pad_id(loaded))
        yield idx, logits, labels, base_logits


def batch_logits(loaded: Any, windows: list[Window]) -> torch.Tensor:
    """The logits of one padded batch of windows (as `iterate_batches` pads it)."""
    if not windows:
        raise ParameterError("batch_logits got no windows")
    return padded_forward(loaded.model, windows, loaded.device, _pad_id(loaded))[0]


@torch.no_grad()
def window_nll(loaded: Any, windows: dict[str, list[Window]], batch_size: int) -> dict[str, np.ndarray]:
    """NLL sum per window and language (the layer sweep needs nothing more)."""
    out = {}
    for lang, ws in windows.items():
        seg = np.zeros(len(ws))
        for idx, logits, labels in iterate_batches(loaded.model, ws, batch_size, loaded.device, _pad_id(loaded)):
            seg[idx] = token_nll(logits, labels).sum(dim=1).double().cpu().numpy()
        out[lang] = seg
    return out


def same_windows(a: dict[str, list[Window]], b: dict[str, list[Window]]) -> Optional[str]:
    """None when both tokenizations give identical windows, else the first language that differs."""
    for lang in a:
        wa, wb = a[lang], b.get(lang, [])
        if len(wa) != len(wb) or any(x.input_ids != y.input_ids or x.labels != y.labels for x, y in zip(wa, wb)):
            return lang
    return None


def ppl(nll: float, tokens: float) -> float:
    return math.exp(nll / tokens)
