"""Fixture models (DESIGN §8): a tiny Llama and a tiny GPT-2 trained on the UDHR training split.

`train_fixture(name, corpus, out_dir)` trains a byte-level BPE tokenizer (vocab 2000, `tokenizers`)
on the corpus, then the model (hidden 64, 4 layers, 4 heads, ffn 192, context 128, ≈0.5M
parameters) with AdamW on random 128-token blocks of the joined documents, and saves it in
Hugging Face format (`save_pretrained`, safetensors) with the tokenizer (`tokenizer.json` and a
`tokenizer_config.json` naming `PreTrainedTokenizerFast`, loadable by transformers 4.x and 5.x)
and `polyquant-fixture.json` (name, seed, threads, steps, losses, corpus digest, seconds).

Training is deterministic for a fixed thread count: seeded init, seeded batch order, no dropout.
The output is written to a temp dir beside `out_dir` and renamed into place, so two processes
training at once never leave a half-written fixture (the loser's copy is discarded).

CLI: `python -m polyquant.models.fixture --corpus corpus.json --name tiny-llama [--out DIR] [--force]`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Optional, Sequence

import torch

from ..errors import CorpusError, ModelError, ParameterError

log = logging.getLogger("polyquant.fixture")

FIXTURE_META = "polyquant-fixture.json"
SPECIAL_TOKENS = {"pad": "<pad>", "bos": "<s>", "eos": "</s>"}


@dataclass(frozen=True)
class FixtureConfig:
    vocab_size: int = 2000  # byte-level BPE vocabulary, specials included
    hidden: int = 64  # d_model
    layers: int = 4  # transformer blocks
    heads: int = 4  # attention heads (head dim 16)
    ffn: int = 192  # MLP inner size
    context: int = 128  # max positions; also the training block length
    steps: int = 600  # optimizer steps (per fixture: FIXTURE_STEPS)
    batch_size: int = 8  # blocks per step
    lr: float = 3e-3  # AdamW peak learning rate, cosine-decayed to lr/10 after a short warmup
    warmup: int = 30  # linear warmup steps
    weight_decay: float = 0.01  # AdamW weight decay
    threads: int = 2  # torch.set_num_threads: results are bit-identical only for the same count


# Steps per fixture, measured on 2 idle cores (held-out en/he/ar/zh, RTN groups of 32):
# - tiny-llama: 600 steps (~30 s); more overfits the 52k-token training split (held-out en PPL
#   116 at 500 steps, 274 at 2000), while int4 damage is already positive at 500 (+0.4%).
# - tiny-gpt2: 2000 steps (~80 s); at 500 or 1000, RTN int4 left it unharmed on held-out text
#   (mean d -0.3% / +0.04%); at 2000 every language degrades (+0.4% to +1.4%).
FIXTURE_STEPS = {"tiny-llama": 600, "tiny-gpt2": 2000}


def train_tokenizer(texts: Sequence[str], vocab_size: int) -> Any:
    """A byte-level BPE `PreTrainedTokenizerFast` trained on `texts` (deterministic for fixed input)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = [SPECIAL_TOKENS["pad"], SPECIAL_TOKENS["bos"], SPECIAL_TOKENS["eos"]]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(texts), trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=SPECIAL_TOKENS["bos"],
        eos_token=SPECIAL_TOKENS["eos"],
        pad_token=SPECIAL_TOKENS["pad"],
    )


def save_tokenizer(tokenizer: Any, out_dir: str, model_max_length: int) -> None:
    """tokenizer.json + a tokenizer_config.json that transformers 4.x and 5.x both load."""
    os.makedirs(out_dir, exist_ok=True)
    tokenizer.backend_tokenizer.save(os.path.join(out_dir, "tokenizer.json"))
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": SPECIAL_TOKENS["bos"],
        "eos_token": SPECIAL_TOKENS["eos"],
        "pad_token": SPECIAL_TOKENS["pad"],
        "model_max_length": model_max_length,
        "clean_up_tokenization_spaces": False,
        "add_bos_token": False,
        "add_eos_token": False,
    }
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2)
    with open(os.path.join(out_dir, "special_tokens_map.json"), "w", encoding="utf-8") as f:
        json.dump({f"{k}_token": v for k, v in SPECIAL_TOKENS.items()}, f, indent=2)


