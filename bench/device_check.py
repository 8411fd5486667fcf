"""The CUDA paths, checked against a CPU run: replay recorded kernel calls on the GPU and compare.

A CPU machine cannot exercise the CUDA code, and a GPU session is short, so the check is one script:
1. `bench/device_calls.mjs` exports every succeeded step of a CPU run store as
   {run, step, kernel, params, output} (params exactly as the engine handed them to Python);
2. this script, on the GPU machine, runs each call again through `polyquant.api.run_direct` with the
   model moved to CUDA in float32, and compares every number of the result with the CPU result
   (largest absolute and relative differences, and where). Perplexity and disparity calls run a
   second time in the CUDA default dtype (float16), for the size of that difference;
3. then times GPTQ on one 4096 × 11008 layer on CUDA (bench/gptq_layer.py's measurement, after a
   warm-up so cuSOLVER's first load is not counted).

    python bench/device_check.py bench/out/device/calls.json --out $OUT [--skip-gptq]

Paths in the recorded params (the fixture cache, the repository, the store's artifacts) are mapped
from the recording machine's to this one's with `--map FROM=TO` (bench/out/device/paths.json holds
the defaults written by the export). Prints a summary table and writes device-check.json to --out.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import math
import os
import sys
import time
import traceback
from typing import Any, Iterator

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))
sys.path.insert(0, HERE)

from polyquant.api import run_direct  # noqa: E402
from polyquant.context import KernelContext  # noqa: E402
from polyquant.models import resident  # noqa: E402

FP16_KERNELS = {"perplexity", "disparity"}  # also replayed in CUDA's default dtype
IGNORED_KEYS = {"seconds", "duration_ms", "elapsed_s", "path", "digest", "fingerprint", "device", "dtype", "artifact"}


def remap(value: Any, mapping: list[tuple[str, str]]) -> Any:
    if isinstance(value, str):
        for old, new in mapping:
            if value.startswith(old):
                return new + value[len(old):]
        return value
    if isinstance(value, list):
        return [remap(v, mapping) for v in value]
    if isinstance(value, dict):
        return {k: remap(v, mapping) for k, v in value.items()}
    return value


def on_device(params: dict, device: str, dtype: str) -> dict:
    """The same call with every model spec in it (`model`, a disparity's `variant.model`, …) on `device` in `dtype`."""

    def move(value: Any) -> Any:
        if isinstance(value, dict):
            if "id" in value and "format" in value:  # a ModelSpec as the engine resolves it
                return {**value, "device": device, "dtype": dtype}
            return {k: move(v) for k, v in value.items()}
        if isinstance(value, list):
            return [move(v) for v in value]
        return value

    return move(copy.deepcopy(params))


def numbers(value: Any, path: str = "") -> Iterator[tuple[str, float]]:
    """Every numeric leaf of a result, with its path (strings, booleans and identities skipped)."""
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, (int, float)):
        yield path, float(value)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from numbers(v, f"{path}[{i}]")
    elif isinstance(value, dict):
        for k, v in value.items():
            if k not in IGNORED_KEYS:
                yield from numbers(v, f"{path}.{k}" if path else k)


def compare(cpu: Any, gpu: Any) -> dict:
    a, b = dict(numbers(cpu)), dict(numbers(gpu))
    common = sorted(set(a) & set(b))
    worst: list[tuple[float, str, float, float]] = []
    max_abs = 0.0
    for p in common:
        x, y = a[p], b[p]
        if math.isnan(x) and math.isnan(y):
            continue
        d = abs(x - y)
        rel = d / max(abs(x), 1e-12)
        max_abs = max(max_abs, d)
        worst.append((rel, p, x, y))
    worst.sort(reverse=True)
    return {
        "numbers": len(common),
        "only_cpu": sorted(set(a) - set(b))[:5],
        "only_gpu": sorted(set(b) - set(a))[:5],
        "max_abs": max_abs,
        "max_rel": worst[0][0] if worst else 0.0,
        "worst": [{"path": p, "cpu": x, "gpu": y, "rel": r} for r, p, x, y in worst[:5]],
    }


