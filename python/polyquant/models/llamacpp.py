"""Read a llama.cpp GGUF file (`format: gguf`) into a dense transformers model every kernel can use.

What llama.cpp and Ollama users run is a GGUF file: its metadata is the config, its tensors are
llama.cpp's block formats. This module undoes `convert_hf_to_gguf.py`, using gguf-py (llama.cpp's
own Python package) for everything it can answer, so that the file means here what it means there:
- every tensor is dequantized by gguf-py's reference code, `gguf.quants.dequantize`
  (F32, F16, BF16, Q4_0 … Q8_0, Q2_K … Q6_K and the rest it knows);
- tensor names are mapped by gguf-py's `TensorNameMap`, the table the converter wrote them with;
- the converter's transforms are inverted: `LlamaModel.permute` on Llama's q/k projections
  (llama.cpp interleaves the rotary halves; transformers splits them) and `GPT2Model.modify_tensors`'s
  transpose of GPT-2's Conv1D weights;
- Llama 3's `rope_freqs.weight` (the per-frequency divisors llama.cpp applies) divides the rotary
  embedding's inverse frequencies, which is exactly what transformers' llama3 rope does.

Architectures: llama (Llama, Mistral and everything llama.cpp converts as llama), qwen2, qwen3 and
gpt2. Anything else, a rope scaling the reader cannot reproduce (yarn, longrope), a tensor left over
or a parameter left unfilled is an error naming it: a model that is not the file never loads.

The tokenizer is the folder's `tokenizer.json` when there is one, else the one stored in the file,
rebuilt by transformers (`AutoTokenizer.from_pretrained(folder, gguf_file=...)`).
The loaded model records per module the ggml type it was stored in (`LoadedModel.quantization`).
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from typing import Any, Optional

import numpy as np
import torch
from torch import nn

from ..errors import ModelError
from . import structure
from .spec import LoadedModel, dtype_kwarg, fingerprint_dir, load_tokenizer, resolve_device, resolve_dtype

log = logging.getLogger(__name__)

ARCHITECTURES = ("llama", "qwen2", "qwen3", "gpt2")
GGUF_SUFFIX = ".gguf"

DENSE_TYPES = ("F32", "F16", "BF16", "F64")


def _gguf():
    try:
        import gguf  # llama.cpp's gguf-py
    except ImportError as exc:  # pragma: no cover - requirements.txt installs it
        raise ModelError("reading GGUF files needs the `gguf` package (llama.cpp's gguf-py): pip install gguf") from exc
    return gguf


def gguf_file(path: str, file: Optional[str], model_id: str) -> str:
    """The .gguf file a spec names: `file` inside the folder, or the folder's only .gguf."""
    if os.path.isfile(path) and path.endswith(GGUF_SUFFIX):
        return path
    if not os.path.isdir(path):
        raise ModelError(f"model {model_id!r}: {path!r} is neither a .gguf file nor a folder")
    found = sorted(n for n in os.listdir(path) if n.endswith(GGUF_SUFFIX))
    if file is not None:
        if file not in found:
            raise ModelError(f"model {model_id!r}: no file {file!r} in {path} (its .gguf files: {', '.join(found) or 'none'})")
        return os.path.join(path, file)
    if len(found) != 1:
        which = f"several: {', '.join(found)}" if found else "none"
        raise ModelError(f"model {model_id!r}: name the GGUF file with `file:`; {path} holds {which}")
    return os.path.join(path, found[0])


def _download(repo_id: str, file: Optional[str], revision: Optional[str]) -> str:
    if not file:
        raise ModelError(f"model {repo_id!r} (format gguf, from the hub): name the file with `file:`, e.g. file: model-Q4_K_M.gguf")
    try:
        from huggingface_hub import hf_hub_download

        return hf_hub_download(repo_id, file, revision=revision)
    except Exception as exc:  # noqa: BLE001 - offline, gated or missing: say which file
        raise ModelError(f"cannot fetch {file!r} of {repo_id!r}: {type(exc).__name__}: {exc} (offline: place the file in a folder and name the folder)") from exc


