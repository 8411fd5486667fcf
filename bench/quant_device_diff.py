"""RTN, GPTQ and AWQ of one recorded call on two devices in one process: how far the quantized weights differ.

A quantizer rounds, so a difference of one ulp in its input can move a weight to the next grid point:
results on CPU and CUDA cannot be bit-identical, and this measures by how much they are not. For each
recorded step named (from bench/device_calls.mjs's calls.json), quantize the same model with the same
config on each device (float32) and print: the share of weight elements that differ by more than
1e-6 of their tensor's range (grid-point flips), the largest such difference in grid steps, and for
AWQ whether every scale group chose the same α.

    python bench/quant_device_diff.py bench/out/device/calls.json --steps all_int4,uniform_awq,gptq [--devices cpu,cuda]
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))

from polyquant.models.load import load_model  # noqa: E402
from polyquant.quant.methods import quantize_model  # noqa: E402
from polyquant.quant.plan import resolve_targets  # noqa: E402


def quantize_on(params: dict, device: str):
    loaded = load_model({**params["model"], "device": device, "dtype": "float32"})
    targets = resolve_targets(loaded.model, params["quant"], params.get("protect"), params.get("overrides"))
    return quantize_model(loaded, params["quant"], targets)


def flips(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], bits: int) -> tuple[float, float]:
    """Share of elements differing by more than 1e-6 of the tensor's range, and the largest difference in grid steps."""
    differing, total, worst = 0, 0, 0.0
    for name, x in a.items():
        x, y = x.float(), b[name].float()
        span = float(x.max() - x.min()) or 1.0
        d = (x - y).abs()
        differing += int((d > 1e-6 * span).sum())
        total += x.numel()
        worst = max(worst, float(d.max()) / (span / (2**bits - 1)))
    return differing / max(total, 1), worst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("calls")
    ap.add_argument("--steps", default="all_int4,uniform_awq,gptq")
    ap.add_argument("--devices", default="cpu,cuda")
    args = ap.parse_args()
    with open(args.calls) as f:
        calls = {c["step"]: c for c in json.load(f)}
    first, second = args.devices.split(",")
    for step in args.steps.split(","):
        params = calls[step]["params"]
        a, b = quantize_on(params, first), quantize_on(params, second)
        share, worst = flips(a.weights, b.weights, params["quant"]["bits"])
        line = f"{step:<14} {params['quant']['method']:<5} {first} vs {second}: {share:.2%} of weights differ, largest {worst:.2f} grid steps"
        if params["quant"]["method"] == "awq":
            sa, sb = a.meta["search"]["scales"], b.meta["search"]["scales"]
            same = sum(x["alpha"] == y["alpha"] for x, y in zip(sa, sb))
            line += f"; α equal in {same} of {len(sa)} scale groups"
        print(line, flush=True)


if __name__ == "__main__":
    main()
