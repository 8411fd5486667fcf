"""GPTQ speed on one Llama-2-7B-shaped layer: seconds per layer on CPU (and CUDA when present),
next to RTN on the same layer and grid, measured side by side in one run.

The layer is W (out × in) with random N(0, 0.02²) weights; the Hessian is 2XᵀX/N from N random
activations X (tokens × in) with a few outlier channels, as calibration data would give. The
default shape is 4096 × 11008 (Llama-2-7B's mlp.down_proj: out 4096, in 11008, so H is 11008²).

    .venv/bin/python bench/gptq_layer.py                 # CPU, and CUDA if available
    .venv/bin/python bench/gptq_layer.py --devices cpu --tokens 512

Prints per device: Hessian build seconds, GPTQ seconds, RTN seconds and GPTQ/RTN, and the output
error tr((W−Q)H(W−Q)ᵀ) of both, so a fast-but-wrong GPTQ would show. Then, on the same layer and
Hessian, the reference algorithm (IST-DASLab/gptq's `fasterquant`, as written from its published
code in python/tests/test_gptq_reference.py, which checks that the codes agree) side by side:
polyquant's time over the reference's (target ≤ 1.0) at its error over the reference's (≤ 1.0).
Not part of the test suite.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))

from polyquant.quant.gptq import Hessian, gptq_quantize, output_error  # noqa: E402
from polyquant.quant.rtn import rtn_quantize  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python", "tests"))
from test_gptq_reference import fasterquant  # noqa: E402  the reference, written from IST-DASLab/gptq


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench(device: torch.device, args: argparse.Namespace) -> dict:
    g = torch.Generator().manual_seed(0)
    W = (torch.randn(args.out, args.inp, generator=g) * 0.02).to(device)
    X = torch.randn(args.tokens, args.inp, generator=g)
    X[:, : args.inp // 100] *= 20  # outlier channels, as in real activations
    X = X.to(device)
    _sync(device)
    t0 = time.perf_counter()
    h = Hessian(args.inp, device)
    for chunk in X.split(256):
        h.add_batch(chunk)
    _sync(device)
    t_h = time.perf_counter() - t0

    t0 = time.perf_counter()
    Q = gptq_quantize(W, h.H, args.bits, args.group_size, block_size=args.block_size, act_order=args.act_order)
    _sync(device)
    t_gptq = time.perf_counter() - t0

    t0 = time.perf_counter()
    R = rtn_quantize(W, args.bits, args.group_size)
    _sync(device)
    t_rtn = time.perf_counter() - t0

    ref = {}
    if not args.no_reference and not args.act_order:
        t0 = time.perf_counter()
        _codes, Qref = fasterquant(W, h.H, args.bits, args.group_size, sym=False, blocksize=args.block_size)
        _sync(device)
        ref = {"reference_s": time.perf_counter() - t0, "err_reference": output_error(W.cpu(), Qref.cpu(), h.H.cpu()),
               "same_weights": float((Qref.to(Q.dtype) == Q).float().mean())}
    return {
        "device": str(device) if device.type == "cpu" else torch.cuda.get_device_name(device),
        "hessian_s": t_h,
        "gptq_s": t_gptq,
        "rtn_s": t_rtn,
        "ratio": t_gptq / t_rtn,
        "err_gptq": output_error(W.cpu(), Q.cpu(), h.H.cpu()),
        "err_rtn": output_error(W.cpu(), R.cpu(), h.H.cpu()),
        **ref,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=int, default=4096, help="out_features (rows of W)")
    p.add_argument("--inp", type=int, default=11008, help="in_features (columns of W; H is in × in)")
    p.add_argument("--tokens", type=int, default=2048, help="calibration tokens for the synthetic Hessian")
    p.add_argument("--bits", type=int, default=4)
    p.add_argument("--group-size", type=int, default=128)
    p.add_argument("--block-size", type=int, default=128)
    p.add_argument("--act-order", action="store_true")
    p.add_argument("--no-reference", action="store_true", help="skip the reference fasterquant")
    p.add_argument("--devices", default="auto", help="comma list of cpu,cuda; auto = cpu plus cuda when available")
    args = p.parse_args()
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else []) if args.devices == "auto" else args.devices.split(",")
    print(f"GPTQ on one {args.out} x {args.inp} layer, {args.bits}-bit, group {args.group_size}, "
          f"{args.tokens} calibration tokens, act_order={args.act_order}, torch threads={torch.get_num_threads()}")
    print(f"{'device':<28}{'H (s)':>8}{'GPTQ (s)':>10}{'RTN (s)':>10}{'GPTQ/RTN':>10}{'err GPTQ/RTN':>14}")
    for d in devices:
        r = bench(torch.device(d), args)
        print(f"{r['device']:<28}{r['hessian_s']:>8.2f}{r['gptq_s']:>10.2f}{r['rtn_s']:>10.3f}{r['ratio']:>10.1f}{r['err_gptq'] / r['err_rtn']:>14.3f}")
        if "reference_s" in r:
            print(f"reference {r['device']:<18}GPTQ {r['gptq_s']:.2f} s, reference fasterquant {r['reference_s']:.2f} s: time {r['gptq_s'] / r['reference_s']:.3f} "
                  f"at error {r['err_gptq'] / r['err_reference']:.4f} of the reference's; dequantized weights equal in {100 * r['same_weights']:.2f} %")


if __name__ == "__main__":
    main()
