"""The Ray executor's scale-out: one protect-one sweep on 2 actors against the same sweep on 1.

Both runs go through the executor's pool (polyquant/executor/pool.py) in one local Ray, each actor
with `threads` torch threads, on a random Llama (bench_model.py): the 1-actor run evaluates every
configuration itself, the 2-actor run lends the second actor as a helper (executor/fanout.py).
Timed from submission to the envelope, model loading and the quantization pass included (each
actor loads and quantizes once: that is the fan-out's real cost). The outputs must be equal.

    .venv/bin/python bench/ray_sweep.py [--hidden 256] [--layers 16] [--threads 1] [--actors 2]

It also measures what two single-threaded processes at once reach on this machine at all (the same
matmuls alone and side by side): on a shared 2-core machine that ceiling, not the executor, bounds
the speed-up.

On a GPU machine `--devices cuda` makes one actor per GPU (the cluster's GPUs): 1 GPU against all.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_model import CORPUS, saved_bench_llama  # noqa: E402

# each configuration evaluates this corpus: long enough that an evaluation, not the setup, is the work
LONG_CORPUS = {**CORPUS, "digest": "bench-long", "languages": {lang: docs * 4 for lang, docs in CORPUS["languages"].items()}}


def sweep_params(model_dir: str, device: str) -> dict:
    return {
        "model": {"id": model_dir, "device": device},
        "corpus": LONG_CORPUS,
        "quant": {"method": "rtn", "bits": 3, "group_size": 32},
        "protocol": {"context_length": 128},
        "mode": "protect-one",
        "checkpoint_every": 1000,
    }


def timed_sweep(pool, params: dict, events: str) -> tuple[float, dict]:
    t0 = time.perf_counter()
    job = pool.submit("layer-sweep", json.dumps(params), json.dumps({"events_path": events}), None)
    while (envelope := pool.poll(job, 0.05)) is None:
        pass
    seconds = time.perf_counter() - t0
    out = json.loads(envelope)
    if not out["ok"]:
        raise SystemExit(f"the sweep failed: {out['error']['message']}")
    return seconds, out["result"]


def _matmuls(out) -> None:
    import torch

    torch.set_num_threads(1)
    a = torch.randn(768, 768)
    t0 = time.perf_counter()
    for _ in range(300):
        a @ a
    out.put(time.perf_counter() - t0)


def two_process_ceiling() -> float:
    """What 2 single-threaded processes at once can reach on this machine: 2 × t(alone) / t(together)
    for the same matmuls (cores shared with the machine's other load, caches and memory bandwidth
    shared between the two)."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    times = {}
    for n in (1, 2):
        q = ctx.Queue()
        procs = [ctx.Process(target=_matmuls, args=(q,)) for _ in range(n)]
        for p in procs:
            p.start()
        times[n] = max(q.get() for _ in procs)
        for p in procs:
            p.join()
    return 2 * times[1] / times[2]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--actors", type=int, default=2)
    ap.add_argument("--devices", default="cpu", choices=["cpu", "cuda"])
    args = ap.parse_args()

    import ray

    from polyquant.executor.pool import Pool

    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False, configure_logging=False)
    gpus = int(ray.cluster_resources().get("GPU", 0))
    many = gpus if args.devices == "cuda" else args.actors
    if args.devices == "cuda" and gpus < 1:
        raise SystemExit("--devices cuda: the cluster has no GPU")
    with saved_bench_llama(args.hidden, args.layers) as model_dir:
        params = sweep_params(model_dir, "cuda" if args.devices == "cuda" else "cpu")
        results = {}
        for n in (1, many):
            pool = Pool.connect({"actors": n, "threads": args.threads})
            try:
                pool.describe()  # the actors are up before the clock starts: Ray's start-up is not the sweep's
                events = os.path.join(model_dir, f"events-{n}.jsonl")
                t_start = time.time()
                results[n] = timed_sweep(pool, params, events)
                with open(events) as f:
                    done = [json.loads(line) for line in f if '"configurations"' in line]
                # which actor evaluated which configuration, when (the progress messages say)
                print(f"{n} actor(s): " + "; ".join(f"{e['t'] - t_start:.1f}s {e['message'].split(' on 1')[0]}" for e in done))
            finally:
                pool.close()
    ray.shutdown()
    ceiling = two_process_ceiling() if many == 2 and args.devices == "cpu" else None
    (t1, out1), (tn, outn) = results[1], results[many]
    equal = json.dumps(out1, sort_keys=True) == json.dumps(outn, sort_keys=True)
    print(f"protect-one sweep, random Llama hidden {args.hidden} x {args.layers} layers, {out1['configurations']} configurations, {args.threads} torch thread(s) per actor, {args.devices}")
    print(f"1 actor {t1:.2f} s, {many} actors {tn:.2f} s: speed-up {t1 / tn:.2f}x, outputs equal: {equal}")
    if ceiling is not None:
        print(f"this machine's ceiling for 2 single-threaded processes at once (the same matmuls alone and side by side): {ceiling:.2f}x")
    print(json.dumps({"one_s": t1, "many_s": tn, "actors": many, "speedup": t1 / tn, "equal": equal, "ceiling": ceiling, "configurations": out1["configurations"], "hidden": args.hidden, "layers": args.layers}))
    if not equal:
        raise SystemExit("the 2-actor sweep's outputs differ from the 1-actor sweep's")


if __name__ == "__main__":
    main()
