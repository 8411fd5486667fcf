"""The original values of some parameters, kept in a temporary file instead of in memory.

A layer sweep's configurations each quantize nearly every block linear. Holding the originals in
memory while the parameters hold quantized values costs a second model; swapping quantized
weights in per module call (`quant/swap.py`) costs no memory but dequantizes every weight at every
forward pass. With the originals in a file, a parameter can hold its quantized value in place
between configurations: going from one configuration to the next writes only the parameters whose
state changes (two layers in protect-one), evaluations run on plain parameters, and restoring
reads the original bytes back, bit for bit.

The file is unlinked as soon as it is open (where the OS allows), so a killed process leaves
nothing behind; its pages live in the page cache, not in the process's resident memory.
"""

from __future__ import annotations

import os
import tempfile
from typing import Iterable, Optional

import torch
from torch import nn


class SpilledOriginals:
    """Parameters' current values, written to an anonymous temporary file; `restore(name)` puts one back."""

    def __init__(self, model: nn.Module, names: Iterable[str], folder: Optional[str] = None):
        self.model = model
        self.index: dict[str, tuple[int, int, torch.dtype, torch.Size]] = {}  # name → offset, bytes, dtype, shape
        fd, path = tempfile.mkstemp(prefix="polyquant-originals-", dir=folder)
        self.file = os.fdopen(fd, "w+b")
        try:
            os.unlink(path)  # the data lives until the file is closed, or the process dies
            self.path: Optional[str] = None
        except OSError:  # an OS that cannot unlink an open file: delete it in close()
            self.path = path
        try:
            offset = 0
            for name in names:
                t = model.get_parameter(name).detach().to("cpu").contiguous()
                raw = t.view(-1).view(torch.uint8).numpy()
                raw.tofile(self.file)
                self.index[name] = (offset, raw.nbytes, t.dtype, t.shape)
                offset += raw.nbytes
            self.file.flush()
        except BaseException:
            self.close()
            raise

    def restore(self, name: str) -> None:
        """Write the original value back into the parameter (same storage, same bits)."""
        offset, nbytes, dtype, shape = self.index[name]
        buf = bytearray(nbytes)
        self.file.seek(offset)
        if self.file.readinto(buf) != nbytes:
            raise OSError(f"the temporary copy of {name} is shorter than written")
        original = torch.frombuffer(buf, dtype=torch.uint8).view(dtype).view(shape)
        with torch.no_grad():
            self.model.get_parameter(name).copy_(original)

    def close(self) -> None:
        if not self.file.closed:
            self.file.close()
        if self.path is not None and os.path.exists(self.path):
            os.unlink(self.path)
            self.path = None
