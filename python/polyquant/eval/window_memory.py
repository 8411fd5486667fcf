"""How many tokens of evaluation windows one forward pass can hold, on this device, now.

The perplexity protocol defaults its context to the model's own length (as lm-eval does). A
Llama-3 window of 8192 tokens needs T × vocab logits (128k × 2 bytes a token: 2 GB) before any
activation, so "the model's length" is taken only as far as memory permits: `Protocol.resolve`
asks `fits(batch, tokens)` and halves the context (recorded as `context_from: "memory"`) until one
window fits, then halves the batch until the batch fits (the batch changes no result).

The estimate per window of T tokens, in bytes of the model's dtype (what the forward allocates at
its peak under no_grad, one block at a time; python/polyquant/eval/perplexity.py):
- logits: T × vocab (Hugging Face computes them at every position), twice, plus their float32
  log-probabilities: disparity's quantized pass holds the baseline's and the variant's logits of a
  batch and the variant's log_softmax at once (eval/compare.py, recompute mode),
- the MLP's peak: 3 × T × ffn (act(gate(x)), up(x) and their product live at once),
- a few residual-stream tensors: 4 × T × hidden,
- attention scores heads × T × T in float32 where they are materialised (eager attention, or
  PyTorch's math SDPA backend, which a padded batch on a CPU takes),
and, beside the logits, the larger of `token_nll`'s float32 chunk (NLL_CHUNK_ELEMENTS, two copies)
and KL's float64 chunk (compare.py KL_CHUNK_ELEMENTS, four copies). The forward's transients and
the logits' scoring do not overlap, so a batch needs the larger of the two. src/plan/memory.ts `resolveProtocol`
applies the same rule before the run: change both together.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# The chunk sizes of the scoring live here, beside the estimate that counts them: perplexity.py's
# token_nll and compare.py's _kl_full import them.
NLL_CHUNK_ELEMENTS = 1 << 26  # token_nll: logits handled at once, 64M floats (256 MB in float32)
KL_CHUNK_ELEMENTS = 1 << 24  # _kl_full: rows × vocab handled at once (src/plan/memory.ts counts it)
NLL_CHUNK_BYTES = 2 * 4 * NLL_CHUNK_ELEMENTS  # a float32 chunk and its exp
KL_CHUNK_BYTES = 4 * 8 * KL_CHUNK_ELEMENTS  # four float64 tensors of a chunk
CPU_SHARE = 0.8  # of MemAvailable: the OS and other processes keep the rest
CUDA_SHARE = 0.9  # of the free device memory: the caching allocator fragments


@dataclass(frozen=True)
class WindowMemory:
    vocab: int
    hidden: int
    ffn: int
    heads: int
    dtype_bytes: int
    scores_materialised: bool  # attention scores T × T per head held in float32
    available: int  # bytes this evaluation may use
    device: str

    def batch_bytes(self, batch: int, tokens: int) -> int:
        scores = 4 * self.heads * tokens * tokens if self.scores_materialised else 0
        forward = batch * (tokens * self.dtype_bytes * (3 * self.ffn + 4 * self.hidden) + scores)
        logits = batch * tokens * (2 * self.dtype_bytes + 4) * self.vocab + max(NLL_CHUNK_BYTES, KL_CHUNK_BYTES)
        return max(forward, logits)  # the forward's transients are gone when the logits are scored

    def fits(self, batch: int, tokens: int) -> bool:
        return self.batch_bytes(batch, tokens) <= self.available

    def describe(self, batch: int, tokens: int) -> str:
        return f"{batch} × {tokens} tokens need ≈ {self.batch_bytes(batch, tokens) / 2**30:.2f} GiB of {self.available / 2**30:.2f} GiB available on {self.device}"


def _config_int(cfg: Any, *names: str) -> int | None:
    for name in names:
        value = getattr(cfg, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def available_bytes(device: Any) -> int:
    """Free memory for activations: CUDA's free device memory, else the machine's MemAvailable."""
    import torch

    dev = torch.device(device)
    if dev.type == "cuda":
        free, _total = torch.cuda.mem_get_info(dev)
        return int(free * CUDA_SHARE)
    import psutil

    return int(psutil.virtual_memory().available * CPU_SHARE)


def window_memory(loaded: Any) -> WindowMemory | None:
    """The estimate for a loaded model (None when its config names no hidden size or vocabulary)."""
    model = loaded.model
    cfg = model.config
    hidden = _config_int(cfg, "hidden_size", "n_embd", "d_model")
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    vocab = int(head.weight.shape[0]) if head is not None and hasattr(head, "weight") else _config_int(cfg, "vocab_size")
    if hidden is None or vocab is None:
        return None
    ffn = _config_int(cfg, "intermediate_size", "n_inner", "ffn_dim") or 4 * hidden
    heads = _config_int(cfg, "num_attention_heads", "n_head") or 1
    param = next(model.parameters())
    device = str(param.device)
    attn = getattr(cfg, "_attn_implementation", None) or "eager"
    scores = attn == "eager" or param.device.type == "cpu"
    return WindowMemory(vocab, hidden, ffn, heads, param.element_size(), scores, available_bytes(param.device), device)
