"""Per-language negative log-likelihood under a named, recorded protocol.

Three protocols (`Protocol.name`), each recorded with every result so numbers compare with
published ones:

- `rolling`: lm-evaluation-harness's `loglikelihood_rolling`. Each document is scored on its own in
  disjoint windows of the model's context; the first token is conditioned on a prefix token (BOS,
  else EOS); the last window takes as much earlier text as context as fits. The windows come from a
  port of lm-eval's `lm_eval/utils.py::get_rolling_token_windows` (context_len=1) and
  `make_disjoint_window` (EleutherAI/lm-evaluation-harness; originally EleutherAI/lm_perplexity),
  so `bits_per_byte` equals what lm-eval reports for the same model, text and max length.
- `chunked`: the GPTQ/AWQ papers' evaluation. A language's documents are joined with "\\n\\n" and
  tokenized once (BOS in front when `add_bos`); the token stream is cut into non-overlapping chunks
  of `context_length`; inside a chunk every token but the first is predicted. Unlike the papers we
  keep the final partial chunk, so every byte of the text is under some chunk.
- `sliding`: per document (prefix token in front when `add_bos`), a window of `context_length`
  moves by `stride`; each window scores only the tokens not scored before (the Hugging Face
  perplexity guide's strided evaluation).

Windows use shifted labels: `labels[t]` is the token that `logits[t]` predicts (-100: not scored).
For a sequence x_0..x_n, NLL = -sum_t log p(x_{t+1} | x_<=t) over scored t, in nats. Per language:
ppl = exp(nll / tokens), bits_per_byte = nll / (bytes * ln 2), bits_per_char = nll / (chars * ln 2),
with bytes the UTF-8 bytes and chars the Unicode code points of the text the windows cover.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, replace
from typing import Any, Iterator, Optional, Sequence

import torch
from torch import nn

from ..errors import CorpusError, KernelStopped, ParameterError
from .window_memory import NLL_CHUNK_ELEMENTS, WindowMemory, window_memory

log = logging.getLogger("polyquant.eval")

PROTOCOLS = ("rolling", "chunked", "sliding")
IGNORE = -100  # label of a position that is not scored
FALLBACK_CONTEXT = 2048  # lm-eval's default max length when the model config names none
MIN_MEMORY_CONTEXT = 256  # memory never halves a defaulted context below this
COMPAT = ("none", "lm_eval")
CONTEXT_FROM = ("given", "model", "memory")
CHUNK_SEPARATOR = "\n\n"  # chunked: documents joined as the GPTQ scripts join WikiText


@dataclass(frozen=True)
class Protocol:
    name: str = "rolling"  # rolling | chunked | sliding (see the module docstring)
    context_length: Optional[int] = None  # tokens per window; None: the model's max positions, memory permitting
    stride: Optional[int] = None  # sliding only: tokens the window moves; None: context_length // 2
    batch_size: int = 8  # windows per forward pass; results do not depend on it (halved when memory is short)
    add_bos: bool = True  # condition the first token on BOS (else EOS); rolling without it uses the first token as prefix
    # "lm_eval": encode each document as lm-eval's HFLM.tok_encode does with add_bos_token unset, i.e.
    # with the tokenizer's own special tokens (Llama-2/3 add BOS), then put the prefix token in front:
    # two BOS where the tokenizer adds one, the second scored as a token. "none": no special tokens.
    compat: str = "none"
    context_from: Optional[str] = None  # set by resolve(): given | model | memory (halved to fit)

    def validate(self) -> "Protocol":
        if self.name not in PROTOCOLS:
            raise ParameterError(f"perplexity protocol {self.name!r} is not one of {', '.join(PROTOCOLS)}")
        if self.context_length is not None and (not isinstance(self.context_length, int) or self.context_length < 2):
            raise ParameterError(f"perplexity context_length {self.context_length!r} must be an integer >= 2")
        if self.stride is not None:
            if self.name != "sliding":
                raise ParameterError(f"stride {self.stride!r} is only used by the sliding protocol, not {self.name!r}")
            if not isinstance(self.stride, int) or self.stride < 1:
                raise ParameterError(f"sliding stride {self.stride!r} must be a positive integer")
            if self.context_length is not None and self.stride > self.context_length:
                raise ParameterError(f"sliding stride {self.stride} exceeds context_length {self.context_length}")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ParameterError(f"perplexity batch_size {self.batch_size!r} must be a positive integer")
        if self.compat not in COMPAT:
            raise ParameterError(f"perplexity compat {self.compat!r} is not one of {', '.join(COMPAT)}")
        if self.compat == "lm_eval" and (self.name != "rolling" or not self.add_bos):
            raise ParameterError(
                f"perplexity compat 'lm_eval' reproduces lm-eval's loglikelihood_rolling, which always conditions on a prefix token: "
                f"it needs name 'rolling' and add_bos true, not name {self.name!r}, add_bos {self.add_bos}"
            )
        if self.context_from is not None and self.context_from not in CONTEXT_FROM:
            raise ParameterError(f"perplexity context_from {self.context_from!r} is not one of {', '.join(CONTEXT_FROM)}")
        return self

    def resolve(self, max_positions: Optional[int], memory: Optional[WindowMemory] = None) -> "Protocol":
        """Fill context_length (and stride) from the model, memory permitting; the result is what
        gets recorded. A resolved protocol resolves to itself, so baseline and variant share windows.

        Without a context_length the model's own length is taken (lm-eval's max_length); when
        `memory` says one window of it does not fit, the context halves until it does (not below
        MIN_MEMORY_CONTEXT) and `context_from` says "memory". The batch then halves until a batch
        fits: it changes no number.
        """
        self.validate()
        limit = max_positions or FALLBACK_CONTEXT
        ctx_len = self.context_length if self.context_length is not None else limit
        context_from = self.context_from or ("given" if self.context_length is not None else "model")
        if ctx_len > limit:
            raise ParameterError(f"perplexity context_length {ctx_len} exceeds the model's {limit} positions")
        batch = self.batch_size
        if memory is not None:
            if context_from == "model":
                while ctx_len > MIN_MEMORY_CONTEXT and not memory.fits(1, ctx_len):
                    ctx_len = max(MIN_MEMORY_CONTEXT, ctx_len // 2)
                    context_from = "memory"
                if context_from == "memory":
                    log.warning("perplexity context %d of the model's %d positions: %s", ctx_len, limit, memory.describe(1, ctx_len))
            elif not memory.fits(1, ctx_len):
                log.warning("perplexity context_length %d may not fit: %s", ctx_len, memory.describe(1, ctx_len))
            while batch > 1 and not memory.fits(batch, ctx_len):
                batch //= 2
        stride = self.stride
        if self.name == "sliding" and stride is None:
            stride = max(1, ctx_len // 2)
        if stride is not None and stride > ctx_len:
            raise ParameterError(f"sliding stride {stride} exceeds context_length {ctx_len}")
        return replace(self, context_length=ctx_len, stride=stride, batch_size=batch, context_from=context_from)

    def resolve_for(self, loaded: Any) -> "Protocol":
        """resolve() against a loaded model's length and this device's free memory."""
        return self.resolve(loaded.max_positions, window_memory(loaded))

    @classmethod
    def from_params(cls, raw: Optional[dict], batch_size: Optional[int] = None) -> "Protocol":
        raw = dict(raw or {})
        known = {"name", "context_length", "stride", "batch_size", "add_bos", "compat", "context_from"}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ParameterError(f"unknown perplexity protocol key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        if batch_size is not None:
            raw["batch_size"] = batch_size
        return cls(**raw).validate()

    def record(self) -> dict:
        return asdict(self)


@dataclass
class Window:
    input_ids: list[int]  # what the model reads, at most context_length tokens
    labels: list[int]  # same length; labels[t] is predicted by logits[t]; IGNORE where not scored
    doc: int  # document index within the language (chunked: the chunk index)
    segment: int  # window index within the document (chunked: 0)

    @property
    def scored(self) -> int:
        return sum(1 for y in self.labels if y != IGNORE)


def prefix_token_id(tokenizer: Any) -> int:
    """lm-eval's HFLM.prefix_token_id: BOS if the tokenizer has one, else EOS."""
    for tid in (tokenizer.bos_token_id, tokenizer.eos_token_id):
        if tid is not None:
            return int(tid)
    raise ParameterError("the tokenizer has neither a BOS nor an EOS token to condition the first token on")


