"""Memory of a protect-one layer sweep: peak RSS against the model's size.

Builds a random Llama (default hidden 384, 4 blocks; a tokenizer trained on the bench texts), then
in this one process measures, from /proc/self/status (VmRSS, VmHWM; the peak is reset between
phases by writing 5 to /proc/self/clear_refs):
- R0: resident memory with torch imported and the model not loaded;
- M: the model's parameter bytes; A: the extra peak of one plain evaluation over the loaded model
  (activations, logits);
- P: the peak during the `layer-sweep` kernel (protect-one over every block).
Prints one JSON line with (P - R0) / (M + A): 1 means the sweep needs no more than the model and
one evaluation's activations (target ≤ 1.3).

    .venv/bin/python bench/sweep_memory.py [--hidden 384] [--layers 4] [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))

from polyquant.context import KernelContext  # noqa: E402
from polyquant.eval.compare import language_windows, window_nll  # noqa: E402
from polyquant.eval.perplexity import Protocol  # noqa: E402
from polyquant.kernels import layer_sweep  # noqa: E402
from polyquant.models import resident  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_model import CORPUS, saved_bench_llama  # noqa: E402



def status_kib(field: str) -> int:
    """A field of /proc/self/status in KiB (VmRSS, VmHWM)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} is not in /proc/self/status")


def reset_peak() -> None:
    """Start a new VmHWM phase at the current RSS (Linux ≥ 4.0)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hidden", type=int, default=384)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--bits", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="cuda: the same ratio in CUDA memory (torch.cuda.max_memory_allocated), float32")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with saved_bench_llama(args.hidden, args.layers) as folder:
        (cuda_ratio if args.device.startswith("cuda") else rss_ratio)(args, folder)


def rss_ratio(args: argparse.Namespace, folder: str) -> None:
    """The ratio in resident memory (VmHWM) of this process."""
    spec = {"id": folder, "device": "cpu"}

    r0 = status_kib("VmRSS")
    loaded = resident.get(spec)
    m_bytes = sum(p.numel() * p.element_size() for p in loaded.model.parameters())
    protocol, windows, _ = language_windows(loaded, CORPUS, Protocol())
    window_nll(loaded, windows, protocol.batch_size)  # warm the allocator
    r_loaded = status_kib("VmRSS")
    reset_peak()
    window_nll(loaded, windows, protocol.batch_size)
    a_kib = max(0, status_kib("VmHWM") - r_loaded)

    params = {"model": spec, "corpus": CORPUS, "quant": {"method": "rtn", "bits": args.bits, "group_size": 64}, "mode": "protect-one", "checkpoint_every": 1000}
    reset_peak()
    out = layer_sweep.run(params, KernelContext())
    p_kib = status_kib("VmHWM")
    denom = m_bytes / 1024 + a_kib
    sys.stdout.write(json.dumps({
        "hidden": args.hidden, "layers": args.layers, "configurations": len(out["rows"]),
        "model_mib": m_bytes / 2**20, "rss0_mib": r0 / 1024, "rss_loaded_mib": r_loaded / 1024,
        "activations_mib": a_kib / 1024, "peak_mib": p_kib / 1024,
        "peak_over_model": (p_kib - r0) * 1024 / m_bytes, "ratio": (p_kib - r0) / denom,
    }) + "\n")


def cuda_ratio(args: argparse.Namespace, folder: str) -> None:
    """The ratio in CUDA memory: the peak allocated during the sweep against model + one evaluation's extra peak."""
    spec = {"id": folder, "device": args.device, "dtype": "float32"}
    base = torch.cuda.memory_allocated()
    loaded = resident.get(spec)
    m_bytes = sum(p.numel() * p.element_size() for p in loaded.model.parameters())
    protocol, windows, _ = language_windows(loaded, CORPUS, Protocol())
    loaded_bytes = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    window_nll(loaded, windows, protocol.batch_size)
    a_bytes = max(0, torch.cuda.max_memory_allocated() - loaded_bytes)
    params = {"model": spec, "corpus": CORPUS, "quant": {"method": "rtn", "bits": args.bits, "group_size": 64}, "mode": "protect-one", "checkpoint_every": 1000}
    torch.cuda.reset_peak_memory_stats()
    out = layer_sweep.run(params, KernelContext())
    peak = torch.cuda.max_memory_allocated() - base
    sys.stdout.write(json.dumps({
        "device": torch.cuda.get_device_name(), "hidden": args.hidden, "layers": args.layers, "configurations": len(out["rows"]),
        "model_mib": m_bytes / 2**20, "activations_mib": a_bytes / 2**20, "peak_mib": peak / 2**20,
        "peak_over_model": peak / m_bytes, "ratio": peak / (m_bytes + a_bytes),
    }) + "\n")


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    main()
