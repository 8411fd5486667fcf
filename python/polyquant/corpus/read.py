"""Documents per language from a hub dataset or from tabular files: one row (or record) a document.

- Hub: `datasets.load_dataset(dataset, config, split=..., revision=...)`, so its cache serves
  what was downloaded once and `HF_HUB_OFFLINE=1` reads only that cache. FLORES+
  (`openlanguagedata/flores_plus`) maps languages to configs and splits by its own table
  (flores.py); any other dataset names its `config` (`{language}` in it stands for each language)
  or has one config, and its split is `split` itself, `train` for train and `test` for heldout.
- Files: `.parquet` (pyarrow), `.jsonl` (one JSON object a line) and `.csv` (a header row), the
  column `text_field` (default `text`) holding a document per row; empty rows are left out.

Errors name the dataset, the language and what to do: a gated dataset says how to log in, an
uncached one offline says it is not in the cache, a missing column lists the columns there are.
"""

from __future__ import annotations

import csv
import json
import os
from typing import Any, Optional

from ..errors import CorpusError
from . import flores

GENERIC_SPLITS = {"train": ["train"], "heldout": ["test"], "all": ["train", "test"]}


def _column(rows: list[dict], field: str, where: str) -> list[str]:
    if rows and field not in rows[0]:
        raise CorpusError(f"{where}: no column {field!r} (columns: {', '.join(map(str, rows[0]))}); set text_field")
    out = []
    for i, row in enumerate(rows):
        value = row.get(field)
        if value is None:
            continue
        if not isinstance(value, str):
            raise CorpusError(f"{where}: row {i} has {field!r} = {value!r}, not text")
        if value.strip():
            out.append(value.strip())
    return out


def file_documents(path: str, text_field: str = flores.TEXT_FIELD) -> list[str]:
    """The documents of one tabular file (parquet, jsonl or csv)."""
    where = f"corpus file {path}"
    if not os.path.isfile(path):
        raise CorpusError(f"{where}: no such file")
    suffix = os.path.splitext(path)[1].lower()
    if suffix == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError as exc:  # pragma: no cover - requirements.txt installs it
            raise CorpusError(f"{where}: reading parquet needs pyarrow (pip install pyarrow)") from exc
        try:
            table = pq.read_table(path)
        except Exception as exc:  # noqa: BLE001 - a file that is not parquet
            raise CorpusError(f"{where}: not a readable parquet file: {type(exc).__name__}: {exc}") from exc
        if text_field not in table.column_names:
            raise CorpusError(f"{where}: no column {text_field!r} (columns: {', '.join(table.column_names)}); set text_field")
        return _column([{text_field: v} for v in table.column(text_field).to_pylist()], text_field, where)
    if suffix == ".jsonl":
        rows = []
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise CorpusError(f"{where}: line {n} is not JSON: {exc.msg}") from exc
                if not isinstance(rows[-1], dict):
                    raise CorpusError(f"{where}: line {n} is not a JSON object")
        return _column(rows, text_field, where)
    if suffix == ".csv":
        with open(path, encoding="utf-8", newline="") as f:
            return _column(list(csv.DictReader(f)), text_field, where)
    raise CorpusError(f"{where}: tabular corpus files are .parquet, .jsonl or .csv")


def _explain(exc: Exception, dataset: str, config: Optional[str]) -> str:
    """What a `datasets` failure means for the researcher, and what to do about it."""
    text = f"{type(exc).__name__}: {exc}".replace("\n", " ")  # one line: it ends up in a step row and a terminal
    name = f"{dataset}" + (f" (config {config})" if config else "")
    if "gated" in text.lower() or type(exc).__name__ in ("GatedRepoError",) or "401" in text:
        return (
            f"hub dataset {name} is gated: accept its conditions at https://huggingface.co/datasets/{dataset}, then log in "
            f"(`huggingface-cli login`, or set HF_TOKEN); or download its files once and name them with `source: files`"
        )
    lowered = text.lower()
    if "offline" in lowered or "couldn't reach" in lowered or "couldn't find cache" in lowered or "connection" in type(exc).__name__.lower():
        return (
            f"hub dataset {name} is not in the local cache and the hub cannot be reached ({text}); load it once online "
            f"(the `datasets` cache then serves it with HF_HUB_OFFLINE=1), or name local files with `source: files`"
        )
    return f"hub dataset {name}: {text}"


def _load(dataset: str, config: Optional[str], split: str, revision: Optional[str]):
    try:
        import datasets
    except ImportError as exc:  # pragma: no cover - requirements.txt installs it
        raise CorpusError("hub corpora need the `datasets` package (pip install datasets)") from exc
    try:
        return datasets.load_dataset(dataset, config, split=split, revision=revision)
    except Exception as exc:  # noqa: BLE001 - every failure is explained with the dataset's name
        message = str(exc)
        if "Unknown split" in message or ("split" in message.lower() and "available" in message.lower()):
            raise CorpusError(f"hub dataset {dataset} (config {config}) has no split {split!r}: {message}") from exc
        raise CorpusError(_explain(exc, dataset, config)) from exc


def hub_documents(
    dataset: str, languages: list[str], split: str, config: Optional[str] = None, text_field: Optional[str] = None, revision: Optional[str] = None
) -> tuple[dict[str, list[str]], dict[str, Any]]:
    """(documents per language, what was read: config and splits per language) of a hub dataset."""
    is_flores = dataset == flores.DATASET
    field = text_field or flores.TEXT_FIELD
    if is_flores:
        configs = {lang: flores.config_of(lang) for lang in languages}  # every language checked before any loading
        splits = flores.splits_of(split)
    else:
        if config is not None and "{language}" not in config and len(languages) > 1:
            raise CorpusError(
                f"hub dataset {dataset}: config {config!r} is one config for {len(languages)} languages; "
                "write `{language}` where the language goes (e.g. config: '{language}'), or name one language"
            )
        configs = {lang: (config.replace("{language}", lang) if config else None) for lang in languages}
        splits = GENERIC_SPLITS.get(split, [split])
    out: dict[str, list[str]] = {}
    read: dict[str, Any] = {}
    for lang in languages:
        docs: list[str] = []
        for s in splits:
            rows = _load(dataset, configs[lang], s, revision)
            where = f"hub dataset {dataset} (config {configs[lang]}, split {s})"
            if field not in rows.column_names:
                raise CorpusError(f"{where}: no column {field!r} (columns: {', '.join(rows.column_names)}); set text_field")
            docs += _column([{field: v} for v in rows[field]], field, where)
        if not docs:
            raise CorpusError(f"hub dataset {dataset} (config {configs[lang]}) has no text for language {lang!r}")
        out[lang] = docs
        read[lang] = {"config": configs[lang], "splits": splits, "documents": len(docs)}
    return out, read
