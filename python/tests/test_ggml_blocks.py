"""llama.cpp block formats (polyquant.quant.ggml_blocks) against llama.cpp's own code.

Three references, none of them ours: gguf-py (llama.cpp's Python package) for every dequantizer
and for the Q4_0 … Q8_0 quantizers; the C reference quantizers quantize_row_<type>_ref, whose
bytes for fixed inputs are stored in tests/data/ggml_reference.npz (written once by those C functions
at the llama.cpp commit the file records; the harness that ran them is not part of polyquant).
"""

import os

import gguf
import numpy as np
import pytest
import torch
from gguf import GGMLQuantizationType

from polyquant.errors import ParameterError
from polyquant.quant.ggml_blocks import GGML_TYPES, decode, encode, fake_quantize

REFERENCE = os.path.join(os.path.dirname(__file__), "data", "ggml_reference.npz")
ALL_TYPES = list(GGML_TYPES)
GGUF_QUANTIZED = ["F32", "F16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0"]  # gguf-py has a quantizer
C_REFERENCE = ["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"]


def weights(seed: int) -> torch.Tensor:
    """8 × 512 float32: gaussian rows plus the rows that reach the special branches."""
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(8, 512, generator=g) * 0.05
    w[1] = 0.0  # all zero
    w[2] = 0.3  # constant
    w[3] = -torch.rand(512, generator=g)  # negative only
    w[4, ::37] *= 200.0  # outliers
    w[5] = torch.randint(-8, 9, (512,), generator=g) / 2.0  # exact ties for the rounding
    w[6, :256] = 0.0  # a zero super-block beside a gaussian one
    w[7] = torch.rand(512, generator=g) + 0.5  # positive only, away from zero
    return w


@pytest.fixture(scope="module")
def reference():
    return np.load(REFERENCE)


def test_type_table_matches_gguf():
    for name, t in GGML_TYPES.items():
        qtype = GGMLQuantizationType[name]
        assert t.gguf_id == qtype.value, name
        assert (t.block_size, t.type_size) == gguf.GGML_QUANT_SIZES[qtype], name
        assert t.bpw == t.type_size * 8 / t.block_size
    assert GGML_TYPES["Q4_K"].bpw == 4.5 and GGML_TYPES["Q6_K"].bpw == 6.5625 and GGML_TYPES["Q2_K"].bits == 2
    # one fp16 d per 32 weights, or one 4/6/8-bit scale per K sub-block (ggml-common.h)
    groups = {"Q4_0": 32, "Q8_0": 32, "Q2_K": 16, "Q3_K": 16, "Q4_K": 32, "Q5_K": 32, "Q6_K": 16, "F16": 1}
    assert {name: GGML_TYPES[name].scale_group for name in groups} == groups


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("type_name", ALL_TYPES)
def test_decode_matches_gguf_dequantize(type_name, seed):
    w = weights(seed)
    blocks = encode(w, type_name)
    t = GGML_TYPES[type_name]
    assert blocks.dtype == torch.uint8 and blocks.shape == (8, 512 // t.block_size * t.type_size)
    ours = decode(blocks, type_name)
    theirs = gguf.quants.dequantize(blocks.numpy(), GGMLQuantizationType[type_name])
    assert np.array_equal(ours.numpy(), theirs)
    assert torch.equal(fake_quantize(w, type_name), ours)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("type_name", GGUF_QUANTIZED)
def test_encode_matches_gguf_quantize(type_name, seed):
    w = weights(seed)
    theirs = gguf.quants.quantize(w.numpy(), GGMLQuantizationType[type_name]).view(np.uint8)
    assert np.array_equal(encode(w, type_name).numpy(), theirs.reshape(8, -1))


@pytest.mark.parametrize("type_name", C_REFERENCE)
def test_encode_matches_llama_cpp_reference(type_name, reference):
    ours = encode(torch.from_numpy(reference["inputs"]), type_name).numpy()
    expected = reference[type_name]
    assert ours.shape == expected.shape
    differing = int((ours != expected).sum())
    assert differing == 0, f"{type_name}: {differing} of {expected.size} bytes differ from quantize_row_{type_name}_ref"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("type_name", C_REFERENCE)
def test_cuda_matches_llama_cpp_reference(type_name, reference):
    x = torch.from_numpy(reference["inputs"]).cuda()
    blocks = encode(x, type_name)
    assert blocks.is_cuda
    assert np.array_equal(blocks.cpu().numpy(), reference[type_name])
    assert torch.equal(decode(blocks, type_name).cpu(), decode(blocks.cpu(), type_name))


def test_error_falls_as_bits_grow():
    w = torch.randn(16, 1024, generator=torch.Generator().manual_seed(3))
    order = ["Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q8_0"]
    mse = [((fake_quantize(w, t) - w) ** 2).mean().item() for t in order]
    assert all(a > b for a, b in zip(mse, mse[1:])), dict(zip(order, mse))
    assert mse[0] < w.var().item() / 4  # even 2 bits keep most of the signal


def test_fake_quantize_keeps_dtype_and_shape():
    w = (torch.randn(2, 3, 256, generator=torch.Generator().manual_seed(4)) * 0.02).to(torch.bfloat16)
    out = fake_quantize(w, "Q4_K")
    assert out.dtype == torch.bfloat16 and out.shape == w.shape
    expected = decode(encode(w.float().reshape(6, 256), "Q4_K"), "Q4_K").to(torch.bfloat16).reshape(w.shape)
    assert torch.equal(out, expected)


def test_cols_not_a_multiple_of_the_block_size():
    with pytest.raises(ParameterError, match=r"Q4_K packs blocks of 256 weights: cols 100 is not a multiple of 256"):
        encode(torch.zeros(4, 100), "Q4_K")
    with pytest.raises(ParameterError, match=r"Q8_0 packs blocks of 32 weights: cols 48"):
        encode(torch.zeros(4, 48), "Q8_0")


def test_bad_type_and_bad_blocks():
    with pytest.raises(ParameterError, match=r"unknown ggml type 'Q4_X'"):
        encode(torch.zeros(1, 256), "Q4_X")
    with pytest.raises(ParameterError, match=r"Q6_K blocks are 210 bytes: a row of 200 bytes"):
        decode(torch.zeros(1, 200, dtype=torch.uint8), "Q6_K")
    with pytest.raises(ParameterError, match=r"hold 256 weights, not cols 512"):
        decode(torch.zeros(1, 210, dtype=torch.uint8), "Q6_K", cols=512)
