"""`perplexity` kernel: per-language NLL, token perplexity, bits per byte and bits per char of the
resident model on a corpus, under a recorded protocol (polyquant.eval.perplexity).

params: `model` (ModelSpec), `corpus` (ResolvedCorpus), `protocol` ({name, context_length, stride,
batch_size, add_bos}), `segments` (bool: also return per-window NLL sums and token counts).
The result records the model (id, fingerprint, n_params, dtype, device), the protocol as it ran
(context length resolved) and the corpus (source, split, digest) next to the numbers.
"""

from __future__ import annotations

from ..context import KernelContext
from ..errors import ParameterError
from ..eval.perplexity import Protocol, measure
from ..models import resident

VERSION = "1"

KNOWN_PARAMS = {"model", "corpus", "protocol", "segments"}


def run(params: dict, ctx: KernelContext) -> dict:
    unknown = sorted(set(params) - KNOWN_PARAMS)
    if unknown:
        raise ParameterError(f"perplexity: unknown parameter(s) {', '.join(unknown)}; known: {', '.join(sorted(KNOWN_PARAMS))}")
    if not params.get("model"):
        raise ParameterError("perplexity: `model` is required")
    if not isinstance(params.get("corpus"), dict):
        raise ParameterError(f"perplexity: `corpus` must be a resolved corpus, got {type(params.get('corpus')).__name__}")
    loaded = resident.get(params["model"])
    protocol = Protocol.from_params(params.get("protocol")).resolve(loaded.max_positions)
    stats = measure(loaded, params["corpus"], protocol, ctx)
    keep_segments = bool(params.get("segments", False))
    languages = {}
    for lang, s in stats.items():
        row = {k: v for k, v in s.items() if k not in ("segments", "doc_bytes")}
        if keep_segments:
            row["segments"] = s["segments"]
            row["doc_bytes"] = s["doc_bytes"]
        languages[lang] = row
    corpus = params["corpus"]
    return {
        "model": loaded.describe(),
        "protocol": protocol.record(),
        "corpus": {"source": corpus.get("source"), "split": corpus.get("split"), "digest": corpus.get("digest")},
        "languages": languages,
    }
