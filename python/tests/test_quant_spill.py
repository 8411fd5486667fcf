"""SpilledOriginals: parameters' values in a temporary file, restored into the same storage bit for bit."""

import os

import pytest
import torch
from torch import nn

from polyquant.quant.spill import SpilledOriginals


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_restore_puts_back_the_exact_bits_in_the_same_storage(dtype):
    model = nn.Sequential(nn.Linear(33, 17), nn.Linear(17, 5)).to(dtype)
    before = {n: (p.data_ptr(), p.detach().clone()) for n, p in model.named_parameters()}
    names = ["0.weight", "1.weight", "1.bias"]
    spilled = SpilledOriginals(model, names)
    try:
        with torch.no_grad():
            for n in names:
                model.get_parameter(n).mul_(3).add_(1)  # what a quantized value would do
        spilled.restore("1.weight")
        assert torch.equal(model.get_parameter("1.weight"), before["1.weight"][1])
        assert not torch.equal(model.get_parameter("0.weight"), before["0.weight"][1])
        for n in names:
            spilled.restore(n)
        spilled.restore("0.weight")  # restoring twice is harmless
    finally:
        spilled.close()
    for n, p in model.named_parameters():
        assert p.data_ptr() == before[n][0] and torch.equal(p, before[n][1]), n
        assert p.dtype == dtype


def test_the_file_leaves_no_trace_in_the_temp_dir(tmp_path):
    model = nn.Linear(8, 8)
    spilled = SpilledOriginals(model, ["weight"], folder=str(tmp_path))
    assert os.listdir(tmp_path) == []  # unlinked at once: a killed process leaves nothing
    spilled.close()
    assert os.listdir(tmp_path) == []


def test_an_unwritable_folder_is_an_os_error(tmp_path):
    with pytest.raises(OSError):
        SpilledOriginals(nn.Linear(4, 4), ["weight"], folder=str(tmp_path / "missing"))
