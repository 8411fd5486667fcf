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


GLOBAL_MMLU = ("am", "ar", "bn", "cs", "de", "el", "en", "es", "fa", "fil", "fr", "ha", "he", "hi", "id", "ig", "it", "ja", "ko", "ky", "lt",
               "mg", "ms", "ne", "nl", "ny", "pl", "pt", "ro", "ru", "si", "sn", "so", "sr", "sv", "sw", "te", "tr", "uk", "vi", "yo", "zh")  # fmt: skip
GLOBAL_MMLU_LITE = ("ar", "bn", "de", "en", "es", "fr", "hi", "id", "it", "ja", "ko", "my", "pt", "sw", "yo", "zh")
MMMLU = {"ar": "AR_XY", "bn": "BN_BD", "de": "DE_DE", "es": "ES_LA", "fr": "FR_FR", "hi": "HI_IN", "id": "ID_ID", "it": "IT_IT",
         "ja": "JA_JP", "ko": "KO_KR", "pt": "PT_BR", "sw": "SW_KE", "yo": "YO_NG", "zh": "ZH_CN"}  # fmt: skip
# INCLUDE names its configs by language name (CohereForAI/include-base-44)
INCLUDE = {"sq": "Albanian", "ar": "Arabic", "hy": "Armenian", "az": "Azerbaijani", "eu": "Basque", "be": "Belarusian", "bn": "Bengali",
           "bg": "Bulgarian", "zh": "Chinese", "hr": "Croatian", "nl": "Dutch", "et": "Estonian", "fi": "Finnish", "fr": "French",
           "ka": "Georgian", "de": "German", "el": "Greek", "he": "Hebrew", "hi": "Hindi", "hu": "Hungarian", "id": "Indonesian",
           "it": "Italian", "ja": "Japanese", "kk": "Kazakh", "ko": "Korean", "lt": "Lithuanian", "mk": "North Macedonian", "ms": "Malay",
           "ml": "Malayalam", "ne": "Nepali", "fa": "Persian", "pl": "Polish", "pt": "Portuguese", "ru": "Russian", "sr": "Serbian",
           "es": "Spanish", "tl": "Tagalog", "ta": "Tamil", "te": "Telugu", "tr": "Turkish", "uk": "Ukrainian", "ur": "Urdu",
           "uz": "Uzbek", "vi": "Vietnamese"}  # fmt: skip


def _in(codes) -> Callable[[str], Optional[str]]:
    return lambda lang: lang if lang in codes else None


def _flores(lang: str) -> Optional[str]:
    try:
        return flores.config_of(lang)
    except CorpusError:
        return None


_ENTRIES = [
    Benchmark("CohereForAI/Global-MMLU", _in(GLOBAL_MMLU), GLOBAL_MMLU, "test", "dev", "mmlu"),
    Benchmark("CohereForAI/Global-MMLU-Lite", _in(GLOBAL_MMLU_LITE), GLOBAL_MMLU_LITE, "test", "dev", "mmlu"),
    Benchmark("openai/MMMLU", MMMLU.get, tuple(MMMLU), "test", None, "mmlu"),
    Benchmark("facebook/belebele", _flores, tuple(sorted(k for k in flores.CODES if len(k) == 2)), "test", None, "belebele"),
    Benchmark("CohereForAI/include-base-44", INCLUDE.get, tuple(INCLUDE), "test", None, "mmlu"),
]
BENCHMARKS: dict[str, Benchmark] = {b.name: b for b in _ENTRIES}
# Cohere's datasets moved to CohereLabs/; the same files under either name
for _b in _ENTRIES:
    if _b.name.startswith("CohereForAI/"):
        BENCHMARKS[_b.name.replace("CohereForAI/", "CohereLabs/")] = Benchmark(_b.name.replace("CohereForAI/", "CohereLabs/"), _b.config_of, _b.languages, _b.test_split, _b.dev_split, _b.layout)


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