def encode(tokenizer: Any, text: str, special_tokens: bool = False) -> list[int]:
    """Token ids, without special tokens unless asked (lm-eval's tok_encode with add_bos_token
    unset leaves the tokenizer's default, which adds BOS on Llama-2/3 tokenizers)."""
    return list(tokenizer(text, add_special_tokens=special_tokens)["input_ids"])


def rolling_token_windows(tokens: list[int], prefix_token: int, max_seq_len: int) -> Iterator[tuple[list[int], list[int]]]:
    """lm-eval `get_rolling_token_windows(token_list, prefix_token, max_seq_len, context_len=1)`.

    Yields (input tokens, predicted tokens); score the last len(predicted) logits.
    """
    if not tokens:
        return
    pred_len = max_seq_len  # max_seq_len - context_len + 1 with context_len = 1
    first = min(max_seq_len, len(tokens))
    yield [prefix_token] + tokens[: first - 1], tokens[:first]
    predicted = first
    while predicted < len(tokens):
        window_pred_len = min(len(tokens) - predicted, pred_len)
        window_end = predicted + window_pred_len
        yield tokens[window_end - max_seq_len - 1 : window_end - 1], tokens[window_end - window_pred_len : window_end]
        predicted += window_pred_len


def _disjoint_window(context: list[int], continuation: list[int], max_len: int) -> Window:
    """lm-eval `make_disjoint_window` + `_loglikelihood_tokens`: input = (ctx + cont)[-(max_len+1):][:-1]."""
    context = context[: len(context) - (len(continuation) - 1)]
    full = (context + continuation)[-(max_len + 1) :]
    input_ids = full[:-1]
    n_ctx = len(input_ids) - len(continuation)
    labels = [IGNORE] * n_ctx + continuation
    return Window(input_ids=input_ids, labels=labels, doc=-1, segment=-1)


