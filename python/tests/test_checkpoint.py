"""GPTQ/AWQ checkpoints: hand-packed tensors, published layout, export → load round trips, errors."""

import json
import re
import os

import pytest
import torch

import calib_tiny as ct
from polyquant.errors import ModelError, ParameterError
from polyquant.models.load import load_model
from polyquant.quant import pack
from polyquant.models.quantized import dequantize_awq, dequantize_gptq, read_quant_config
from polyquant.quant.export import export_awq, export_gptq
from polyquant.quant.methods import quantize_model
from polyquant.quant.plan import resolve_targets
from quant_tiny import tiny_gpt2, tiny_llama


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: many tiny ops run faster on one thread


def _u32(x):
    return x - (1 << 32) if x >= 1 << 31 else x


def test_hand_packed_gptq_v1_and_v2_dequantize_to_known_weights():
    # One 4-bit module, in 8 × out 2. Column 0's word 0x76543210 holds codes 0..7 for inputs 0..7,
    # column 1's word 0xFFFFFFFF holds code 15 everywhere. One group; stored zeros 7 and 3 (v1: z = 8, 4).
    qweight = torch.tensor([[0x76543210, _u32(0xFFFFFFFF)]], dtype=torch.int32)  # (8·4/32, 2)
    qzeros = torch.tensor([[0x37]], dtype=torch.int32)  # out 0 → nibble 0 = 7, out 1 → nibble 1 = 3
    scales = torch.tensor([[0.5, 0.25]], dtype=torch.float16)
    g_idx = torch.zeros(8, dtype=torch.int32)
    W1 = dequantize_gptq(qweight, qzeros, scales, g_idx, 4, "gptq")
    assert W1.shape == (2, 8)
    assert W1[0].tolist() == [0.5 * (c - 8) for c in range(8)]
    assert W1[1].tolist() == [0.25 * (15 - 4)] * 8
    W2 = dequantize_gptq(qweight, qzeros, scales, g_idx, 4, "gptq_v2")  # v2: zeros as stored
    assert W2[0].tolist() == [0.5 * (c - 7) for c in range(8)]


def test_hand_packed_awq_gemm_dequantizes_with_the_interleaved_order():
    # in 1 × out 8: slot i of the word holds column [0,2,4,6,1,3,5,7][i]; 0x75316420 → columns hold 0..7.
    qweight = torch.tensor([[0x75316420]], dtype=torch.int32)
    qzeros = torch.tensor([[0x22222222]], dtype=torch.int32)  # zero 2 for every column
    scales = torch.full((1, 8), 0.5, dtype=torch.float16)
    W = dequantize_awq(qweight, qzeros, scales, 4, 1)
    assert W.shape == (8, 1)
    assert W[:, 0].tolist() == [0.5 * (c - 2) for c in range(8)]


def _gptq_result(model, loaded, sym=False, act_order=True):
    quant = {"method": "gptq", "bits": 3, "group_size": 16, "sym": sym, "gptq": {"act_order": act_order},
             "calibration": {"corpus": ct.corpus(), "samples": 8, "seq_len": 32, "seed": 0}}
    targets = resolve_targets(model, quant, protect={"modules": [r"(down_proj|mlp\.c_proj)$"]}, overrides=[{"layers": [1], "bits": 4, "group_size": 32}])
    return quantize_model(loaded, quant, targets), targets


@pytest.mark.parametrize("fmt", ["gptq", "gptq_v2"])
def test_gptq_export_load_round_trip_is_exact(tmp_path, fmt):
    model = tiny_llama(layers=2)
    loaded = ct.loaded(model, ct.hf_byte_tokenizer())
    res, targets = _gptq_result(model, loaded, sym=True)
    out = str(tmp_path / "ckpt")
    qcfg = export_gptq(loaded, res, out, checkpoint_format=fmt)
    assert qcfg["checkpoint_format"] == fmt and qcfg["bits"] == 3 and qcfg["group_size"] == 16 and qcfg["desc_act"]
    back = load_model({"id": out, "format": "gptq", "dtype": "float32", "device": "cpu"})
    params = dict(back.model.named_parameters())
    for t in targets:
        c = res.gptq.codes[t.name]
        g = c.g_idx.long()
        expected = c.scales.half().float()[:, g] * (c.codes.float() - c.zeros[:, g].float())  # fp16 scales, as stored
        assert torch.equal(params[t.param_name].detach(), expected), t.name
        torch.testing.assert_close(params[t.param_name].detach(), res.weights[t.param_name], rtol=2e-3, atol=1e-4)
    for name, p in model.named_parameters():  # everything else is the original model, bit for bit
        if name not in res.weights:
            assert torch.equal(params[name].detach(), p.detach()), name
    assert back.quantization["checkpoint_format"] == fmt and back.quantization["modules"] == len(targets)
    assert back.quantization["per_module"]["model.layers.1.self_attn.q_proj"] == {"bits": 4, "group_size": 32}


