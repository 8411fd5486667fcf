"""`python -m polyquant.corpus`: one corpus request from TypeScript (src/corpus/python.ts).

Reads a JSON request on stdin: `{"source": "hub", "dataset", "languages", "split", "config",
"text_field", "revision"}` or `{"source": "files", "files": {language: path}, "text_field"}`; writes
`{"languages": {language: [documents]}, "read": {...}}` or `{"error": "..."}` as the last line of
stdout (libraries may print before it), and exits 0 either way: the caller turns an error into its
own, naming the corpus.
"""

from __future__ import annotations

import json
import logging
import sys

from ..errors import CorpusError
from .read import file_documents, hub_documents


def answer(request: dict) -> dict:
    if request.get("source") == "hub":
        languages, read = hub_documents(
            str(request["dataset"]), list(request["languages"]), str(request.get("split", "heldout")),
            request.get("config"), request.get("text_field"), request.get("revision"),
        )
        return {"languages": languages, "read": read}
    field = request.get("text_field") or "text"
    files = dict(request.get("files") or {})
    return {"languages": {lang: file_documents(path, field) for lang, path in files.items()}, "read": {lang: {"file": p} for lang, p in files.items()}}


def main() -> int:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    try:
        out = answer(json.loads(sys.stdin.read()))
    except CorpusError as exc:
        out = {"error": str(exc)}
    except Exception as exc:  # noqa: BLE001 - anything else is reported with its type, never a traceback only
        out = {"error": f"{type(exc).__name__}: {exc}"}
    sys.stdout.write("\n" + json.dumps(out, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