def replay(call: dict, device: str, dtype: str, artifacts: str) -> dict:
    params = on_device(call["params"], device, dtype)
    ctx = KernelContext(kernel=call["kernel"], run_id="device-check", step_id=call["step"], artifacts_dir=artifacts)
    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.reset_peak_memory_stats()
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    try:
        out = run_direct(call["kernel"], params, ctx)
        error = None
    except Exception as exc:  # noqa: BLE001 - every failure is a finding to report
        out, error = None, f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=6)}"
    if cuda:
        torch.cuda.synchronize()
    row = {
        "run": call["run"],
        "step": call["step"],
        "kernel": call["kernel"],
        "device": device,
        "dtype": dtype,
        "seconds": time.perf_counter() - t0,
        "peak_cuda_mib": torch.cuda.max_memory_allocated() / 2**20 if cuda else 0.0,
        "error": error,
    }
    if out is not None:
        row["comparison"] = compare(call["output"], out)
    return row


def gptq_timing() -> list[dict]:
    import gptq_layer  # bench/gptq_layer.py

    rows = []
    base = dict(out=4096, inp=11008, tokens=2048, bits=4, group_size=128, block_size=128)
    warm = argparse.Namespace(**{**base, "out": 256, "inp": 1024, "act_order": False})
    gptq_layer.bench(torch.device("cuda"), warm)
    for act_order in (False, True):
        r = gptq_layer.bench(torch.device("cuda"), argparse.Namespace(**base, act_order=act_order))
        rows.append({**r, "act_order": act_order})
        print(f"GPTQ 4096x11008 {r['device']} act_order={act_order}: H {r['hessian_s']:.2f} s, GPTQ {r['gptq_s']:.2f} s, "
              f"RTN {r['rtn_s']:.4f} s, err GPTQ/RTN {r['err_gptq'] / r['err_rtn']:.3f}", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("calls", help="JSON list exported by bench/device_calls.mjs")
    ap.add_argument("--out", required=True, help="folder for device-check.json and the artifacts")
    ap.add_argument("--map", action="append", default=[], help="FROM=TO path prefix mapping (repeatable)")
    ap.add_argument("--skip-gptq", action="store_true")
    ap.add_argument("--device", default="cuda", help="cpu checks the script itself: every difference should be ~0")
    args = ap.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("device_check: CUDA is not available here; this script checks the CUDA paths")
    os.makedirs(args.out, exist_ok=True)
    artifacts = os.path.join(args.out, "artifacts")
    os.makedirs(artifacts, exist_ok=True)
    mapping = [tuple(m.split("=", 1)) for m in args.map]
    with open(args.calls) as f:
        calls = [remap(c, mapping) for c in json.load(f)]

    report: dict[str, Any] = {
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "gpu": torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "none (cpu)",
        "rows": [],
    }
    print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, {report['gpu']}; {len(calls)} recorded calls", flush=True)
    for call in calls:
        fp16 = args.device.startswith("cuda") and call["kernel"] in FP16_KERNELS
        variants = [(args.device, "float32")] + ([(args.device, "auto")] if fp16 else [])
        for device, dtype in variants:
            row = replay(call, device, dtype, artifacts)
            report["rows"].append(row)
            c = row.get("comparison") or {}
            status = "ERROR " + row["error"].splitlines()[0] if row["error"] else f"max rel {c['max_rel']:.2e} over {c['numbers']} numbers"
            print(f"{call['run'][:8]} {call['step']:<22} {call['kernel']:<18} {dtype:<8} {row['seconds']:7.2f} s "
                  f"{row['peak_cuda_mib']:8.1f} MiB  {status}", flush=True)
        resident.clear()  # the next call (maybe another run) starts from its own loaded model
    if not args.skip_gptq and args.device.startswith("cuda"):
        report["gptq"] = gptq_timing()
    with open(os.path.join(args.out, "device-check.json"), "w") as f:
        json.dump(report, f, indent=1)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    main()
