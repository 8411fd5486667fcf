"""GPTQ and AWQ on the trained fixtures: GPTQ's int3/int2 perplexity is below RTN's on the same grid.

Perplexity is the held-out corpus' total NLL per token over all languages (chunked protocol, the
GPTQ paper's), measured by polyquant.eval.perplexity with the quantized weights swapped in.
The fixtures' linears have in_features 64 and 192, so groups of 64 are used, with GPTQ's lazy
blocks of 64 columns so that every group starts at a block boundary (GPTQModel's 128/128 default
does the same for 7B models). With the default blocks of 128 a group starting inside a block takes
its grid from the weights at the block's start (the reference's timing): on tiny-llama at int3
that costs GPTQ its lead over RTN (ppl 67.092 against 67.090), which is the reference's behaviour,
not a defect; test_gptq_reference.py checks the codes against the reference for both layouts.
"""

import math

import pytest
import torch

from polyquant.eval.perplexity import Protocol, measure
from polyquant.models import resident
from polyquant.quant.apply import apply_weights
from polyquant.quant.methods import quantize_model
from polyquant.quant.plan import resolve_targets

pytestmark = [pytest.mark.fixture, pytest.mark.usefixtures("one_thread")]  # conftest: tiny ops run faster on one thread
GROUP = 64
PROTOCOL = Protocol(name="chunked", context_length=128, batch_size=16)


def _ppl(loaded, corpus, weights=None) -> float:
    with apply_weights(loaded.model, weights or {}):
        stats = measure(loaded, corpus, PROTOCOL)
    return math.exp(sum(s["nll"] for s in stats.values()) / sum(s["tokens"] for s in stats.values()))


def _quant(method, bits, train_corpus, **extra):
    return {"method": method, "bits": bits, "group_size": GROUP, "sym": False,
            "calibration": {"corpus": train_corpus, "samples": 32, "seq_len": 128, "seed": 0},
            **({"gptq": {"block_size": GROUP}} if method == "gptq" else {}), **extra}


@pytest.mark.parametrize("name", ["tiny-llama", "tiny-gpt2"])
def test_gptq_perplexity_below_rtn_at_int3_and_int2(name, trained_fixtures, train_corpus, heldout_corpus):
    loaded = resident.get({"id": f"fixture:{name}", "device": "cpu"})
    base = _ppl(loaded, heldout_corpus)
    for bits in (3, 2):
        quant = _quant("gptq", bits, train_corpus)
        targets = resolve_targets(loaded.model, quant)
        gptq = quantize_model(loaded, quant, targets)
        rtn = quantize_model(loaded, {**quant, "method": "rtn"}, targets)
        ppl_g, ppl_r = _ppl(loaded, heldout_corpus, gptq.weights), _ppl(loaded, heldout_corpus, rtn.weights)
        print(f"{name} int{bits}: base {base:.3f} rtn {ppl_r:.3f} gptq {ppl_g:.3f}")
        assert base < ppl_g < ppl_r, (bits, base, ppl_g, ppl_r)
        assert gptq.meta["calibration"]["seq_len"] == 128 and gptq.meta["calibration"]["mix"] == "bytes"
    assert _ppl(loaded, heldout_corpus) == base  # the resident model is restored exactly


@pytest.mark.parametrize("name", ["tiny-llama", "tiny-gpt2"])
def test_awq_runs_on_the_fixtures_and_damages_less_than_rtn_int2(name, trained_fixtures, train_corpus, heldout_corpus):
    # int2, where the damage is well above noise: at int3 the 600-step tiny-llama loses ~1.2% PPL to
    # RTN and AWQ lands within noise of it (67.25 vs 67.09); at int2 AWQ is clearly better (71.7 vs 75.2)
    loaded = resident.get({"id": f"fixture:{name}", "device": "cpu"})
    base = _ppl(loaded, heldout_corpus)
    quant = _quant("awq", 2, train_corpus, awq={"grid": 10, "clip_grid": 10})
    targets = resolve_targets(loaded.model, quant)
    awq = quantize_model(loaded, quant, targets)
    rtn = quantize_model(loaded, {**quant, "method": "rtn"}, targets)
    ppl_a, ppl_r = _ppl(loaded, heldout_corpus, awq.weights), _ppl(loaded, heldout_corpus, rtn.weights)
    print(f"{name} int2: base {base:.3f} rtn {ppl_r:.3f} awq {ppl_a:.3f}")
    assert base < ppl_a < ppl_r, (base, ppl_a, ppl_r)