class _Metadata:
    """The file's key-value metadata, read as plain Python values."""

    def __init__(self, reader: Any, arch: str):
        self.reader = reader
        self.arch = arch

    def get(self, key: str, default: Any = None) -> Any:
        field = self.reader.fields.get(key)
        return default if field is None else field.contents()

    def of_arch(self, key: str, default: Any = None) -> Any:
        return self.get(f"{self.arch}.{key}", default)

    def required(self, key: str) -> Any:
        value = self.of_arch(key)
        if value is None:
            raise ModelError(f"GGUF metadata has no {self.arch}.{key}")
        return value


def _rope(meta: _Metadata) -> dict:
    theta = float(meta.of_arch("rope.freq_base", 10000.0))
    scaling = str(meta.of_arch("rope.scaling.type", "none") or "none")
    if scaling == "none":
        return {"rope_theta": theta}
    if scaling == "linear":
        return {"rope_theta": theta, "rope_scaling": {"rope_type": "linear", "factor": float(meta.required("rope.scaling.factor"))}}
    raise ModelError(f"GGUF rope scaling {scaling!r} is not reproduced by polyquant's reader (none and linear are); the model would not be the file")


def _config(meta: _Metadata, shapes: dict[str, tuple[int, ...]]):
    """The transformers config this file's metadata and tensor shapes describe."""
    from transformers import AutoConfig

    arch = meta.arch
    vocab, hidden = shapes["token_embd.weight"]
    common = {"vocab_size": vocab, "tie_word_embeddings": "output.weight" not in shapes}
    for key in ("bos_token_id", "eos_token_id", "pad_token_id"):
        value = meta.get(f"tokenizer.ggml.{key}")
        if value is not None:
            common[key] = int(value)
    if arch == "gpt2":
        # the converter writes feed_forward_length as 4·n_embd whatever n_inner is: the tensor says
        return AutoConfig.for_model(
            "gpt2",
            n_embd=int(meta.required("embedding_length")),
            n_layer=int(meta.required("block_count")),
            n_head=int(meta.required("attention.head_count")),
            n_positions=int(meta.required("context_length")),
            n_inner=shapes["blk.0.ffn_up.weight"][0],
            layer_norm_epsilon=float(meta.required("attention.layer_norm_epsilon")),
            **common,
        )
    heads = int(meta.required("attention.head_count"))
    kwargs: dict[str, Any] = {
        "hidden_size": int(meta.required("embedding_length")),
        "intermediate_size": shapes["blk.0.ffn_up.weight"][0],
        "num_hidden_layers": int(meta.required("block_count")),
        "num_attention_heads": heads,
        "num_key_value_heads": int(meta.of_arch("attention.head_count_kv", heads)),
        "max_position_embeddings": int(meta.required("context_length")),
        "rms_norm_eps": float(meta.required("attention.layer_norm_rms_epsilon")),
        **_rope(meta),
        **common,
    }
    if kwargs["hidden_size"] != hidden:
        raise ModelError(f"GGUF metadata says embedding_length {kwargs['hidden_size']}, but token_embd has rows of {hidden}")
    head_dim = meta.of_arch("attention.key_length")
    if arch in ("llama", "qwen3") and head_dim is not None:
        kwargs["head_dim"] = int(head_dim)
    if arch == "llama":
        kwargs["attention_bias"] = "blk.0.attn_q.bias" in shapes
    return AutoConfig.for_model(arch, **kwargs)


