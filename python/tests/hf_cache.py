"""An offline Hugging Face `datasets` cache built without the network, as `datasets` leaves it after
`load_dataset(<hub id>, <config>)` ran once online: `<cache>/<namespace>___<name>/<config>/0.0.0/<hash>/`
holding `dataset_info.json` and one `<name>-<split>.arrow` per split (datasets/packaged_modules/cache).

Built by `datasets` itself (the parquet builder writes the arrow files and the info), then filed
under the hub id and config, so `HF_HUB_OFFLINE=1 load_dataset(<hub id>, <config>)` reads it through
datasets' own cache fallback. `python hf_cache.py CACHE` writes a small FLORES+ (en, he, ar, zh).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile

FLORES_COLUMNS = ("id", "iso_639_3", "iso_15924", "glottocode", "text", "url", "domain", "topic", "has_image", "has_hyperlink", "last_updated")
FLORES_SAMPLE = {
    "eng_Latn": ["The committee met on Monday to discuss the new budget.", "Rain is expected in the north later this week.", "She has lived in the city for ten years."],
    "heb_Hebr": ["הוועדה התכנסה ביום שני כדי לדון בתקציב החדש.", "גשם צפוי בצפון בהמשך השבוע.", "היא גרה בעיר כבר עשר שנים."],
    "arb_Arab": ["اجتمعت اللجنة يوم الاثنين لمناقشة الميزانية الجديدة.", "من المتوقع هطول أمطار في الشمال في وقت لاحق من هذا الأسبوع.", "تعيش في المدينة منذ عشر سنوات."],
    "cmn_Hans": ["委员会周一开会讨论新预算。", "预计本周晚些时候北方将有降雨。", "她在这座城市生活了十年。"],
}


def add_to_cache(cache_dir: str, dataset: str, config: str, splits: dict[str, list[dict]]) -> str:
    """File `splits` (split → rows) under `dataset`/`config` in a datasets cache; returns the folder."""
    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq

    work = tempfile.mkdtemp(prefix="hf-cache-")
    try:
        files = {}
        for split, rows in splits.items():
            files[split] = os.path.join(work, f"{split}.parquet")
            pq.write_table(pa.Table.from_pylist(rows), files[split])
        built = datasets.load_dataset("parquet", data_files=files, cache_dir=os.path.join(work, "cache"))
        source = os.path.dirname(next(iter(built.values())).cache_files[0]["filename"])
        from datasets.naming import camelcase_to_snakecase

        namespace, name = dataset.split("/")
        name = camelcase_to_snakecase(name)  # how datasets files a hub name in its cache (Global-MMLU → global-mmlu)
        target = os.path.join(cache_dir, f"{namespace}___{name}", config, "0.0.0", os.path.basename(source))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copytree(source, target, dirs_exist_ok=True)
        for split in splits:
            os.replace(os.path.join(target, f"parquet-{split}.arrow"), os.path.join(target, f"{name}-{split}.arrow"))
        info_path = os.path.join(target, "dataset_info.json")
        with open(info_path, encoding="utf-8") as f:
            info = json.load(f)
        info.update(builder_name=name, dataset_name=name, config_name=config)
        with open(info_path, "w", encoding="utf-8") as f:
            json.dump(info, f)
        return target
    finally:
        shutil.rmtree(work, ignore_errors=True)


def flores_rows(code: str, split: str) -> list[dict]:
    """Rows in FLORES+'s published columns: one sentence a row, `text` the sentence."""
    sentences = FLORES_SAMPLE[code] if split == "devtest" else [s[::-1] for s in FLORES_SAMPLE[code]]
    iso, script = code.split("_")
    return [
        {"id": i, "iso_639_3": iso, "iso_15924": script, "glottocode": "", "text": s, "url": "", "domain": "wikinews", "topic": "", "has_image": False, "has_hyperlink": False, "last_updated": "2.1"}
        for i, s in enumerate(sentences)
    ]


MMLU_SUBJECTS = ("abstract_algebra", "anatomy")


def global_mmlu_rows(lang: str, n: int, split: str) -> list[dict]:
    """Rows in Global-MMLU's columns (its dataset card): option_a..option_d, answer a letter."""
    return [
        {"sample_id": f"{split}/{i}", "subject": MMLU_SUBJECTS[i % 2], "subject_category": "STEM", "question": f"{lang} {split} question {i}?",
         "option_a": f"{i}", "option_b": f"{i + 1}", "option_c": f"{i + 2}", "option_d": f"{i + 3}", "answer": "ABCD"[i % 4],
         "required_knowledge": "", "time_sensitive": "", "reference": "", "culture": "", "region": "", "country": "",
         "cultural_sensitivity_label": "CA", "is_annotated": False}
        for i in range(n)
    ]  # fmt: skip


def write_global_mmlu(cache_dir: str, languages=("en", "he"), test: int = 6, dev: int = 10) -> None:
    for lang in languages:
        add_to_cache(cache_dir, "CohereForAI/Global-MMLU", lang, {"test": global_mmlu_rows(lang, test, "test"), "dev": global_mmlu_rows(lang, dev, "dev")})


def write_flores(cache_dir: str, codes=tuple(FLORES_SAMPLE)) -> None:
    for code in codes:
        add_to_cache(cache_dir, "openlanguagedata/flores_plus", code, {"dev": flores_rows(code, "dev"), "devtest": flores_rows(code, "devtest")})


if __name__ == "__main__":
    write_flores(sys.argv[1])
