"""The multilingual multiple-choice benchmarks task-eval reads, in each one's published layout.

Each entry says how a language maps to the dataset's config (its own table: MMMLU has neither
English nor Hebrew, Global-MMLU both), which split holds the questions and which the few-shot
examples (lm-eval takes MMLU's shots from `dev`; a benchmark without one cannot run few-shot),
and the layout of a row (`mmlu`: question, four choices, answer; `belebele`: a FLORES passage,
question, mc_answer1..4, correct_answer_num 1..4). Column names are the datasets' own; the parsing
is `tasks.item_from_record`. Local files in a dataset's published layout (parquet, jsonl, csv)
read with the same rules.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Callable, Optional

from ..corpus import flores
from ..errors import CorpusError


@dataclass(frozen=True)
class Benchmark:
    name: str
    config_of: Callable[[str], Optional[str]]  # language → the dataset's config, None when it has none
    languages: tuple[str, ...]  # the ISO 639-1 codes it holds, for messages
    test_split: str
    dev_split: Optional[str]  # where few-shot examples come from; None: zero-shot only
    layout: str  # "mmlu" or "belebele"


# The tables live in a data file that `polyquant validate` reads too, so that a language a benchmark
# lacks is named before anything runs.
with open(os.path.join(os.path.dirname(__file__), "benchmarks.json"), encoding="utf-8") as _f:
    _TABLE: dict = json.load(_f)["benchmarks"]


def _flores(lang: str) -> Optional[str]:
    try:
        return flores.config_of(lang)
    except CorpusError:
        return None


def _entry(name: str, row: dict) -> Benchmark:
    configs = row["configs"]
    if configs == "flores":
        return Benchmark(name, _flores, tuple(sorted(k for k in flores.CODES if len(k) == 2)), row["test_split"], row["dev_split"], row["layout"])
    return Benchmark(name, configs.get, tuple(configs), row["test_split"], row["dev_split"], row["layout"])


BENCHMARKS: dict[str, Benchmark] = {}
for _name, _row in _TABLE.items():
    BENCHMARKS[_name] = _entry(_name, _row)
    if _name.startswith("CohereForAI/"):  # Cohere's datasets moved to CohereLabs/: the same files under either name
        BENCHMARKS[_name.replace("CohereForAI/", "CohereLabs/")] = _entry(_name.replace("CohereForAI/", "CohereLabs/"), _row)


def benchmark(name: str) -> Benchmark:
    if name not in BENCHMARKS:
        raise CorpusError(f"task-eval reads the benchmarks {', '.join(BENCHMARKS)}; got dataset {name!r} (any other: local files)")
    return BENCHMARKS[name]


def check_languages(bench: Benchmark, languages: list[str]) -> dict[str, str]:
    """Each language's config; every language the benchmark lacks named at once, before anything loads."""
    configs = {lang: bench.config_of(lang) for lang in languages}
    missing = [lang for lang, c in configs.items() if c is None]
    if missing:
        raise CorpusError(
            f"{bench.name} has no {', '.join(repr(m) for m in missing)} (it has {', '.join(bench.languages)})"
            + ("; Global-MMLU (CohereForAI/Global-MMLU) has en and he" if bench.name == "openai/MMMLU" else "")
        )
    return {lang: str(c) for lang, c in configs.items()}
