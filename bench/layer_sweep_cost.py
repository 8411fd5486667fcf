"""Layer-sweep cost against its target: one quantization pass + one evaluation per configuration.

Builds a random Llama (default hidden 256, 6 blocks) with a small byte-level BPE tokenizer, saves
it, and measures side by side in one run:
- T_eval: one evaluation of the corpus windows (NLL of every window), as the mean of G + 2 run
  back to back (the sweep's own evaluations run back to back too);
- T_quant: one RTN pass over every block linear, kept as codes like the sweep keeps them;
Every time is the best of `--repeats` runs (3): a shared machine only ever adds time.
- T_sweep: the `layer-sweep` kernel in protect-one mode (G configurations, plus the baseline and
  the all-quantized evaluations), and the ratio T_sweep / (T_quant + (G + 2) · T_eval): near 1
  means swapping weights in and out costs little next to evaluating;
- T_reload: what the seed's template does per configuration (reload the model from disk, quantize
  it, evaluate), and the ratio of G such configurations to the sweep;
- the bytes a snapshot keeps for one protect-one configuration, as a share of the model's bytes.

    .venv/bin/python bench/layer_sweep_cost.py
    .venv/bin/python bench/layer_sweep_cost.py --hidden 512 --layers 8 --threads 2
    .venv/bin/python bench/layer_sweep_cost.py --llama2-shaped 4096x4 --texts seed --threads 2

`--llama2-shaped 4096x4` builds Llama-2-7B's blocks (hidden 4096, MLP 11008, 32 heads, the real
32k tokenizer; 4 of its 32 blocks, 1.07 B parameters, 4.3 GB of float32 safetensors on disk) and
`--texts seed` evaluates what the seed's template evaluates, one sentence per language: the
workload a Kaggle user runs (on two CPU cores the RTN pass dominates each configuration, as measured; on a GPU the reload
should, not measured here: see bench/run.mjs).
The last line projects the measured per-configuration costs onto a 32-block model (a projection
from this run's figures, labelled as such, not a measurement).

Not part of the test suite; timings depend on the machine, the ratios much less.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))

from polyquant.context import KernelContext  # noqa: E402
from polyquant.eval.compare import language_windows, window_nll  # noqa: E402
from polyquant.eval.perplexity import Protocol  # noqa: E402
from polyquant.kernels import layer_sweep  # noqa: E402
from polyquant.models import resident  # noqa: E402
from polyquant.models.load import load_model  # noqa: E402
from polyquant.quant.apply import apply_weights  # noqa: E402
from polyquant.quant.methods import quantize_model  # noqa: E402
from polyquant.quant.plan import resolve_targets  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_model import CORPUS, SEED_TEXTS, saved_bench_llama, saved_llama2_shaped  # noqa: E402



def timed(fn, repeats: int = 1):
    """Best of `repeats` wall times (a shared machine only ever adds time), and the last result."""
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--bits", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3, help="each time is the best of this many runs")
    ap.add_argument("--llama2-shaped", metavar="HIDDENxLAYERS", help="a random Llama with Llama-2's tokenizer and proportions instead")
    ap.add_argument("--texts", choices=("bench", "seed"), default="bench", help="bench: four documents a language; seed: the seed template's one sentence a language")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    corpus = SEED_TEXTS if args.texts == "seed" else CORPUS
    if args.llama2_shaped:
        args.hidden, args.layers = (int(x) for x in args.llama2_shaped.lower().split("x"))
        with saved_llama2_shaped(args.hidden, args.layers) as folder:
            measure(args, folder, corpus)
    else:
        with saved_bench_llama(args.hidden, args.layers) as folder:
            measure(args, folder, corpus)


def measure(args: argparse.Namespace, folder: str, corpus: dict) -> None:
    spec = {"id": folder, "device": "cpu"}
    quant = {"method": "rtn", "bits": args.bits, "group_size": 64}

    loaded = resident.get(spec)
    protocol, windows, _ = language_windows(loaded, corpus, Protocol())
    window_nll(loaded, windows, protocol.batch_size)  # warm-up
    G = args.layers  # protect-one: one configuration per block
    # (G + 2) evaluations back to back, timed as one unit like the sweep: the best of a sum, not a sum of bests
    t_evals, _ = timed(lambda: [window_nll(loaded, windows, protocol.batch_size) for _ in range(G + 2)], args.repeats)
    t_eval = t_evals / (G + 2)
    targets = resolve_targets(loaded.model, quant)
    t_quant, _ = timed(lambda: quantize_model(loaded, quant, targets, coded=True), args.repeats)  # as the sweep keeps them
    result = quantize_model(loaded, quant, targets)
    names = [t.param_name for t in targets if t.layer != 0]
    with apply_weights(loaded.model, result.weights, names) as snap:
        snapshot_bytes = snap.nbytes()
    model_bytes = sum(p.numel() * p.element_size() for p in loaded.model.parameters())

    params = {"model": spec, "corpus": corpus, "quant": quant, "mode": "protect-one", "checkpoint_every": 1000}
    t_sweep, out = timed(lambda: layer_sweep.run(params, KernelContext()), args.repeats)
    assert len(out["rows"]) == G
    target = t_quant + t_evals

    def seed_style_config():
        fresh = load_model(spec)  # the seed's template: reload, quantize, evaluate
        t = resolve_targets(fresh.model, quant, {"layers": [0]})
        with apply_weights(fresh.model, quantize_model(fresh, quant, t).weights):
            window_nll(fresh, windows, protocol.batch_size)

    t_reload, _ = timed(seed_style_config, args.repeats)

    print(f"model: hidden {args.hidden}, {args.layers} blocks, {model_bytes / 2**20:.1f} MiB; {sum(len(w) for w in windows.values())} windows; threads {args.threads}; best of {args.repeats}")
    print(f"T_eval   {t_eval:8.3f} s   one evaluation (the mean of G + 2 back to back)")
    print(f"T_quant  {t_quant:8.3f} s   one RTN pass over {len(targets)} linears")
    print(f"T_sweep  {t_sweep:8.3f} s   protect-one, {G} configurations")
    print(f"sweep / (T_quant + (G+2)·T_eval) = {t_sweep / target:.2f}   (target: close to 1)")
    print(f"T_reload {t_reload:8.3f} s   one seed-style configuration (reload + quantize + evaluate)")
    print(f"G seed-style configurations / sweep = {G * t_reload / t_sweep:.2f}")
    disk = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder) if f.endswith(".safetensors"))
    print(f"checkpoint on disk: {disk / 2**30:.2f} GiB of safetensors, reloaded per seed-style configuration (from the page cache: a cold disk only adds time)")
    # a 32-block model of this shape: reload, quantization and evaluation all grow with the blocks
    # (the embeddings aside), so the factor cancels and only the number of configurations changes
    blocks = 32
    swaps = max(0.0, t_sweep - target) / G  # what each configuration's weight swap costs beyond its evaluation
    projected = blocks * t_reload / (t_quant + (blocks + 2) * t_eval + blocks * swaps)
    print(f"projection from this run's figures, not a measurement: a {blocks}-block model of this shape, {blocks} configurations: seed-style / sweep ~ {projected:.1f}")
    print(f"snapshot of one protect-one configuration: {snapshot_bytes / 2**20:.1f} MiB = {snapshot_bytes / model_bytes:.2f} of the model")


if __name__ == "__main__":
    main()
