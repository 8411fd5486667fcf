"""load_model, fingerprints and resident models on tiny random models saved to temp dirs."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil

import pytest
import torch

from polyquant.errors import ModelError, ParameterError
from polyquant.models import resident
from polyquant.models.load import fingerprint_dir, fixture_dir, load_model


def _independent_digest(path: str) -> str:
    """The engine's rule (src/model/facts.ts): every model file but the fixture notes and README."""
    h = hashlib.sha256()
    for name in sorted(n for n in os.listdir(path) if n.rsplit(".", 1)[-1] in ("json", "safetensors", "bin", "model", "txt", "tiktoken", "py") and n not in ("polyquant-fixture.json", "README.md")):
        h.update(name.encode() + b"\0")
        with open(os.path.join(path, name), "rb") as f:
            h.update(f.read())
        h.update(b"\0")
    return h.hexdigest()


def test_load_local_dir_records_everything(tiny_model_dirs):
    loaded = load_model({"id": tiny_model_dirs["tiny-gpt2"]})
    assert loaded.structure.model_type == "gpt2"
    assert loaded.device == torch.device("cpu") and loaded.dtype == torch.float32  # auto on a CPU machine
    assert loaded.n_params == sum(p.numel() for p in loaded.model.parameters())
    assert not loaded.model.training
    assert loaded.fingerprint == f'{tiny_model_dirs["tiny-gpt2"]}@sha256:{_independent_digest(tiny_model_dirs["tiny-gpt2"])}'
    given = load_model({"id": tiny_model_dirs["tiny-gpt2"], "fingerprint": "from-the-engine"})
    assert given.fingerprint == "from-the-engine"  # the engine's fingerprint is used, not recomputed
    assert loaded.max_positions == 128
    assert loaded.tokenizer.pad_token == "<pad>" and not loaded.pad_token_from_eos
    assert loaded.describe() == {
        "id": tiny_model_dirs["tiny-gpt2"],
        "fingerprint": loaded.fingerprint,
        "n_params": loaded.n_params,
        "dtype": "float32",
        "device": "cpu",
    }


def test_dtype_and_llama_family(tiny_model_dirs):
    loaded = load_model({"id": tiny_model_dirs["tiny-llama"], "dtype": "bfloat16", "device": "cpu"})
    assert loaded.structure.model_type == "llama"
    assert loaded.dtype == torch.bfloat16
    assert all(p.dtype == torch.bfloat16 for p in loaded.model.parameters())


