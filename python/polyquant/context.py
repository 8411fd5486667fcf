"""The context a kernel runs in: progress, checkpoints, resume state and stop requests.

The engine (TypeScript) and a kernel (Python) talk through three files the engine names:
- `events_path`: JSON lines the kernel appends (`progress`, `checkpoint`, `log`); the engine tails it.
- `checkpoint_path`: the kernel's latest checkpoint, written atomically (temp file + rename),
  so a kill at any moment leaves either the previous or the new checkpoint, never half of one.
- `stop_path`: exists once the engine wants the kernel to stop (Ctrl-C); `should_stop()` polls it.
Files, not callbacks, because they survive a dead worker and need nothing from the bridge.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from typing import Any, Optional

PROGRESS_INTERVAL_S = 0.25  # progress events are batched: at most one per interval, plus the last


@dataclass
class KernelContext:
    kernel: str = ""  # the `uses:` name, for modules that implement several kernels
    run_id: str = "local"
    step_id: str = "step"
    events_path: Optional[str] = None  # None: events are dropped (plain Python use, tests)
    checkpoint_path: Optional[str] = None  # None: checkpoints are kept in memory only
    stop_path: Optional[str] = None
    artifacts_dir: Optional[str] = None  # where kernels write files (quantized weights, ...)
    resume_state: Optional[dict] = None  # the last checkpoint, loaded when the step resumes
    # Ray actors lent to this step for its units (executor/fanout.py); empty on the local executor
    helpers: list = field(default_factory=list, repr=False)  # (actor handle, label) pairs
    where: str = ""  # this actor's label ("actor 0 on 10.0.0.5 GPU 0"); empty on the local executor
    _last_progress: float = field(default=0.0, repr=False)
    _memory_checkpoint: Optional[dict] = field(default=None, repr=False)

    @classmethod
    def from_json(cls, raw: Optional[dict]) -> "KernelContext":
        raw = raw or {}
        ctx = cls(
            kernel=raw.get("kernel", ""),
            run_id=raw.get("run_id", "local"),
            step_id=raw.get("step_id", "step"),
            events_path=raw.get("events_path"),
            checkpoint_path=raw.get("checkpoint_path"),
            stop_path=raw.get("stop_path"),
            artifacts_dir=raw.get("artifacts_dir"),
        )
        if ctx.checkpoint_path and os.path.exists(ctx.checkpoint_path):
            with open(ctx.checkpoint_path, "r", encoding="utf-8") as f:
                ctx.resume_state = json.load(f)
        return ctx

    def _emit(self, event: dict[str, Any]) -> None:
        if not self.events_path:
            return
        line = json.dumps(event, separators=(",", ":")) + "\n"
        # One write call per event keeps lines whole for a reader tailing the file.
        with open(self.events_path, "a", encoding="utf-8") as f:
            f.write(line)

    def progress(self, done: float, total: float, unit: str = "items", message: str = "") -> None:
        now = time.monotonic()
        if done < total and now - self._last_progress < PROGRESS_INTERVAL_S:
            return
        self._last_progress = now
        self._emit({"type": "progress", "done": done, "total": total, "unit": unit, "message": message, "t": time.time()})

    def log(self, message: str, level: str = "info") -> None:
        """A line for the dashboard's log tail; `level` is info, warn or error."""
        self._emit({"type": "log", "message": message, "level": level, "t": time.time()})

    def partial(self, result: dict[str, Any]) -> None:
        """A partial result (e.g. one language's numbers) the dashboard can show before the step ends."""
        self._emit({"type": "partial", "result": result, "t": time.time()})

    def checkpoint(self, state: dict[str, Any]) -> None:
        self._memory_checkpoint = state
        if self.checkpoint_path:
            tmp = f"{self.checkpoint_path}.tmp-{os.getpid()}"
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(state, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.checkpoint_path)
        self._emit({"type": "checkpoint", "t": time.time()})

    def should_stop(self) -> bool:
        return bool(self.stop_path) and os.path.exists(self.stop_path)