def _rolling(tokens: list[int], prefix: Optional[int], length: int, doc: int) -> list[Window]:
    if prefix is None:  # add_bos off: the first token serves as the prefix and is not scored
        if len(tokens) < 2:
            return []
        prefix, tokens = tokens[0], tokens[1:]
    out = []
    for seg, (ctx, cont) in enumerate(rolling_token_windows(tokens, prefix, length)):
        w = _disjoint_window(ctx, cont, length)
        w.doc, w.segment = doc, seg
        out.append(w)
    return out


def _sliding(seq: list[int], length: int, stride: int, doc: int) -> list[Window]:
    """Predict seq[1:]; windows read at most `length` tokens; each scores only new predictions."""
    out: list[Window] = []
    n = len(seq)
    done = 0  # predictions of seq[1..done] are scored
    seg = 0
    while done < n - 1:
        end = min(n - 1, (done + stride) if done else length)  # last input position + 1
        start = max(0, end - length)
        input_ids = seq[start:end]
        labels = [seq[t + 1] if t + 1 > done else IGNORE for t in range(start, end)]
        out.append(Window(input_ids=input_ids, labels=labels, doc=doc, segment=seg))
        done = end
        seg += 1
    return out


def make_windows(tokenizer: Any, docs: Sequence[str], protocol: Protocol) -> list[Window]:
    """Windows of one language's documents under a resolved protocol (context_length set)."""
    if protocol.context_length is None:
        raise ParameterError("make_windows needs a resolved protocol: call protocol.resolve(max_positions) first")
    length = protocol.context_length
    prefix = prefix_token_id(tokenizer) if protocol.add_bos else None
    windows: list[Window] = []
    if protocol.name == "chunked":
        ids = encode(tokenizer, CHUNK_SEPARATOR.join(docs))
        if prefix is not None:
            ids = [prefix] + ids
        for c, start in enumerate(range(0, len(ids), length)):
            chunk = ids[start : start + length]
            if len(chunk) >= 2:
                windows.append(Window(input_ids=chunk[:-1], labels=chunk[1:], doc=c, segment=0))
        return windows
    for d, text in enumerate(docs):
        tokens = encode(tokenizer, text, special_tokens=protocol.compat == "lm_eval")
        if protocol.name == "rolling":
            windows.extend(_rolling(tokens, prefix, length, d))
        else:
            seq = ([prefix] if prefix is not None else []) + tokens
            windows.extend(_sliding(seq, length, int(protocol.stride or length), d))
    return windows


def _model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


# The largest share of a batch's positions that may be padding. On a CPU a padded position costs
# as much as a real one (the forward pass is compute-bound from a few dozen tokens on), so a batch
# that is half padding is slower than its windows one at a time: measured 0.53x on UDHR's five
# documents a language at a 168 M Llama. A window that would push its batch past this starts a new one.
PADDING_WASTE_MAX = 0.25
# ...except that a few padded positions are always worth a shared forward pass: windows of a few
# dozen tokens are bound by reading the weights, not by arithmetic (the seed's one sentence a
# language at 4 of Llama-2-7B's blocks: four batch-1 passes cost four weight reads).
PADDING_POSITIONS_FREE = 64