def _unpermute(weights: torch.Tensor, n_head: int) -> torch.Tensor:
    """The inverse of llama.cpp's `LlamaModel.permute` (convert_hf_to_gguf.py): GGML's interleaved rotary pairs back to halves."""
    return weights.reshape(n_head, weights.shape[0] // n_head // 2, 2, *weights.shape[1:]).swapaxes(1, 2).reshape(weights.shape)


def _dense(tensor: Any) -> torch.Tensor:
    """A GGUF tensor as float32 in numpy order (rows × row length), by gguf-py's reference dequantizer."""
    gguf = _gguf()
    array = gguf.quants.dequantize(tensor.data, tensor.tensor_type)
    shape = tuple(int(d) for d in reversed(tensor.shape.tolist()))
    return torch.from_numpy(np.array(array, dtype=np.float32).reshape(shape))  # a copy: the reader's arrays map the file read-only


def read_gguf(file_path: str) -> tuple[Any, dict[str, torch.Tensor], dict[str, str], Optional[torch.Tensor]]:
    """(config, state dict in transformers' names, module name → ggml type name, rope_freqs or None) for a GGUF file."""
    gguf = _gguf()
    try:
        reader = gguf.GGUFReader(file_path)
    except Exception as exc:  # noqa: BLE001 - a truncated or foreign file
        raise ModelError(f"{file_path!r} is not a readable GGUF file: {type(exc).__name__}: {exc}") from exc
    arch_field = reader.fields.get("general.architecture")
    arch = arch_field.contents() if arch_field is not None else None
    if arch not in ARCHITECTURES:
        raise ModelError(f"GGUF architecture {arch!r} of {file_path!r} is not read by polyquant (supported: {', '.join(ARCHITECTURES)})")
    meta = _Metadata(reader, arch)
    tensors = {t.name: t for t in reader.tensors}
    shapes = {name: tuple(int(d) for d in reversed(t.shape.tolist())) for name, t in tensors.items()}
    config = _config(meta, shapes)

    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        skeleton = AutoModelForCausalLM.from_config(config)
    n_blocks = int(config.num_hidden_layers)
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH[arch.upper()], n_blocks)
    conv1d = {n for n, m in skeleton.named_modules() if structure.is_conv1d(m)}
    state: dict[str, torch.Tensor] = {}
    types: dict[str, str] = {}
    unfilled: list[str] = []
    for key in skeleton.state_dict():
        if key == "lm_head.weight" and config.tie_word_embeddings:
            continue  # the embedding, tied after loading
        name = names.get_name(key, try_suffixes=(".weight", ".bias"))
        if name is None or name not in tensors:
            unfilled.append(f"{key} (GGUF {name or 'has no name for it'})")
            continue
        tensor = tensors.pop(name)
        value = _dense(tensor)
        if arch == "llama" and key.endswith(("q_proj.weight", "q_proj.bias")):
            value = _unpermute(value, config.num_attention_heads)
        elif arch == "llama" and key.endswith(("k_proj.weight", "k_proj.bias")):
            value = _unpermute(value, config.num_key_value_heads)
        module = key.rsplit(".", 1)[0]
        if module in conv1d and key.endswith(".weight"):
            value = value.t().contiguous()  # the converter stored GPT-2's Conv1D (in × out) as out × in
        state[key] = value
        if key.endswith(".weight") and value.dim() == 2:
            types[module] = tensor.tensor_type.name
    rope_freqs = tensors.pop("rope_freqs.weight", None)
    if unfilled:
        raise ModelError(f"GGUF {file_path!r} lacks tensors the {arch} architecture needs: {', '.join(unfilled[:5])}")
    if tensors:
        raise ModelError(f"GGUF {file_path!r} has tensors polyquant does not place: {', '.join(sorted(tensors)[:5])}")
    return config, state, types, (_dense(rope_freqs) if rope_freqs is not None else None)


def _apply_rope_freqs(model: nn.Module, factors: torch.Tensor) -> None:
    """Divide every rotary embedding's inverse frequencies by llama.cpp's `rope_freqs` (Llama 3.x)."""
    rotaries = [m for m in model.modules() if isinstance(getattr(m, "inv_freq", None), torch.Tensor)]
    if not rotaries:
        raise ModelError("the GGUF has rope_freqs.weight, but the model has no rotary embedding to apply it to")
    for rotary in rotaries:
        if rotary.inv_freq.numel() != factors.numel():
            raise ModelError(f"rope_freqs.weight has {factors.numel()} factors, the rotary embedding {rotary.inv_freq.numel()} frequencies")
        rotary.inv_freq = rotary.inv_freq / factors.to(rotary.inv_freq)
        if isinstance(getattr(rotary, "original_inv_freq", None), torch.Tensor):
            rotary.original_inv_freq = rotary.inv_freq.clone()


