"""Each kernel's contract, read from the JSON Schemas that TypeScript generates from its zod
definition (src/kernels/contract.ts → `contracts/<name>.json`; `npm run build` writes them).

The zod definition is the one source: Python keeps no defaults, no parameter checks that the
schema states, and no version of its own. `@kernel("name")` wraps a kernel's `run` so that every
caller (the engine through `api.call`, `api.run_direct` in a notebook, a test calling `run`)
gets the same treatment:

1. the parameters' defaults are filled from the schema (as zod's `.default` and `.prefault` do);
2. they are checked against it, and a mismatch is a `ParameterError` naming the path
   (`quantize: with.quant.bits: 5 is greater than the maximum of 8`);
3. the result is checked against the output schema: a result that breaks it raises
   `ContractError` instead of reaching the caller as a success.

Refinements zod states in code (`superRefine`) have no JSON Schema form; the kernels check what
they need of those themselves.
"""

from __future__ import annotations

import copy
import functools
import json
import math
import os
from typing import Any, Callable

from ..errors import ParameterError, PolyquantError

CONTRACTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "contracts")


class ContractError(PolyquantError):
    """A kernel returned a result that does not match its output schema (a bug, never a success)."""


@functools.lru_cache(maxsize=None)
def contract(name: str) -> dict:
    path = os.path.join(CONTRACTS_DIR, f"{name}.json")
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise ParameterError(f"kernel {name!r} has no contract ({path}); run `npm run build` to generate the contracts") from None


@functools.lru_cache(maxsize=None)
def _validator(name: str, part: str) -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(contract(name)[part])


_MISSING = object()


def _object_branch(schema: dict) -> dict | None:
    """The branch of a schema that describes an object (a nullable object is an `anyOf`)."""
    if "properties" in schema:
        return schema
    for branch in schema.get("anyOf", []) + schema.get("oneOf", []):
        found = _object_branch(branch)
        if found is not None:
            return found
    return None


def fill_defaults(schema: dict, value: Any = _MISSING) -> Any:
    """`value` with every absent property that has a `default` filled, recursively.

    A filled default is itself filled (zod's `prefault({})` yields an object whose own defaults
    apply); present values are never replaced. The input is not changed.
    """
    if value is _MISSING:
        if "default" not in schema:
            return _MISSING
        value = copy.deepcopy(schema["default"])
    if isinstance(value, dict):
        branch = _object_branch(schema)
        if branch is not None:
            out = dict(value)
            for key, sub in branch["properties"].items():
                filled = fill_defaults(sub, out.get(key, _MISSING))
                if filled is not _MISSING:
                    out[key] = filled
            return out
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            return {k: fill_defaults(extra, v) for k, v in value.items()}
        return value
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [fill_defaults(schema["items"], v) for v in value]
    return value


def _where(path: Any) -> str:
    parts = [f"[{p}]" if isinstance(p, int) else f".{p}" for p in path]
    return "".join(parts)


def _first_error(validator: Any, value: Any) -> Any:
    errors = sorted(validator.iter_errors(value), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    return errors[0] if errors else None


def check_params(name: str, params: Any) -> dict:
    """The parameters with their defaults, checked against the kernel's contract."""
    if not isinstance(params, dict):
        raise ParameterError(f"{name}: parameters must be an object, got {type(params).__name__}")
    return _filled_and_checked(contract(name)["params"], _validator(name, "params"), params, f"{name}: with")


def _filled_and_checked(schema: dict, validator: Any, value: Any, where: str) -> Any:
    """`value` with its defaults; a ParameterError naming the first path that breaks `schema`."""
    filled = fill_defaults(schema, value)
    error = _first_error(validator, filled)
    if error is not None:
        raise ParameterError(f"{where}{_where(error.absolute_path)}: {error.message}")
    return filled


def json_safe(value: Any) -> Any:
    """The value as the bridge sends it: JSON has no NaN or infinity, so they become null (and the
    envelope always parses); numpy and torch scalars become plain numbers."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and callable(value.item):
        return json_safe(value.item())
    return value


def check_result(name: str, result: Any) -> None:
    error = _first_error(_validator(name, "outputs"), json_safe(result))
    if error is not None:
        raise ContractError(f"{name} returned a result that breaks its output schema at outputs{_where(error.absolute_path)}: {error.message}")


def kernel(name: str) -> Callable[[Callable[..., dict]], Callable[..., dict]]:
    """Wrap a kernel's `run(params, ctx)`: parameters filled and checked, the result checked."""

    def wrap(run: Callable[..., dict]) -> Callable[..., dict]:
        @functools.wraps(run)
        def checked(params: dict, ctx: Any = None) -> dict:
            if ctx is None:
                from ..context import KernelContext

                ctx = KernelContext(kernel=name)
            result = run(check_params(name, params), ctx)
            check_result(name, result)
            return result

        checked.kernel_name = name  # type: ignore[attr-defined]
        return checked

    return wrap


def schema_at(name: str, path: str) -> dict:
    """The parameter schema at a dotted path of kernel `name`'s parameters."""
    node: dict | None = contract(name)["params"]
    for key in path.split("."):
        branch = _object_branch(node or {})
        node = (branch or {}).get("properties", {}).get(key)
        if node is None:
            raise KeyError(f"kernel {name!r} has no parameter {path!r}")
    return node


def defaults_at(name: str, path: str, value: dict | None = None) -> dict:
    """An optional object parameter with its defaults, as if given as `value` (default `{}`):
    e.g. disparity's `quant` when absent means the QuantConfig defaults."""
    return fill_defaults(schema_at(name, path), {} if value is None else value)


@functools.lru_cache(maxsize=None)
def _model_validator() -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(schema_at("perplexity", "model"))


def check_model_spec(spec: Any) -> dict:
    """A model spec with its defaults, checked. Every kernel's model path holds the same schema
    (ResolvedModel in src/kernels/common.ts); perplexity's stands for all of them."""
    if not isinstance(spec, dict):
        raise ParameterError(f"a model spec is an object with an `id`, got {spec!r}")
    return _filled_and_checked(schema_at("perplexity", "model"), _model_validator(), spec, "model")