def batch_indices(windows: Sequence[Window], batch_size: int) -> list[list[int]]:
    """Window indices per forward pass: the windows sorted by length, longest first (ties in corpus
    order), cut into batches of at most `batch_size` whose padding stays within PADDING_WASTE_MAX of their
    positions or PADDING_POSITIONS_FREE positions, whichever is more.
    Every pass over the same windows (baseline, variant, paired recompute) batches them alike, so
    per-token records line up; a window's logits do not depend on its batch mates."""
    if batch_size < 1:
        raise ParameterError(f"batch_size {batch_size!r} must be a positive integer")
    order = sorted(range(len(windows)), key=lambda i: -len(windows[i].input_ids))
    batches: list[list[int]] = []
    real = 0
    for i in order:
        n = len(windows[i].input_ids)
        if batches and len(batches[-1]) < batch_size:
            longest = len(windows[batches[-1][0]].input_ids)
            padded = longest * (len(batches[-1]) + 1)
            if padded - (real + n) <= max(PADDING_WASTE_MAX * padded, PADDING_POSITIONS_FREE):
                batches[-1].append(i)
                real += n
                continue
        batches.append([i])
        real = n
    return batches


@torch.no_grad()
def iterate_batches(
    model: nn.Module, windows: Sequence[Window], batch_size: int, device: Optional[torch.device] = None, pad_id: int = 0
) -> Iterator[tuple[list[int], torch.Tensor, torch.Tensor]]:
    """Yield (window indices, logits (B, T, V), labels (B, T)) for batches of windows, in
    `batch_indices` order (length-sorted).

    Windows are right-padded to the batch's longest with `pad_id`, attention_mask 0 and label
    IGNORE on the padding, so a window's logits do not depend on its batch mates.
    """
    device = device or _model_device(model)
    for idx in batch_indices(windows, batch_size):
        yield idx, *padded_forward(model, [windows[i] for i in idx], device, pad_id)


@torch.no_grad()
def padded_forward(model: nn.Module, batch: Sequence[Window], device: torch.device, pad_id: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits (B, T, V), labels (B, T)) of one right-padded batch of windows."""
    T = max(len(w.input_ids) for w in batch)
    ids = torch.full((len(batch), T), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), T), dtype=torch.long)
    labels = torch.full((len(batch), T), IGNORE, dtype=torch.long)
    for row, w in enumerate(batch):
        n = len(w.input_ids)
        ids[row, :n] = torch.tensor(w.input_ids, dtype=torch.long)
        mask[row, :n] = 1
        labels[row, :n] = torch.tensor(w.labels, dtype=torch.long)
    ids, mask, labels = ids.to(device), mask.to(device), labels.to(device)
    return model(input_ids=ids, attention_mask=mask, use_cache=False).logits, labels


def token_nll(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """-log p(label) per position, (B, T) float64; 0 where the label is IGNORE.

    nll = logsumexp(z) − z_label with the exponentials summed in float64 (z − max in float32, then
    exp, then a float64 sum): at Llama-3's vocabulary (128k) a float32 reduction is off by ~1e-4
    nats a token, F.cross_entropy on a (B, V, T) layout by more; this agrees with a float64
    computation to ~1e-7. Rows go in chunks of NLL_CHUNK_ELEMENTS logits, so memory stays bounded.
    """
    B, T, V = logits.shape
    flat, lab = logits.reshape(B * T, V), labels.reshape(B * T)
    out = torch.zeros(B * T, dtype=torch.float64, device=logits.device)
    rows = max(1, NLL_CHUNK_ELEMENTS // V)
    for start in range(0, B * T, rows):
        z = flat[start : start + rows].float()
        y = lab[start : start + rows]
        valid = y != IGNORE
        m = z.max(dim=1, keepdim=True).values
        lse = torch.log(torch.exp(z - m).sum(dim=1, dtype=torch.float64)) + m.squeeze(1).double()
        picked = z.gather(1, y.clamp(min=0).unsqueeze(1)).squeeze(1).double()
        out[start : start + rows] = torch.where(valid, lse - picked, torch.zeros_like(lse))
    return out.view(B, T)


def _check_corpus(corpus: dict) -> dict[str, list[str]]:
    languages = corpus.get("languages") if isinstance(corpus, dict) else None
    if not isinstance(languages, dict) or not languages:
        raise CorpusError(f"corpus has no languages (expected a ResolvedCorpus with `languages`), got {str(corpus)[:200]!r}")
    for lang, docs in languages.items():
        if not isinstance(docs, list) or not all(isinstance(d, str) for d in docs):
            raise CorpusError(f"corpus language {lang!r}: documents must be a list of strings")
        if not any(d.strip() for d in docs):
            raise CorpusError(f"corpus language {lang!r} has no text")
    return languages


def text_stats(docs: Sequence[str], protocol: Protocol) -> tuple[int, int]:
    """(UTF-8 bytes, code points) of the text the protocol's windows cover."""
    if protocol.name == "chunked":
        joined = CHUNK_SEPARATOR.join(docs)
        return len(joined.encode("utf-8")), len(joined)
    return sum(len(d.encode("utf-8")) for d in docs), sum(len(d) for d in docs)