def _tokenizer(folder: str, file_name: str, spec: dict) -> tuple[Any, bool]:
    if os.path.isfile(os.path.join(folder, "tokenizer.json")) or os.path.isfile(os.path.join(folder, "tokenizer_config.json")):
        return load_tokenizer(folder, spec.get("revision"), bool(spec.get("trust_remote_code", False)))
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=file_name)
    except Exception as exc:  # noqa: BLE001 - the file's tokenizer is of a kind transformers cannot rebuild
        raise ModelError(
            f"cannot rebuild the tokenizer stored in {file_name!r}: {type(exc).__name__}: {exc}; "
            f"place the original model's tokenizer.json beside the file in {folder}"
        ) from exc
    from_eos = tokenizer.pad_token is None
    if from_eos:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer, from_eos


def load_gguf(spec: dict, path: str, local: bool) -> LoadedModel:
    """Load the GGUF a spec names (a folder with one .gguf, `file` in a folder, or `file` of a hub repo)."""
    model_id = str(spec["id"])
    file_path = gguf_file(path, spec.get("file"), model_id) if local else _download(model_id, spec.get("file"), spec.get("revision"))
    folder, file_name = os.path.split(file_path)
    device = resolve_device(str(spec.get("device", "auto")))
    dtype = resolve_dtype(str(spec.get("dtype", "auto")), device)
    config, state, types, rope_freqs = read_gguf(file_path)

    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_config(config, **dtype_kwarg(dtype))
    missing, unexpected = model.load_state_dict({k: v.to(dtype) for k, v in state.items()}, strict=False)
    model.tie_weights()
    missing = [k for k in missing if not (k == "lm_head.weight" and config.tie_word_embeddings)]
    if missing or unexpected:
        raise ModelError(f"GGUF {file_path!r} does not fill its architecture: missing {missing[:5]}, unexpected {list(unexpected)[:5]}")
    if rope_freqs is not None:
        _apply_rope_freqs(model, rope_freqs)
    model.to(device)
    model.eval()
    tokenizer, from_eos = _tokenizer(folder, file_name, spec)
    quantized = {m: t for m, t in types.items() if t not in DENSE_TYPES}
    blocks = set(structure.all_linears(model))
    kinds = Counter(quantized.values())
    info = {
        "format": "gguf",
        "checkpoint_format": kinds.most_common(1)[0][0] if kinds else "F32",
        "modules": len(quantized),
        "bits": Counter(_bits_and_group(t)[0] for t in quantized.values()).most_common(1)[0][0] if quantized else None,
        "group_size": Counter(_bits_and_group(t)[1] for t in quantized.values()).most_common(1)[0][0] if quantized else None,
        "per_module": {m: {"type": t, "bits": _bits_and_group(t)[0], "group_size": _bits_and_group(t)[1]} for m, t in sorted(quantized.items())},
        "dense": sorted(blocks - set(quantized)),
        "types": dict(sorted(kinds.items())),
    }
    fingerprint = spec.get("fingerprint") or (fingerprint_dir(folder, model_id, gguf_file=file_name) if local else f"{model_id}/{file_name}@{spec.get('revision') or 'main'}")
    loaded = LoadedModel(
        model=model,
        tokenizer=tokenizer,
        spec=spec,
        fingerprint=fingerprint,
        device=device,
        dtype=dtype,
        n_params=sum(p.numel() for p in model.parameters()),
        path=file_path,
        pad_token_from_eos=from_eos,
        notes=[f"dequantized GGUF {file_name} ({', '.join(f'{n} {t}' for t, n in sorted(kinds.items())) or 'all dense'}) to {str(dtype).removeprefix('torch.')}"],
    )
    loaded.quantization = info  # type: ignore[attr-defined]
    log.info("loaded GGUF %s: %d quantized tensors (%s)", file_path, len(quantized), dict(kinds))
    return loaded


def _bits_and_group(type_name: str) -> tuple[int, int]:
    """(code bits, weights per scale) of a ggml type for the record: Q4_K is 4 bits with a scale per 32.

    Types polyquant does not quantize to (the IQ types, ...) are read all the same; for them the
    record says the whole bits per weight (at least 2) and the block size.
    """
    from ..quant.ggml_blocks import GGML_TYPES

    if type_name in GGML_TYPES:
        return GGML_TYPES[type_name].bits, GGML_TYPES[type_name].scale_group
    gguf = _gguf()
    block, size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType[type_name]]
    return max(2, min(8, int(size * 8 / block))), int(block)
