"""While a kernel runs, its log records become the run's `log` events (the dashboard's log tail).

polyquant's own loggers (`polyquant.*`) are forwarded from INFO; other libraries (transformers,
datasets, torch) and Python warnings (through `logging.captureWarnings`) from WARNING, so that a
deprecation or a tokenizer warning is seen in the dashboard instead of only in the worker log.
The bridge's own start/done lines (the `polyquant` logger itself) stay in the worker log.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Iterator

from .context import KernelContext

SEPARATE_ROOTS = ("transformers", "datasets")
LEVELS = ((logging.ERROR, "error"), (logging.WARNING, "warn"), (logging.INFO, "info"))


def event_level(levelno: int) -> str:
    return next(name for at_least, name in LEVELS if levelno >= at_least) if levelno >= logging.INFO else "info"


class _EventHandler(logging.Handler):
    def __init__(self, ctx: KernelContext) -> None:
        super().__init__(level=logging.INFO)
        self.ctx = ctx

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "polyquant":
            return False
        own = record.name.startswith("polyquant.")
        return record.levelno >= (logging.INFO if own else logging.WARNING)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.name == "py.warnings":
                # "path:line: Category: text" → the text and its category, without the file path
                message = message.strip().splitlines()[0]
                message = message.split(": ", 1)[1] if ": " in message else message
            self.ctx.log(message, event_level(record.levelno))
        except Exception:  # a log line must never fail the kernel
            self.handleError(record)


@contextlib.contextmanager
def forwarded_logs(ctx: KernelContext) -> Iterator[None]:
    """Forward log records to `ctx.log` for the duration of the block."""
    handler = _EventHandler(ctx)
    root = logging.getLogger()
    own = logging.getLogger("polyquant")
    previous_root, previous_own = root.level, own.level
    # transformers and datasets stop their records at their own root logger (propagate = False)
    attached = [root] + [lg for lg in map(logging.getLogger, SEPARATE_ROOTS) if not lg.propagate]
    for logger in attached:
        logger.addHandler(handler)
    if own.getEffectiveLevel() > logging.INFO:
        own.setLevel(logging.INFO)
    logging.captureWarnings(True)
    try:
        yield
    finally:
        logging.captureWarnings(False)
        for logger in attached:
            logger.removeHandler(handler)
        own.setLevel(previous_own)
        root.setLevel(previous_root)
