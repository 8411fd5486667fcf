"""Errors a kernel raises on purpose. Each message names the bad value and where it came from.

The bridge turns any exception into an envelope `{type, message, traceback, retryable}`;
these subclasses let the engine decide what to retry (see `retryable`).
"""


class PolyquantError(Exception):
    """Base class: an error polyquant explains to the researcher."""

    retryable = False


class ParameterError(PolyquantError):
    """A kernel parameter is invalid, e.g. `group_size 100 does not divide in_features 64`."""


class ModelError(PolyquantError):
    """A model cannot be found, loaded or understood (unknown architecture, missing fixture)."""


class CorpusError(PolyquantError):
    """A corpus is empty, lacks a language, or cannot be read."""


class CheckpointError(PolyquantError):
    """A saved checkpoint does not match the kernel run that tries to resume from it."""


class KernelStopped(PolyquantError):
    """The engine asked the kernel to stop (Ctrl-C); its last checkpoint is kept."""


class OutOfMemoryError(PolyquantError):
    """The device ran out of memory; the engine may retry with a smaller batch."""

    retryable = True