def summarize(nll: float, tokens: int, n_bytes: int, chars: int) -> dict:
    """ppl, bits per byte and bits per char from summed NLL (nats)."""
    return {
        "ppl": math.exp(nll / tokens) if tokens else float("nan"),
        "bits_per_byte": nll / (n_bytes * math.log(2)) if n_bytes else float("nan"),
        "bits_per_char": nll / (chars * math.log(2)) if chars else float("nan"),
    }


@torch.no_grad()
def measure(loaded: Any, corpus: dict, protocol: Protocol, ctx: Any = None, memory: Optional[WindowMemory] = None) -> dict[str, dict]:
    """Per-language stats: {language: {documents, tokens, bytes, chars, nll, ppl, bits_per_byte,
    bits_per_char, segments: {doc, segment, nll, tokens}, doc_bytes}}.

    `segments` has one entry per window (chunked: per chunk), so a bootstrap can resample windows
    or, grouping by `doc`, documents; `doc_bytes` are the UTF-8 bytes of each document.
    `protocol` may be unresolved; it is resolved against the model's max positions and `memory`
    (default: this device's free memory, window_memory.py).
    """
    languages = _check_corpus(corpus)
    protocol = protocol.resolve(loaded.max_positions, memory or window_memory(loaded))
    model, tok = loaded.model, loaded.tokenizer
    pad_id = int(tok.pad_token_id) if tok.pad_token_id is not None else 0
    per_lang = {lang: make_windows(tok, docs, protocol) for lang, docs in languages.items()}
    total = sum(len(w) for w in per_lang.values())
    done = 0
    results: dict[str, dict] = {}
    for lang, windows in per_lang.items():
        docs = languages[lang]
        seg_nll = [0.0] * len(windows)
        seg_tok = [w.scored for w in windows]
        for idx, logits, labels in iterate_batches(model, windows, protocol.batch_size, loaded.device, pad_id):
            sums = token_nll(logits, labels).sum(dim=1).double().cpu().tolist()
            for i, s in zip(idx, sums):
                seg_nll[i] = s
            done += len(idx)
            if ctx is not None:
                ctx.progress(done, total, "windows", lang)
                if ctx.should_stop():
                    raise KernelStopped(f"perplexity stopped in {lang} after {done} of {total} windows")
        nll = math.fsum(seg_nll)
        tokens = sum(seg_tok)
        if tokens == 0:
            raise CorpusError(f"corpus language {lang!r} yields no scored tokens under protocol {protocol.name!r}")
        n_bytes, chars = text_stats(docs, protocol)
        stats = {
            "documents": len(docs),
            "tokens": tokens,
            "bytes": n_bytes,
            "chars": chars,
            "nll": nll,
            **summarize(nll, tokens, n_bytes, chars),
        }
        if ctx is not None:
            ctx.partial({"language": lang, **stats})
        stats["segments"] = {
            "doc": [w.doc for w in windows],
            "segment": [w.segment for w in windows],
            "nll": seg_nll,
            "tokens": seg_tok,
        }
        stats["doc_bytes"] = [len(d.encode("utf-8")) for d in docs]
        results[lang] = stats
        log.info("perplexity %s: %d tokens, ppl %.4f, bpb %.4f", lang, tokens, stats["ppl"], stats["bits_per_byte"])
    return results


def same_protocol(a: Optional[dict], b: Optional[dict]) -> bool:
    """Two protocol records give the same windows (the batch, halved where memory is short, changes no number)."""
    drop = lambda r: {k: v for k, v in (r or {}).items() if k != "batch_size"}  # noqa: E731
    return a is not None and b is not None and drop(a) == drop(b)


def resolved_protocol(loaded: Any, protocol: Protocol) -> Protocol:
    """The protocol as `measure` runs it on this model (for recording next to results)."""
    return protocol.resolve_for(loaded)
