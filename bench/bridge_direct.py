"""Bridge overhead, the plain-Python side: the same kernel calls as a `polyquant run`, without the bridge.

Reads a JSON list of kernel params (what the engine handed Python for each step, read back from
the run store by bench/run.mjs), calls `polyquant.api.run_direct(kernel, params)` for each in
order, and prints one JSON line: the wall and CPU seconds of each call. The first call loads the model (it
stays resident), so calls 2.. compare with the engine's steps 2.. on a warm worker.

    .venv/bin/python bench/bridge_direct.py disparity params.json
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))

from polyquant.api import run_direct  # noqa: E402


def main() -> None:
    kernel, path = sys.argv[1], sys.argv[2]
    with open(path) as f:
        calls = json.load(f)
    seconds, cpu_seconds = [], []
    for params in calls:
        t0, c0 = time.perf_counter(), time.process_time()
        run_direct(kernel, params)
        seconds.append(time.perf_counter() - t0)
        cpu_seconds.append(time.process_time() - c0)  # all threads of this process
    sys.stdout.write(json.dumps({"seconds": seconds, "cpu_seconds": cpu_seconds}) + "\n")


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    main()