def test_gptq_layout_matches_the_published_format(tmp_path):
    model = tiny_gpt2(layers=2)  # Conv1D weights: stored in × out, exported like nn.Linear ones
    loaded = ct.loaded(model, ct.hf_byte_tokenizer())
    res, targets = _gptq_result(model, loaded, act_order=False)
    out = str(tmp_path / "ckpt")
    export_gptq(loaded, res, out, checkpoint_format="gptq_v2")
    from safetensors.torch import load_file

    tensors = load_file(os.path.join(out, "model.safetensors"))
    name = "transformer.h.0.attn.c_attn"  # in 64, out 192, 3 bits, group 16
    assert tensors[f"{name}.qweight"].dtype == torch.int32 and tuple(tensors[f"{name}.qweight"].shape) == (64 * 3 // 32, 192)
    assert tensors[f"{name}.qzeros"].dtype == torch.int32 and tuple(tensors[f"{name}.qzeros"].shape) == (4, 192 * 3 // 32)
    assert tensors[f"{name}.scales"].dtype == torch.float16 and tuple(tensors[f"{name}.scales"].shape) == (4, 192)
    assert tensors[f"{name}.g_idx"].dtype == torch.int32 and tensors[f"{name}.g_idx"].tolist() == [c // 16 for c in range(64)]
    assert tensors[f"{name}.bias"].dtype == torch.float16 and f"{name}.weight" not in tensors
    assert f"transformer.h.0.mlp.c_fc.weight" not in tensors
    with open(os.path.join(out, "quantize_config.json")) as f:
        side = json.load(f)
    with open(os.path.join(out, "config.json")) as f:
        cfg = json.load(f)
    assert cfg["quantization_config"] == side and cfg["model_type"] == "gpt2"
    assert side["quant_method"] == "gptq" and side["checkpoint_format"] == "gptq_v2" and side["sym"] is False
    assert side["dynamic"]["+:^transformer\\.h\\.1\\.attn\\.c_attn$"] == {"bits": 4, "group_size": 32, "sym": False}
    assert read_quant_config(out) == side
    back = load_model({"id": out, "format": "gptq", "device": "cpu"})
    w = dict(back.model.named_parameters())[f"{name}.weight"]
    torch.testing.assert_close(w.detach(), res.weights[f"{name}.weight"], rtol=2e-3, atol=1e-4)


def test_v1_refuses_a_zero_point_of_zero(tmp_path):
    model = tiny_llama(layers=1)
    with torch.no_grad():
        model.model.layers[0].self_attn.q_proj.weight[0, :16] = torch.linspace(0.1, 0.5, 16)  # all ≥ 0: z = 0
    loaded = ct.loaded(model, ct.hf_byte_tokenizer())
    quant = {"method": "gptq", "bits": 4, "group_size": 16, "calibration": {"corpus": ct.corpus(), "samples": 4, "seq_len": 16}}
    res = quantize_model(loaded, quant, resolve_targets(model, quant, protect={"modules": ["mlp", "k_proj", "v_proj", "o_proj"]}))
    assert int(res.gptq.codes["model.layers.0.self_attn.q_proj"].zeros.min()) == 0
    with pytest.raises(ParameterError, match="model.layers.0.self_attn.q_proj.*gptq_v2"):
        export_gptq(loaded, res, str(tmp_path / "v1"), checkpoint_format="gptq")
    export_gptq(loaded, res, str(tmp_path / "v2"), checkpoint_format="gptq_v2")


def test_awq_export_load_round_trip(tmp_path):
    model = tiny_llama(layers=2)
    loaded = ct.loaded(model, ct.hf_byte_tokenizer())
    quant = {"method": "awq", "bits": 4, "group_size": 16, "awq": {"grid": 3, "clip": False},
             "calibration": {"corpus": ct.corpus(), "samples": 8, "seq_len": 32}}
    res = quantize_model(loaded, quant, resolve_targets(model, quant, protect={"layers": [1]}))
    out = str(tmp_path / "awq")
    qcfg = export_awq(loaded, res, out)
    assert qcfg["version"] == "gemm" and qcfg["bits"] == 4 and "model.layers.1.mlp.up_proj" in qcfg["modules_to_not_convert"]
    back = load_model({"id": out, "format": "awq", "device": "cpu"})
    params = dict(back.model.named_parameters())
    for name, w in res.weights.items():  # quantized linears (fp16 scales) and folded norms
        torch.testing.assert_close(params[name].detach(), w, rtol=2e-3, atol=1e-4)
    assert back.quantization == {**back.quantization, "format": "awq", "bits": 4, "group_size": 16, "modules": 7}


def test_load_errors_name_the_problem(tmp_path):
    model = tiny_llama(layers=1)
    loaded = ct.loaded(model, ct.hf_byte_tokenizer())
    quant = {"method": "gptq", "bits": 4, "group_size": 16, "sym": True, "calibration": {"corpus": ct.corpus(), "samples": 4, "seq_len": 16}}
    res = quantize_model(loaded, quant, resolve_targets(model, quant))
    out = str(tmp_path / "g")
    export_gptq(loaded, res, out)
    with pytest.raises(ModelError, match="format 'awq'.*quant_method 'gptq'"):
        load_model({"id": out, "format": "awq", "device": "cpu"})
    with open(os.path.join(out, "config.json")) as f:
        cfg = json.load(f)
    cfg["quantization_config"]["checkpoint_format"] = "marlin"
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f)
    with pytest.raises(ModelError, match="checkpoint_format 'marlin'"):
        load_model({"id": out, "format": "gptq", "device": "cpu"})
    with pytest.raises(ParameterError, match="integer codes"):
        export_gptq(loaded, quantize_model(loaded, {**quant, "method": "rtn"}, resolve_targets(model, quant)), str(tmp_path / "r"))


def test_hub_checkpoint_that_cannot_be_downloaded(monkeypatch):
    import huggingface_hub

    from polyquant.models.quantized import load_quantized

    def offline(*_a, **_k):
        raise OSError("no network")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    with pytest.raises(ModelError, match="'TheBloke/Llama-2-7B-GPTQ' is not a local directory and could not be downloaded: OSError: no network"):
        load_quantized({"id": "TheBloke/Llama-2-7B-GPTQ", "format": "gptq"}, "TheBloke/Llama-2-7B-GPTQ")


def test_gptq_lm_head_export_and_load(tmp_path):
    model = tiny_llama(layers=1, vocab=320)  # qzeros pack out_features: 320·4/32 words
    loaded = ct.loaded(model, ct.hf_byte_tokenizer())
    quant = {"method": "gptq", "bits": 4, "group_size": 16, "sym": True, "include_lm_head": True,
             "calibration": {"corpus": ct.corpus(), "samples": 4, "seq_len": 16}}
    res = quantize_model(loaded, quant, resolve_targets(model, quant, protect={"layers": [0]}))
    qcfg = export_gptq(loaded, res, str(tmp_path / "h"))
    assert qcfg["lm_head"] is True and len(qcfg["dynamic"]) == 7  # the 7 protected block linears
    back = load_model({"id": str(tmp_path / "h"), "format": "gptq", "device": "cpu"})
    torch.testing.assert_close(back.model.lm_head.weight.detach(), res.weights["lm_head.weight"], rtol=2e-3, atol=1e-4)
    odd = tiny_llama(layers=1, vocab=300)
    res = quantize_model(ct.loaded(odd), quant, resolve_targets(odd, quant, protect={"layers": [0]}))
    with pytest.raises(ParameterError, match="module lm_head \\(out 300, in 64\\) cannot be packed"):
        export_gptq(ct.loaded(odd), res, str(tmp_path / "odd"))


@pytest.mark.parametrize("fmt, method", [("gptq", "gptq"), ("awq", "awq"), ("compressed-tensors", "rtn")])
def test_quantize_kernel_exports_a_checkpoint_that_loads_back(tmp_path, fmt, method):
    """`quantize` with `export`: the checkpoint folder loads as `format: gptq|awq|compressed-tensors` and holds the
    kernel's own quantized weights (up to fp16 scales); the same weights reuse the same folder."""
    from safetensors.torch import load_file

    from polyquant.api import run_direct
    from polyquant.context import KernelContext
    from polyquant.models import resident

    model_dir = str(tmp_path / "base")
    tiny_llama(layers=2).save_pretrained(model_dir)
    ct.hf_byte_tokenizer().save_pretrained(model_dir)
    quant = {"method": method, "bits": 4, "group_size": 16, "sym": False}
    if method != "rtn":
        quant["calibration"] = {"corpus": ct.corpus(), "samples": 4, "seq_len": 16}
    if fmt == "awq":
        quant["awq"] = {"grid": 3, "clip": False}
    params = {"model": {"id": model_dir, "device": "cpu"}, "quant": quant, "export": fmt}
    ctx = KernelContext(kernel="quantize", artifacts_dir=str(tmp_path / "artifacts"))
    try:
        out = run_direct("quantize", params, ctx)
        assert out["checkpoint"]["format"] == fmt and os.path.isdir(out["checkpoint"]["path"])
        assert run_direct("quantize", params, ctx)["checkpoint"] == out["checkpoint"]
        weights = load_file(out["artifact"]["path"])
        back = load_model({"id": out["checkpoint"]["path"], "format": fmt, "dtype": "float32", "device": "cpu"})
        params_back = dict(back.model.named_parameters())
        for name, w in weights.items():
            torch.testing.assert_close(params_back[name].detach(), w, rtol=2e-3, atol=1e-4)
        if fmt == "gptq":  # an export the method cannot give is refused, naming both
            with pytest.raises(ParameterError, match="export 'awq' needs quant.method awq, got 'gptq'"):
                run_direct("quantize", {**params, "export": "awq"}, ctx)
    finally:
        resident.clear()


def _gptqmodel_v1_words(zeros: torch.Tensor, bits: int) -> torch.Tensor:
    """What GPTQModel's v1 writer stores (gptqmodel/utils/model.py `convert_gptq_v2_to_v1_format_module`),
    written here independently: the zeros packed as v2 (field i at bits·i of its int32 word, along the
    output dim), then the packed word of ones subtracted from each word, borrows included (2/4/8 bits),
    or 1 subtracted from each field modulo 2^bits (3 bits, whose fields straddle words)."""
    if bits == 3:
        return pack.pack_dim1((zeros - 1) & 7, 3)
    per = 32 // bits
    g, out = zeros.shape
    words = torch.zeros(g, out // per, dtype=torch.int64)
    for i in range(per):
        words |= zeros[:, i::per].to(torch.int64) << (bits * i)
    ones = sum(1 << (bits * i) for i in range(per))
    words = (words - ones) & 0xFFFFFFFF
    return torch.where(words >= 1 << 31, words - (1 << 32), words).to(torch.int32)


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
def test_gptqmodel_v1_with_zero_points_of_zero_decodes_as_its_loader_does(bits):
    """A v1 file GPTQModel wrote for asymmetric weights holds z = 0 here and there: its packed subtraction
    borrows from the neighbouring field. polyquant decodes every zero exactly (AutoGPTQ's per-field +1 did not)."""
    from polyquant.models.quantized import v1_zeros

    gen = torch.Generator().manual_seed(bits)
    out = 32 * 3
    zeros = torch.randint(0, 1 << bits, (5, out), generator=gen)
    zeros[:, ::7] = 0  # the underflowing case, in many positions
    words = _gptqmodel_v1_words(zeros, bits)
    assert torch.equal(v1_zeros(words, bits, out), zeros)
    naive = pack.unpack_gptq_qzeros(words, bits, out) + 1
    assert not torch.equal(naive, zeros)  # the reading this replaces was wrong on such files
    # and on a file without underflow the two readings agree (AutoGPTQ's files)
    safe = torch.randint(1, 1 << bits, (5, out), generator=gen)
    assert torch.equal(v1_zeros(_gptqmodel_v1_words(safe, bits), bits, out), safe)


def test_format_names_the_checkpoint_format_and_unsupported_layouts_are_refused_with_the_reason(tmp_path):
    model = tiny_llama(layers=2)
    loaded = ct.loaded(model, ct.hf_byte_tokenizer())
    res, _targets = _gptq_result(model, loaded)
    out = str(tmp_path / "v2")
    export_gptq(loaded, res, out, checkpoint_format="gptq_v2")
    config = json.load(open(os.path.join(out, "config.json")))
    qcfg = config["quantization_config"]
    qcfg.pop("checkpoint_format", None)
    qcfg["format"] = "gptq_v2"  # how GPTQModel labels it
    json.dump(config, open(os.path.join(out, "config.json"), "w"))
    side = os.path.join(out, "quantize_config.json")
    if os.path.exists(side):
        os.remove(side)
    back = load_model({"id": out, "format": "gptq", "device": "cpu", "dtype": "float32"})
    assert back.quantization["checkpoint_format"] == "gptq_v2"
    qcfg["format"] = "gptq_p"
    json.dump(config, open(os.path.join(out, "config.json"), "w"))
    with pytest.raises(ModelError, match="GPTQModel's gptq_p layout is not read by polyquant yet"):
        load_model({"id": out, "format": "gptq", "device": "cpu", "dtype": "float32"})


def test_a_sharded_checkpoint_follows_its_index_and_a_tensor_in_two_files_is_an_error(tmp_path):
    """Sharded as transformers saves it (model.safetensors.index.json + model-0000k-of-0000n files): the
    index decides which files are read, so a stray file is ignored; a tensor held twice is refused."""
    from safetensors.torch import load_file, save_file

    model = tiny_llama(layers=2)
    loaded = ct.loaded(model, ct.hf_byte_tokenizer())
    res, _targets = _gptq_result(model, loaded)
    out = str(tmp_path / "ckpt")
    export_gptq(loaded, res, out, checkpoint_format="gptq_v2")
    whole = load_model({"id": out, "format": "gptq", "device": "cpu", "dtype": "float32"})
    expected = {k: v.detach().clone() for k, v in whole.model.named_parameters()}
    tensors = load_file(os.path.join(out, "model.safetensors"))
    os.remove(os.path.join(out, "model.safetensors"))
    names = sorted(tensors)
    shards = {"model-00001-of-00002.safetensors": names[: len(names) // 2], "model-00002-of-00002.safetensors": names[len(names) // 2 :]}
    for file, keys in shards.items():
        save_file({k: tensors[k].contiguous() for k in keys}, os.path.join(out, file))
    index = {"metadata": {}, "weight_map": {k: f for f, keys in shards.items() for k in keys}}
    json.dump(index, open(os.path.join(out, "model.safetensors.index.json"), "w"))
    # a leftover file from another save, with other values under the same names: not in the index
    save_file({k: torch.zeros_like(tensors[k]) for k in names[:3]}, os.path.join(out, "old.safetensors"))
    back = load_model({"id": out, "format": "gptq", "device": "cpu", "dtype": "float32"})
    for k, v in back.model.named_parameters():
        assert torch.equal(v.detach(), expected[k]), k
    # the same tensor in two shards the index names
    dup = names[0]
    save_file({**{k: tensors[k].contiguous() for k in shards["model-00002-of-00002.safetensors"]}, dup: tensors[dup].contiguous()}, os.path.join(out, "model-00002-of-00002.safetensors"))
    with pytest.raises(ModelError, match=rf"tensor '{re.escape(dup)}' is in both model-00001-of-00002.safetensors and model-00002-of-00002.safetensors"):
        load_model({"id": out, "format": "gptq", "device": "cpu", "dtype": "float32"})


def test_awq_export_with_clipping_is_exactly_the_evaluated_model(tmp_path):
    """With clipping on (the default), the exported codes, zeros and scales are those the evaluated
    weights came from; the checkpoint's dequantized weights equal the in-memory ones, with the scales
    rounded to fp16 as the file stores them. The grid re-derived from the quantized values (what the
    export did before) differs in some groups."""
    from safetensors.torch import load_file

    from polyquant.quant.grid import quantize_weight

    model = tiny_llama(layers=2)
    loaded = ct.loaded(model, ct.hf_byte_tokenizer())
    quant = {"method": "awq", "bits": 4, "group_size": 16, "awq": {"grid": 5, "clip": True, "clip_grid": 10},
             "calibration": {"corpus": ct.corpus(), "samples": 8, "seq_len": 32}}
    res = quantize_model(loaded, quant, resolve_targets(model, quant))
    assert res.awq is not None and res.awq.clips, "the clip search must have clipped something for this test to mean anything"
    out = str(tmp_path / "awq")
    export_awq(loaded, res, out)
    stored = load_file(os.path.join(out, "model.safetensors"))
    regridded = 0
    for name, grid in res.awq.grids.items():
        codes = pack.unpack_awq(stored[f"{name}.qweight"], 4)  # (in, out), read with AutoAWQ's order
        zeros = pack.unpack_awq(stored[f"{name}.qzeros"], 4)  # (G, out)
        assert torch.equal(codes.t().to(torch.uint8), grid.codes), name
        assert torch.equal(zeros.t().to(torch.int32), grid.zeros), name
        assert torch.equal(stored[f"{name}.scales"].float(), grid.scales.t().half().float()), name
        again = quantize_weight(grid.dequantize(), 4, 16, False, name)
        regridded += int(not (torch.equal(again.codes, grid.codes) and torch.equal(again.zeros, grid.zeros)))
    back = load_model({"id": out, "format": "awq", "device": "cpu", "dtype": "float32"})
    params = dict(back.model.named_parameters())
    for name, grid in res.awq.grids.items():
        g = torch.arange(grid.codes.shape[1]) // grid.group_size
        expected = grid.scales.half().float()[:, g] * (grid.codes.float() - grid.zeros[:, g].float())
        assert torch.equal(params[f"{name}.weight"].detach(), expected), name
    # with this seed, 4 of the 14 modules: the export is exact where re-deriving the grid was not
    assert regridded > 0


def _gemv_words(codes: torch.Tensor) -> torch.Tensor:
    """AutoAWQ's GEMV packing (awq/modules/linear/gemv.py `from_linear`), written here: 4-bit fields
    along dim 1 in plain order, field i at bit 4i of each int32 word."""
    rows, cols = codes.shape
    words = torch.zeros(rows, (cols + 7) // 8, dtype=torch.int64)
    for i in range(cols):
        words[:, i // 8] |= codes[:, i].to(torch.int64) << (4 * (i % 8))
    return torch.where(words >= 1 << 31, words - (1 << 32), words).to(torch.int32)


def _zeros_width(in_features: int, group_size: int) -> int:
    """AutoAWQ `calculate_zeros_width`: groups rounded up to whole words, then to the multiplier."""
    mult = 1 if group_size >= 128 else {64: 2, 32: 4}[group_size]
    base = (in_features // group_size + 7) // 8
    return (base + mult - 1) // mult * mult


def test_older_autoawq_gemv_checkpoints_load(tmp_path):
    """An AutoAWQ save of the older layout (quant_config.json only, `w_bit`/`q_group_size`, no
    quant_method) with GEMV packing: per output row, plain order, zeros and scales padded."""
    from safetensors.torch import save_file

    model = tiny_llama(layers=2)
    loaded = ct.loaded(model, ct.hf_byte_tokenizer())
    quant = {"method": "awq", "bits": 4, "group_size": 32, "awq": {"grid": 3, "clip": True, "clip_grid": 10},
             "calibration": {"corpus": ct.corpus(), "samples": 8, "seq_len": 32}}
    res = quantize_model(loaded, quant, resolve_targets(model, quant))
    out = str(tmp_path / "awq")
    export_awq(loaded, res, out)  # the folder (config, tokenizer, other tensors) of a GEMM save
    from safetensors.torch import load_file

    tensors = load_file(os.path.join(out, "model.safetensors"))
    for name, grid in res.awq.grids.items():
        in_f = grid.codes.shape[1]
        width = _zeros_width(in_f, 32)
        zeros = torch.zeros(grid.zeros.shape[0], width * 8, dtype=torch.int32)
        zeros[:, : grid.zeros.shape[1]] = grid.zeros
        scales = torch.zeros(grid.scales.shape[0], width * 8, dtype=torch.float16)
        scales[:, : grid.scales.shape[1]] = grid.scales.half()
        tensors[f"{name}.qweight"] = _gemv_words(grid.codes)
        tensors[f"{name}.qzeros"] = _gemv_words(zeros)[:, :width]
        tensors[f"{name}.scales"] = scales
    save_file(tensors, os.path.join(out, "model.safetensors"))
    config = json.load(open(os.path.join(out, "config.json")))
    config.pop("quantization_config")
    json.dump(config, open(os.path.join(out, "config.json"), "w"))
    json.dump({"zero_point": True, "q_group_size": 32, "w_bit": 4, "version": "GEMV"}, open(os.path.join(out, "quant_config.json"), "w"))
    back = load_model({"id": out, "format": "awq", "device": "cpu", "dtype": "float32"})
    assert back.quantization["checkpoint_format"] == "gemv" and back.quantization["bits"] == 4 and back.quantization["group_size"] == 32
    params = dict(back.model.named_parameters())
    for name, grid in res.awq.grids.items():
        g = torch.arange(grid.codes.shape[1]) // 32
        expected = grid.scales.half().float()[:, g] * (grid.codes.float() - grid.zeros[:, g].float())
        assert torch.equal(params[f"{name}.weight"].detach(), expected), name
