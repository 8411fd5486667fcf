"""`perplexity` kernel: per-language NLL, token perplexity, bits per byte and bits per char of the
resident model on a corpus, under a recorded protocol (polyquant.eval.perplexity).

params (src/kernels/perplexity.ts): `model`, `corpus` (resolved), `protocol`, `segments` (also
return per-window NLL sums and token counts).
The result records the model (id, fingerprint, n_params, dtype, device), the protocol as it ran
(context length resolved) and the corpus (source, split, digest) next to the numbers.
"""

from __future__ import annotations

from ..context import KernelContext
from ..eval.perplexity import Protocol, measure
from ..models import resident
from .contract import kernel


@kernel("perplexity")
def run(params: dict, ctx: KernelContext) -> dict:
    loaded = resident.get(params["model"])
    protocol = Protocol.from_params(params["protocol"]).resolve_for(loaded)
    stats = measure(loaded, params["corpus"], protocol, ctx)
    languages = {}
    for lang, s in stats.items():
        row = {k: v for k, v in s.items() if k not in ("segments", "doc_bytes")}
        if params["segments"]:
            row["segments"] = s["segments"]
            row["doc_bytes"] = s["doc_bytes"]
        languages[lang] = row
    corpus = params["corpus"]
    return {
        "model": loaded.describe(),
        "protocol": protocol.record(),
        "corpus": {"source": corpus["source"], "split": corpus["split"], "digest": corpus["digest"]},
        "languages": languages,
    }
