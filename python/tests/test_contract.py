"""The kernels' contracts (polyquant.kernels.contract): defaults filled as zod fills them,
parameters checked with errors that name the path, results checked against the output schema,
and the Python library's own config defaults equal to the schema's."""

from __future__ import annotations

import dataclasses
import json
import os

import pytest

from polyquant import api, kernels
from polyquant.analysis.bootstrap import BootstrapConfig
from polyquant.analysis.heads import HeadRule
from polyquant.errors import ParameterError
from polyquant.eval.compare import CompareConfig
from polyquant.eval.perplexity import Protocol
from polyquant.kernels.contract import CONTRACTS_DIR, ContractError, check_params, check_result, defaults_at, fill_defaults, kernel, schema_at
from polyquant.quant.awq import AwqConfig
from polyquant.quant.calibration import CalibrationConfig
from polyquant.quant.gptq_model import GptqConfig


def test_every_kernel_module_has_a_contract_and_every_contract_a_module():
    files = {f.removesuffix(".json") for f in os.listdir(CONTRACTS_DIR) if f.endswith(".json")}
    assert files == set(kernels.MODULES) | set(kernels.TEST_KERNELS)


def test_every_kernel_runner_is_wrapped_by_its_own_contract():
    for name in kernels.names():
        assert getattr(kernels.runner(name), "kernel_name", None) == name, name


def test_defaults_fill_like_zod_prefault_and_default():
    filled = check_params("disparity", {"model": {"id": "m"}, "corpus": {"languages": {"en": ["a"]}}})
    assert filled["reference"] == "en"
    assert filled["bootstrap"] == {"samples": 1000, "seed": 0, "unit": "segment"}  # prefault({}) then its defaults
    assert filled["protocol"] == {"name": "rolling", "batch_size": 8, "add_bos": True, "compat": "none"}
    assert filled["model"] == {"id": "m", "dtype": "auto", "device": "auto", "format": "hf", "trust_remote_code": False}
    assert "quant" not in filled  # optional without a default stays absent
    # a given value is never replaced, and the input is not changed
    raw = {"model": {"id": "m", "dtype": "float16"}, "corpus": {"languages": {}}, "reference": "he"}
    out = check_params("disparity", raw)
    assert out["reference"] == "he" and out["model"]["dtype"] == "float16"
    assert raw == {"model": {"id": "m", "dtype": "float16"}, "corpus": {"languages": {}}, "reference": "he"}


def test_defaults_inside_lists_and_records_are_filled():
    out = check_params("layer-sweep", {"model": {"id": "m"}, "corpus": {"languages": {}}, "overrides": [{"layers": [0], "bits": 8}]})
    assert out["overrides"] == [{"layers": [0], "bits": 8}]
    schema = {"type": "array", "items": {"type": "object", "properties": {"a": {"type": "integer", "default": 3}}}}
    assert fill_defaults(schema, [{}, {"a": 1}]) == [{"a": 3}, {"a": 1}]


def test_bad_parameters_name_the_path():
    with pytest.raises(ParameterError, match=r"quantize: with\.quant\.bits: 9 is greater than the maximum of 8"):
        check_params("quantize", {"model": {"id": "m"}, "quant": {"bits": 9}})
    with pytest.raises(ParameterError, match=r"with\.quant\.method: 'hqq' is not one of"):
        check_params("quantize", {"model": {"id": "m"}, "quant": {"method": "hqq"}})
    with pytest.raises(ParameterError, match=r"perplexity: with: Additional properties are not allowed \('oops' was unexpected\)"):
        check_params("perplexity", {"model": {"id": "m"}, "corpus": {"languages": {}}, "oops": 1})
    with pytest.raises(ParameterError, match=r"'model' is a required property"):
        check_params("perplexity", {"corpus": {"languages": {}}})
    with pytest.raises(ParameterError, match=r"with\.corpus: 'corpus' is a required property|'corpus' is a required property"):
        check_params("perplexity", {"model": {"id": "m"}})  # the engine always resolves it; a script must pass it


def test_run_direct_fills_defaults_and_refuses_bad_input():
    out = api.run_direct("test-count", {"to": 2, "tick": 0})
    assert out["values"] == [0, 1]
    with pytest.raises(ParameterError, match=r"test-count: with\.to: -1 is less than the minimum of 0"):
        api.run_direct("test-count", {"to": -1})


def test_a_result_that_breaks_the_output_schema_is_not_a_success():
    @kernel("test-sleep")
    def broken(params, ctx):
        return {"slept": "a while"}

    with pytest.raises(ContractError, match=r"test-sleep returned a result that breaks its output schema at outputs\.slept"):
        broken({"seconds": 0})
    check_result("test-sleep", {"slept": 0.5})
    with pytest.raises(ContractError, match="outputs.slept"):
        check_result("test-sleep", {"slept": float("nan")})  # NaN travels as null, which a number is not


def test_optional_objects_get_their_defaults_where_a_kernel_needs_them():
    assert defaults_at("disparity", "quant") == {"method": "rtn", "bits": 4, "group_size": 128, "sym": False, "include_embeddings": False, "include_lm_head": False}
    assert defaults_at("task-eval", "protocol", {"name": "chunked"})["batch_size"] == 8


def _schema_defaults(schema: dict) -> dict:
    return {k: v["default"] for k, v in schema["properties"].items() if "default" in v}


@pytest.mark.parametrize(
    "cls, kernel_name, path",
    [
        (Protocol, "perplexity", "protocol"),
        (BootstrapConfig, "disparity", "bootstrap"),
        (CompareConfig, "disparity", "kl"),
        (HeadRule, "attention-heads", "rule"),
        (GptqConfig, "quantize", "quant.gptq"),
        (AwqConfig, "quantize", "quant.awq"),
        (CalibrationConfig, "quantize", "quant.calibration"),
    ],
)
def test_library_config_defaults_equal_the_contracts(cls, kernel_name, path):
    """The Python library's config classes keep constructor defaults for scripts; they must be the
    schema's, so that a kernel and a script calling the library directly agree."""
    schema_defaults = _schema_defaults(schema_at(kernel_name, path))
    fields = {f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING}
    for key, value in schema_defaults.items():
        assert key in fields, f"{cls.__name__} has no field {key!r} for the schema default"
        assert fields[key] == value, f"{cls.__name__}.{key} = {fields[key]!r}, the contract says {value!r}"


def test_contract_versions_are_the_typescript_ones():
    with open(os.path.join(CONTRACTS_DIR, "quantize.json"), encoding="utf-8") as f:
        assert json.load(f)["version"] == "4"