def build_model(name: str, cfg: FixtureConfig, tokenizer: Any, seed: int) -> torch.nn.Module:
    """A freshly initialised fixture architecture (seeded)."""
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    ids = {"bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id, "pad_token_id": tokenizer.pad_token_id}
    vocab = len(tokenizer)
    torch.manual_seed(seed)
    if name == "tiny-llama":
        config = LlamaConfig(
            vocab_size=vocab,
            hidden_size=cfg.hidden,
            num_hidden_layers=cfg.layers,
            num_attention_heads=cfg.heads,
            num_key_value_heads=cfg.heads,
            intermediate_size=cfg.ffn,
            max_position_embeddings=cfg.context,
            tie_word_embeddings=False,
            **ids,
        )
        return LlamaForCausalLM(config)
    if name == "tiny-gpt2":
        config = GPT2Config(
            vocab_size=vocab,
            n_embd=cfg.hidden,
            n_layer=cfg.layers,
            n_head=cfg.heads,
            n_inner=cfg.ffn,
            n_positions=cfg.context,
            resid_pdrop=0.0,
            embd_pdrop=0.0,
            attn_pdrop=0.0,
            **ids,
        )
        return GPT2LMHeadModel(config)
    raise ModelError(f"unknown fixture {name!r}; fixtures are tiny-llama, tiny-gpt2")


def corpus_texts(corpus: dict) -> list[str]:
    """Every non-empty document, languages in sorted order (the order is part of determinism)."""
    languages = corpus.get("languages") if isinstance(corpus, dict) else None
    if not isinstance(languages, dict) or not languages:
        raise CorpusError("fixture corpus has no languages (expected a ResolvedCorpus with `languages`)")
    texts = [d for lang in sorted(languages) for d in languages[lang] if isinstance(d, str) and d.strip()]
    if not texts:
        raise CorpusError(f"fixture corpus has no text in languages {', '.join(sorted(languages))}")
    return texts


def token_stream(tokenizer: Any, texts: Sequence[str]) -> torch.Tensor:
    """<s> doc </s> <s> doc </s> ... as one 1-D LongTensor."""
    ids: list[int] = []
    for text in texts:
        ids.append(tokenizer.bos_token_id)
        ids.extend(tokenizer(text, add_special_tokens=False)["input_ids"])
        ids.append(tokenizer.eos_token_id)
    return torch.tensor(ids, dtype=torch.long)


def unigram_loss(stream: torch.Tensor, vocab: int) -> float:
    """Entropy (nats) of the stream's unigram distribution: the loss a context-free model reaches."""
    counts = torch.bincount(stream, minlength=vocab).double()
    p = counts[counts > 0] / counts.sum()
    return float(-(p * p.log()).sum())


def _lr_at(step: int, cfg: FixtureConfig) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


StepCallback = Callable[[int, int, float], None]  # (step done, total steps, loss)


def train_model(
    model: torch.nn.Module, stream: torch.Tensor, cfg: FixtureConfig, seed: int, on_step: Optional[StepCallback] = None, log_every: int = 100
) -> list[float]:
    """AdamW on random `context`-token blocks of `stream`; returns the per-step training loss."""
    if stream.numel() <= cfg.context:
        raise CorpusError(f"fixture corpus has {stream.numel()} tokens, fewer than one {cfg.context}-token block")
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(0.9, 0.95), weight_decay=cfg.weight_decay)
    model.train()
    losses: list[float] = []
    offsets = torch.arange(cfg.context)
    for step in range(cfg.steps):
        starts = torch.randint(0, stream.numel() - cfg.context + 1, (cfg.batch_size,), generator=gen)
        block = stream[starts[:, None] + offsets]  # (B, context)
        for group in opt.param_groups:
            group["lr"] = _lr_at(step, cfg)
        out = model(input_ids=block, labels=block, use_cache=False)  # mean NLL of the block's T-1 next tokens
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(float(out.loss.detach()))
        if on_step is not None:
            on_step(step + 1, cfg.steps, losses[-1])
        if log_every and (step + 1) % log_every == 0:
            log.info("fixture step %d/%d loss %.4f", step + 1, cfg.steps, losses[-1])
    model.eval()
    return losses


def is_trained(out_dir: str) -> bool:
    return os.path.isfile(os.path.join(out_dir, FIXTURE_META)) and os.path.isfile(os.path.join(out_dir, "config.json"))


def is_current(meta: dict, cfg: FixtureConfig, seed: int, corpus: Optional[dict]) -> bool:
    """A cached fixture counts only if it was trained with these settings, seed and (when given) corpus."""
    if meta.get("config") != asdict(cfg) or meta.get("seed") != seed:
        return False
    digest = corpus.get("digest") if isinstance(corpus, dict) else None
    return digest is None or meta.get("corpus_digest") == digest


def read_meta(out_dir: str) -> dict:
    with open(os.path.join(out_dir, FIXTURE_META), encoding="utf-8") as f:
        return json.load(f)