def test_fingerprint_sidecar_is_keyed_by_size_and_mtime(tiny_model_dirs, tmp_path, monkeypatch):
    monkeypatch.setenv("POLYQUANT_CACHE", str(tmp_path / "cache"))
    path = str(tmp_path / "m")
    shutil.copytree(tiny_model_dirs["tiny-llama"], path)
    first = fingerprint_dir(path, "./m")
    weights = os.path.join(path, "model.safetensors")
    st = os.stat(weights)
    # same size and mtime, different bytes: the sidecar answers (proves weights are not re-hashed)
    with open(weights, "r+b") as f:
        f.seek(st.st_size - 1)
        last = f.read(1)
        f.seek(st.st_size - 1)
        f.write(bytes([last[0] ^ 1]))
    os.utime(weights, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert fingerprint_dir(path, "./m") == first
    # a new mtime invalidates the sidecar: the digest follows the bytes
    os.utime(weights, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    second = fingerprint_dir(path, "./m")
    assert second != first and second == f"./m@sha256:{_independent_digest(path)}"


def test_pad_token_falls_back_to_eos(tiny_model_dirs, tmp_path):
    import json

    path = str(tmp_path / "nopad")
    shutil.copytree(tiny_model_dirs["tiny-llama"], path)
    cfg_path = os.path.join(path, "tokenizer_config.json")
    cfg = json.load(open(cfg_path))
    cfg.pop("pad_token")
    json.dump(cfg, open(cfg_path, "w"))
    os.remove(os.path.join(path, "special_tokens_map.json"))
    loaded = load_model({"id": path})
    assert loaded.pad_token_from_eos
    assert loaded.tokenizer.pad_token_id == loaded.tokenizer.eos_token_id


def test_missing_fixture_says_how_to_train(tmp_path, monkeypatch):
    monkeypatch.setenv("POLYQUANT_CACHE", str(tmp_path))
    assert fixture_dir("tiny-gpt2") == str(tmp_path / "fixtures" / "tiny-gpt2")
    with pytest.raises(ModelError, match="polyquant fixture"):
        load_model({"id": "fixture:tiny-gpt2"})
    with pytest.raises(ModelError, match="'tiny-bert'"):
        load_model({"id": "fixture:tiny-bert"})


def test_bad_specs_name_the_value(tmp_path, tiny_model_dirs):
    with pytest.raises(ModelError, match="does not exist"):
        load_model({"id": str(tmp_path / "nowhere")})
    with pytest.raises(ModelError, match="no config.json"):
        load_model({"id": str(tmp_path)})
    with pytest.raises(ParameterError, match="'float64'"):
        load_model({"id": tiny_model_dirs["tiny-llama"], "dtype": "float64"})
    if not torch.cuda.is_available():
        with pytest.raises(ModelError, match="'cuda:0'"):
            load_model({"id": tiny_model_dirs["tiny-llama"], "device": "cuda:0"})


def test_resident_models_are_shared_per_canonical_spec(tiny_model_dirs):
    resident.clear()
    path = tiny_model_dirs["tiny-gpt2"]
    a = resident.get({"id": path, "device": "cpu", "dtype": "auto"})
    b = resident.get({"dtype": "auto", "id": path, "device": "cpu", "params_b": 0.0005})
    c = resident.get({"id": path, "device": "cpu", "dtype": "bfloat16"})
    assert a is b and a is not c
    assert resident.release({"id": path, "device": "cpu"}) is True
    assert not resident.is_resident({"id": path, "device": "cpu"}) and resident.is_resident({"id": path, "device": "cpu", "dtype": "bfloat16"})
    assert resident.get({"id": path, "device": "cpu"}) is not a
    resident.clear()
    assert not resident.is_resident({"id": path, "device": "cpu", "dtype": "bfloat16"})


def test_an_accelerator_holds_one_resident_model(tiny_model_dirs, monkeypatch):
    """Loading a second model onto a GPU releases the first (two 7B models do not fit a T4);
    CPU models stay, and POLYQUANT_KEEP_MODELS=1 keeps both. The GPU is simulated: the loaded
    models are the CPU fixtures, reported as on cuda:0 / cuda:1."""
    resident.clear()
    real_load = resident.load_model

    def load_on(spec):
        loaded = real_load({**spec, "device": "cpu"})
        return dataclasses.replace(loaded, device=torch.device(spec["device"]))

    monkeypatch.setattr(resident, "load_model", load_on)
    monkeypatch.setattr(resident, "resolve_device", lambda d: torch.device(d))
    llama, gpt2 = tiny_model_dirs["tiny-llama"], tiny_model_dirs["tiny-gpt2"]
    on_cpu = resident.get({"id": gpt2, "device": "cpu"})
    first = resident.get({"id": llama, "device": "cuda:0"})
    assert resident.get({"id": llama, "device": "cuda:0"}) is first  # the same model is reused
    resident.get({"id": gpt2, "device": "cuda:1"})  # another GPU: both stay
    assert resident.is_resident({"id": llama, "device": "cuda:0"})
    resident.get({"id": gpt2, "device": "cuda:0"})
    assert not resident.is_resident({"id": llama, "device": "cuda:0"})
    assert resident.is_resident({"id": gpt2, "device": "cuda:1"}) and resident.get({"id": gpt2, "device": "cpu"}) is on_cpu
    monkeypatch.setenv("POLYQUANT_KEEP_MODELS", "1")
    resident.get({"id": llama, "device": "cuda:0"})
    assert resident.is_resident({"id": gpt2, "device": "cuda:0"}) and resident.is_resident({"id": llama, "device": "cuda:0"})
    resident.clear()
