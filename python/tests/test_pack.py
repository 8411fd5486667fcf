"""GPTQ and AWQ bit packing: hand-packed words unpack to known codes, and pack ∘ unpack is the identity."""

import numpy as np
import pytest
import torch

from polyquant.errors import ParameterError
from polyquant.quant import pack


def _autogptq_pack_rows(intweight: np.ndarray, bits: int) -> np.ndarray:
    """AutoGPTQ qlinear_cuda_old.py `pack()` loop, transcribed as the independent reference."""
    intweight = intweight.astype(np.uint32)
    qweight = np.zeros((intweight.shape[0] // 32 * bits, intweight.shape[1]), dtype=np.uint32)
    i = row = 0
    while row < qweight.shape[0]:
        if bits in (2, 4, 8):
            for j in range(i, i + 32 // bits):
                qweight[row] |= intweight[j] << (bits * (j - i))
            i += 32 // bits
            row += 1
        else:
            for j in range(i, i + 10):
                qweight[row] |= intweight[j] << (3 * (j - i))
            i += 10
            qweight[row] |= intweight[i] << 30
            row += 1
            qweight[row] |= (intweight[i] >> 2) & 1
            i += 1
            for j in range(i, i + 10):
                qweight[row] |= intweight[j] << (3 * (j - i) + 1)
            i += 10
            qweight[row] |= intweight[i] << 31
            row += 1
            qweight[row] |= (intweight[i] >> 1) & 0x3
            i += 1
            for j in range(i, i + 10):
                qweight[row] |= intweight[j] << (3 * (j - i) + 2)
            i += 10
            row += 1
    return qweight.astype(np.int32)


def test_hand_packed_4bit_word_unpacks_to_known_codes():
    # 0x87654321: code k (k = 0..7) sits in nibble k, little end first.
    word = torch.tensor([[np.int32(np.uint32(0x87654321).astype(np.int32))]], dtype=torch.int32)
    codes = pack.unpack_dim0(word, 4)
    assert codes[:, 0].tolist() == [1, 2, 3, 4, 5, 6, 7, 8]
    assert pack.pack_dim0(codes, 4).item() == word.item()


def test_hand_packed_2bit_and_8bit_words():
    w2 = torch.tensor([[0b11100100_11100100_11100100_11100100 - (1 << 32)]], dtype=torch.int32)
    assert pack.unpack_dim0(w2, 2)[:, 0].tolist() == [0, 1, 2, 3] * 4
    w8 = torch.tensor([[0x04030201]], dtype=torch.int32)
    assert pack.unpack_dim0(w8, 8)[:, 0].tolist() == [1, 2, 3, 4]


def test_hand_packed_3bit_crossing_codes():
    # 32 codes in 3 words; code 10 = 0b101 puts 0b01 in word 0 bits 30-31 and 0b1 in word 1 bit 0;
    # code 21 = 0b011 puts 0b1 in word 1 bit 31 and 0b01 in word 2 bits 0-1. All other codes are 0.
    words = torch.tensor([[(0b01 << 30) - (1 << 32)], [1 + (1 << 31) - (1 << 32)], [0b01]], dtype=torch.int64).to(torch.int32)
    codes = pack.unpack_dim0(words, 3)[:, 0].tolist()
    expected = [0] * 32
    expected[10], expected[21] = 0b101, 0b011
    assert codes == expected


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
def test_pack_matches_autogptq_loop_and_round_trips(bits):
    g = torch.Generator().manual_seed(bits)
    codes = torch.randint(0, 2**bits, (64, 5), generator=g)
    packed = pack.pack_dim0(codes, bits)
    assert packed.dtype == torch.int32 and packed.shape == (64 * bits // 32, 5)
    np.testing.assert_array_equal(packed.numpy(), _autogptq_pack_rows(codes.numpy(), bits))
    assert torch.equal(pack.unpack_dim0(packed, bits), codes)


def test_gptq_qweight_and_qzeros_shapes():
    out_f, in_f, bits, groups = 64, 96, 3, 3
    codes = torch.randint(0, 8, (out_f, in_f))
    qweight = pack.pack_gptq_qweight(codes, bits)
    assert qweight.shape == (in_f * bits // 32, out_f)
    assert torch.equal(pack.unpack_gptq_qweight(qweight, bits, in_f), codes)
    zeros = torch.randint(0, 8, (groups, out_f))
    qzeros = pack.pack_gptq_qzeros(zeros, bits)
    assert qzeros.shape == (groups, out_f * bits // 32)
    assert torch.equal(pack.unpack_gptq_qzeros(qzeros, bits, out_f), zeros)


def test_awq_interleaved_order():
    # Columns 0..7 hold codes 0..7; slot i holds column AWQ_ORDER[i] = [0,2,4,6,1,3,5,7][i].
    codes = torch.arange(8).reshape(1, 8)
    word = pack.pack_awq(codes, 4)
    assert word.shape == (1, 1)
    assert word.item() == 0x75316420
    assert torch.equal(pack.unpack_awq(word, 4), codes)
    big = torch.randint(0, 16, (6, 32))
    assert torch.equal(pack.unpack_awq(pack.pack_awq(big)), big)


def test_bad_input_names_the_value():
    with pytest.raises(ParameterError, match="bits 5"):
        pack.pack_dim0(torch.zeros(32, 1, dtype=torch.int64), 5)
    with pytest.raises(ParameterError, match=r"\[0, 15\]"):
        pack.pack_dim0(torch.full((8, 1), 16), 4)
    with pytest.raises(ParameterError, match="multiple of 8"):
        pack.pack_awq(torch.zeros(2, 12, dtype=torch.int64))
    with pytest.raises(ParameterError, match="bits 3"):
        pack.pack_awq(torch.zeros(2, 16, dtype=torch.int64), 3)