def train_fixture(
    name: str,
    corpus: dict,
    out_dir: str,
    seed: int = 0,
    steps: Optional[int] = None,
    config: Optional[FixtureConfig] = None,
    force: bool = False,
    on_step: Optional[StepCallback] = None,
) -> dict:
    """Train fixture `name` on `corpus` (a ResolvedCorpus, train split) into `out_dir`; return its metadata."""
    if name not in ("tiny-llama", "tiny-gpt2"):
        raise ModelError(f"unknown fixture {name!r}; fixtures are tiny-llama, tiny-gpt2")
    cfg = config or FixtureConfig(steps=FIXTURE_STEPS[name])
    if steps is not None:
        if not isinstance(steps, int) or steps < 1:
            raise ParameterError(f"fixture steps {steps!r} must be a positive integer")
        cfg = FixtureConfig(**{**asdict(cfg), "steps": steps})
    with _training_lock(out_dir):
        if is_trained(out_dir) and not force:
            meta = read_meta(out_dir)
            if is_current(meta, cfg, seed, corpus):
                return meta
            log.info("fixture %s in %s was trained with other settings or text: training again", name, out_dir)
            force = True
        return _train(name, corpus, out_dir, seed, cfg, force, on_step)


def _train(name: str, corpus: dict, out_dir: str, seed: int, cfg: FixtureConfig, force: bool, on_step: Optional[StepCallback]) -> dict:
    texts = corpus_texts(corpus)
    prev_threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    t0, c0 = time.monotonic(), time.process_time()
    try:
        tokenizer = train_tokenizer(texts, cfg.vocab_size)
        stream = token_stream(tokenizer, texts)
        model = build_model(name, cfg, tokenizer, seed)
        losses = train_model(model, stream, cfg, seed, on_step)
    finally:
        torch.set_num_threads(prev_threads)
    seconds, cpu_seconds = time.monotonic() - t0, time.process_time() - c0
    tail = losses[-min(20, len(losses)) :]
    meta = {
        "name": name,
        "seed": seed,
        "threads": cfg.threads,
        "steps": cfg.steps,
        "config": asdict(cfg),
        "n_params": sum(p.numel() for p in model.parameters()),
        "tokens": int(stream.numel()),
        "initial_loss": losses[0],
        "final_loss": sum(tail) / len(tail),  # mean of the last 20 steps' training loss (nats)
        "unigram_loss": unigram_loss(stream, len(tokenizer)),
        "corpus_digest": corpus.get("digest"),
        "corpus_split": corpus.get("split"),
        "languages": sorted(corpus["languages"]),
        "training_seconds": round(seconds, 2),  # wall clock: inflated when other processes share the cores
        "cpu_seconds": round(cpu_seconds, 2),  # CPU time of this process, all threads (≈ threads × wall on idle cores)
        "torch": torch.__version__,
    }
    parent = os.path.dirname(os.path.abspath(out_dir)) or "."
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(out_dir)}.tmp-", dir=parent)
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        save_tokenizer(tokenizer, tmp, cfg.context)
        with open(os.path.join(tmp, FIXTURE_META), "w", encoding="utf-8") as f:
            json.dump(meta, f, indent=2)
        _move_into_place(tmp, out_dir, force)
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
    log.info("fixture %s trained in %.1fs: loss %.3f (unigram %.3f)", name, seconds, meta["final_loss"], meta["unigram_loss"])
    return meta


@contextlib.contextmanager
def _training_lock(out_dir: str):
    """One trainer per fixture directory at a time (others wait, then reuse its result); POSIX only."""
    parent = os.path.dirname(os.path.abspath(out_dir)) or "."
    os.makedirs(parent, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # Windows: the atomic rename still keeps the directory whole
        yield
        return
    with open(os.path.join(parent, f".{os.path.basename(out_dir)}.lock"), "a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _move_into_place(tmp: str, out_dir: str, force: bool) -> None:
    """rename(2) tmp → out_dir; if another process got there first, keep theirs (unless force)."""
    if force and os.path.isdir(out_dir):
        old = f"{out_dir}.old-{os.getpid()}"
        os.replace(out_dir, old)
        shutil.rmtree(old, ignore_errors=True)
    try:
        os.rename(tmp, out_dir)
    except OSError:
        if not is_trained(out_dir):  # an empty or broken leftover: replace it
            shutil.rmtree(out_dir, ignore_errors=True)
            os.rename(tmp, out_dir)


def main(argv: Optional[Sequence[str]] = None) -> int:
    from .load import fixture_dir

    parser = argparse.ArgumentParser(prog="python -m polyquant.models.fixture", description="train a fixture model")
    parser.add_argument("--corpus", required=True, help="ResolvedCorpus JSON (polyquant corpus --split train --json)")
    parser.add_argument("--name", required=True, choices=["tiny-llama", "tiny-gpt2"])
    parser.add_argument("--out", help="output directory (default: $POLYQUANT_CACHE/fixtures/<name>)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int)
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    with open(args.corpus, encoding="utf-8") as f:
        corpus = json.load(f)
    meta = train_fixture(args.name, corpus, args.out or fixture_dir(args.name), seed=args.seed, steps=args.steps, force=args.force)
    sys.stdout.write(json.dumps(meta) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
