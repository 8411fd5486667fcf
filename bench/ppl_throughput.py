"""Perplexity throughput: batched windows (`polyquant.eval.perplexity.measure`) against the seed's
one-text-at-a-time `ppl()` (one forward pass per window, batch 1) on the same windows.

The seed's `ppl(text)` runs `model(**inputs, labels=input_ids)` for one text at a time; here it is
run on exactly the windows `measure` cuts, so the per-language NLL must agree (to 1e-5 relative)
and only the batching differs. Prints one JSON line: seconds of each (best of `--repeat`), the
speed-up, and the largest relative NLL difference.

    .venv/bin/python bench/ppl_throughput.py corpus.json [--model fixture:tiny-llama] [--batch-size 8]
    .venv/bin/python bench/ppl_throughput.py corpus.json --llama2-shaped 1024x8   # a random 168 M Llama, 32k vocabulary

The fixture (0.5 M parameters) is a smoke run: there the timing is all call overhead and padding.
`--llama2-shaped HIDDENxLAYERS` builds a random Llama with Llama-2's tokenizer and proportions
(bench_model.saved_llama2_shaped) so the figure means something for the models researchers bring.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))

from polyquant.eval.perplexity import IGNORE, Protocol, make_windows, measure  # noqa: E402
from polyquant.models.load import load_model  # noqa: E402


@torch.no_grad()
def seed_style(loaded, corpus: dict, protocol: Protocol) -> dict[str, float]:
    """The seed's ppl(): one forward pass per text (here: per window), loss from the model's own labels."""
    protocol = protocol.resolve(loaded.max_positions)
    out: dict[str, float] = {}
    for lang, docs in corpus["languages"].items():
        total = 0.0
        for w in make_windows(loaded.tokenizer, docs, protocol):
            ids = torch.tensor([w.input_ids], device=loaded.device)
            logits = loaded.model(input_ids=ids).logits
            labels = torch.tensor([w.labels], device=loaded.device)
            # the seed's loss is a mean over its tokens; summing the per-token NLL keeps windows comparable
            total += torch.nn.functional.cross_entropy(logits[0].float(), labels[0], ignore_index=IGNORE, reduction="sum").item()
        out[lang] = total
    return out


def best_of(n: int, fn):
    times, result = [], None
    for _ in range(n):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus", help="a ResolvedCorpus JSON file")
    ap.add_argument("--model", default="fixture:tiny-llama")
    ap.add_argument("--llama2-shaped", metavar="HIDDENxLAYERS", help="a random Llama of this shape with Llama-2's tokenizer instead of --model")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with open(args.corpus) as f:
        corpus = json.load(f)
    if args.llama2_shaped:
        from bench_model import saved_llama2_shaped

        hidden, layers = (int(x) for x in args.llama2_shaped.lower().split("x"))
        with saved_llama2_shaped(hidden, layers) as folder:
            loaded = load_model({"id": folder, "device": "cpu"})
            params = sum(p.numel() for p in loaded.model.parameters())
            run(args, corpus, loaded, f"random Llama {hidden}x{layers} ({params / 1e6:.0f} M parameters, vocabulary {loaded.model.config.vocab_size})")
    else:
        run(args, corpus, load_model({"id": args.model, "device": "cpu"}), args.model)


def run(args, corpus: dict, loaded, model_name: str) -> None:
    protocol = Protocol(batch_size=args.batch_size)
    measure(loaded, corpus, protocol)  # warm-up
    t_batched, batched = best_of(args.repeat, lambda: measure(loaded, corpus, protocol))
    t_seed, seed = best_of(args.repeat, lambda: seed_style(loaded, corpus, protocol))
    rel = max(abs(batched[lang]["nll"] - seed[lang]) / abs(seed[lang]) for lang in seed)
    windows = sum(len(s["segments"]["nll"]) for s in batched.values())
    tokens = sum(s["tokens"] for s in batched.values())
    sys.stdout.write(json.dumps({
        "model": model_name, "languages": sorted(seed), "windows": windows, "tokens": tokens,
        "batch_size": args.batch_size, "batched_s": t_batched, "seed_s": t_seed,
        "speedup": t_seed / t_batched, "max_rel_nll_diff": rel,
        "ppl": {lang: math.exp(batched[lang]["nll"] / batched[lang]["tokens"]) for lang in seed},
    }) + "\n")


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    main()
