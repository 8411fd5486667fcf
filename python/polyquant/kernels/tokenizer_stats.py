"""`tokenizer-stats` kernel: how many tokens a tokenizer spends on the same (parallel) text per language.

Per language, over its documents tokenized without special tokens:
tokens_per_byte = tokens / UTF-8 bytes, tokens_per_char = tokens / code points, and the tokenizer
premium = tokens(language) / tokens(reference) (Petrov et al. 2023, "Language Model Tokenizers
Introduce Unfairness Between Languages"), meaningful when the documents are translations of each
other (the UDHR is). Only the tokenizer is loaded (from a fixture, a local HF dir or a hub id),
never the model's weights.

params (src/kernels/tokenizer-stats.ts): `model` (whose tokenizer is measured), `corpus`
(resolved), `reference` (a language code).
"""

from __future__ import annotations

from typing import Any

from ..context import KernelContext
from ..errors import CorpusError, ParameterError
from ..eval.perplexity import _check_corpus, encode
from ..models.load import load_tokenizer, resolve_path
from .contract import kernel


def language_stats(tokenizer: Any, docs: list[str]) -> dict:
    tokens = sum(len(encode(tokenizer, d)) for d in docs)
    n_bytes = sum(len(d.encode("utf-8")) for d in docs)
    chars = sum(len(d) for d in docs)
    return {
        "documents": len(docs),
        "tokens": tokens,
        "bytes": n_bytes,
        "chars": chars,
        "tokens_per_byte": tokens / n_bytes,
        "tokens_per_char": tokens / chars,
        "bytes_per_token": n_bytes / tokens if tokens else None,
    }


def measure_tokenizer(tokenizer: Any, languages: dict[str, list[str]], reference: str) -> dict[str, dict]:
    """{language: stats with `premium`}: tokens relative to the reference language's."""
    if reference not in languages:
        raise ParameterError(f"tokenizer-stats: reference language {reference!r} is not in the corpus ({', '.join(languages)})")
    out = {lang: language_stats(tokenizer, docs) for lang, docs in languages.items()}
    ref_tokens = out[reference]["tokens"]
    if ref_tokens == 0:
        raise CorpusError(f"tokenizer-stats: reference language {reference!r} has no tokens")
    for stats in out.values():
        stats["premium"] = stats["tokens"] / ref_tokens
    return out


@kernel("tokenizer-stats")
def run(params: dict, ctx: KernelContext) -> dict:
    spec = params["model"]
    languages = _check_corpus(params["corpus"])
    reference = params["reference"]
    path, _ = resolve_path(str(spec["id"]), require_config=False)
    tokenizer, _ = load_tokenizer(path, spec.get("revision"), spec["trust_remote_code"])
    stats = measure_tokenizer(tokenizer, languages, reference)
    for i, (lang, s) in enumerate(stats.items()):
        ctx.progress(i + 1, len(stats), "languages", lang)
        ctx.partial({"language": lang, **s})
    corpus = params["corpus"]
    return {
        "tokenizer": {"id": str(spec["id"]), "class": type(tokenizer).__name__, "vocab_size": len(tokenizer)},
        "reference": reference,
        "corpus": {"source": corpus.get("source"), "split": corpus.get("split"), "digest": corpus.get("digest")},
        "languages": stats,
    }
