"""GPTQ against the reference algorithm, written here from IST-DASLab/gptq (`gptq.py`
`GPTQ.fasterquant`, `quant.py` `Quantizer.find_params` / `quantize`), which GPTQModel's `gptq.py`
keeps: given the same weight and Hessian, polyquant's codes equal the reference's for every group
size (32, 64, 128, per channel) and block size (64, 128), also when a group starts inside a block
(group 64, block 128), where the reference computes a group's grid from W as it stood at the start
of the block.
"""

import pytest
import torch

from polyquant.quant.gptq import gptq_codes


def _find_params(x: torch.Tensor, maxq: int, sym: bool):
    """Quantizer.find_params(x, weight=True), per output row."""
    tmp = torch.zeros(x.shape[0], device=x.device)
    xmin = torch.minimum(x.min(1)[0], tmp)
    xmax = torch.maximum(x.max(1)[0], tmp)
    if sym:
        xmax = torch.maximum(torch.abs(xmin), xmax)
        tmp = xmin < 0
        if torch.any(tmp):
            xmin[tmp] = -xmax[tmp]
    tmp = (xmin == 0) & (xmax == 0)
    xmin[tmp] = -1
    xmax[tmp] = +1
    scale = (xmax - xmin) / maxq
    zero = torch.full_like(scale, (maxq + 1) / 2) if sym else torch.round(-xmin / scale)
    return scale.unsqueeze(1), zero.unsqueeze(1)


def _quantize(x, scale, zero, maxq):
    q = torch.clamp(torch.round(x / scale) + zero, 0, maxq)
    return scale * (q - zero), q


def fasterquant(W: torch.Tensor, H: torch.Tensor, bits: int, groupsize: int, sym: bool, blocksize: int, percdamp: float = 0.01):
    """GPTQ.fasterquant without act_order, returning the integer codes (out × in)."""
    W = W.clone().float()
    H = H.clone()
    maxq = 2**bits - 1
    columns = W.shape[1]
    scale, zero = _find_params(W, maxq, sym)
    dead = torch.diag(H) == 0
    H[dead, dead] = 1
    W[:, dead] = 0
    Q = torch.zeros_like(W)
    codes = torch.zeros_like(W)
    damp = percdamp * torch.mean(torch.diag(H))
    diag = torch.arange(columns)
    H[diag, diag] += damp
    H = torch.linalg.cholesky(H)
    H = torch.cholesky_inverse(H)
    H = torch.linalg.cholesky(H, upper=True)
    Hinv = H
    for i1 in range(0, columns, blocksize):
        i2 = min(i1 + blocksize, columns)
        count = i2 - i1
        W1 = W[:, i1:i2].clone()
        Q1 = torch.zeros_like(W1)
        C1 = torch.zeros_like(W1)
        Err1 = torch.zeros_like(W1)
        Hinv1 = Hinv[i1:i2, i1:i2]
        for i in range(count):
            w = W1[:, i]
            d = Hinv1[i, i]
            if groupsize != -1 and (i1 + i) % groupsize == 0:
                scale, zero = _find_params(W[:, (i1 + i):(i1 + i + groupsize)], maxq, sym)
            q, c = _quantize(w.unsqueeze(1), scale, zero, maxq)
            q, c = q.flatten(), c.flatten()
            Q1[:, i], C1[:, i] = q, c
            err1 = (w - q) / d
            W1[:, i:] -= err1.unsqueeze(1).matmul(Hinv1[i, i:].unsqueeze(0))
            Err1[:, i] = err1
        Q[:, i1:i2] = Q1
        codes[:, i1:i2] = C1
        W[:, i2:] -= Err1.matmul(Hinv[i1:i2, i2:])
    return codes.to(torch.uint8), Q


def _layer(rows=96, columns=256, tokens=2048, seed=0):
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(rows, columns, generator=g)
    X = torch.randn(tokens, columns, generator=g) @ (torch.eye(columns) + 0.3 * torch.randn(columns, columns, generator=g))  # correlated inputs
    H = 2 * X.t() @ X / tokens
    return W, H


@pytest.mark.parametrize("group_size", [32, 64, 128, -1])
@pytest.mark.parametrize("block_size", [64, 128])
@pytest.mark.parametrize("sym", [False, True])
def test_codes_equal_the_reference_for_every_group_and_block(group_size, block_size, sym):
    W, H = _layer()
    ref_codes, ref_q = fasterquant(W, H, 4, group_size, sym, block_size)
    ours = gptq_codes(W, H, 4, group_size, sym, 0.01, block_size)
    assert torch.equal(ours.codes, ref_codes), f"{(ours.codes != ref_codes).float().mean().item():.2%} of codes differ"
    torch.testing.assert_close(ours.dequantize(), ref_q, rtol=0, atol=1e-6)


def test_the_updated_grid_variant_differs_only_where_a_group_starts_inside_a_block():
    """group 64, block 128: group 1 starts inside the first block, so its grid (and, through the
    error feedback, everything after it) differs; group 0 is the same; with block 64 every group
    starts a block and the two variants are one algorithm."""
    W, H = _layer(seed=1)
    ref_codes, _ = fasterquant(W, H, 3, 64, False, 128)
    updated = gptq_codes(W, H, 3, 64, False, 0.01, 128, group_grid="updated")
    assert torch.equal(updated.codes[:, :64], ref_codes[:, :64])
    assert not torch.equal(updated.codes[:, 64:128], ref_codes[:, 64:128])
    a = gptq_codes(W, H, 3, 64, False, 0.01, 64, group_grid="updated")
    b = gptq_codes(W, H, 3, 64, False, 0.01, 64)
    assert torch.equal(a.codes, b.codes) and torch.equal(a.scales, b.scales)
