"""A llama.cpp tensor-type file for `llama-quantize --tensor-type-file` (ggml-org/llama.cpp
tools/quantize/quantize.cpp `parse_tensor_type_file`, src/llama-quant.cpp `llama_tensor_get_type`).

One `pattern=type` token per line (the file has no comment syntax), a pattern per tensor category
and type: `^blk\\.(?:0|7)\\.attn_v\\.weight$=q6_K`. Every block tensor is listed, so llama.cpp's
built-in per-tensor rules (Q4_K_M's attn_v / ffn_down bumps) decide none of them; the file type on
the command line then only types token_embd and output. Bits map to llama.cpp's k-quant types,
whose groups are fixed (16 or 32 weights per scale in 256-weight super-blocks): the plan's group
size is not carried, and a row length that 256 does not divide falls back as llama.cpp decides.
"""

from __future__ import annotations

import re

from .common import base_grid, grid_of

GGML_TYPE = {2: "q2_K", 3: "q3_K", 4: "q4_K", 5: "q5_K", 6: "q6_K", 7: "q8_0", 8: "q8_0"}
FILE_TYPE = {2: "Q2_K", 3: "Q3_K_M", 4: "Q4_K_M", 5: "Q5_K_M", 6: "Q6_K", 7: "Q8_0", 8: "Q8_0"}


def ggml_type(row: dict) -> str:
    g = grid_of(row)
    return "f16" if g is None else GGML_TYPE[g[0]]


def llama_cpp(table: list[dict], base: dict) -> dict:
    bits, _, _ = base_grid(base)
    groups: dict[tuple[str, str], list[int]] = {}
    unnamed = []
    for r in table:
        if r["gguf_tensor"] is None:
            unnamed.append(r["name"])
            continue
        role = r["gguf_tensor"].split(".", 2)[2]
        groups.setdefault((role, ggml_type(r)), []).append(int(r["layer"]))
    lines = []
    for (role, kind), layers in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        alt = "|".join(str(i) for i in sorted(set(layers)))
        lines.append(f"^blk\\.(?:{alt})\\.{re.escape(role)}\\.weight$={kind}")
    notes = [f"llama-quantize --tensor-type-file tensor-types.txt model-f16.gguf model-polyquant.gguf {FILE_TYPE[bits]}  (--tensor-type-file: llama.cpp from January 2026)"]
    if any(r["bits"] == 7 for r in table):
        notes.append("7 bits has no llama.cpp type: those tensors take q8_0")
    notes.append("k-quant types fix their own group structure: the plan's group sizes are not carried over")
    if unnamed:
        notes.append(f"no GGUF tensor name is known for {', '.join(unnamed[:5])}{', …' if len(unnamed) > 5 else ''}: left to llama-quantize's rules")
    return {"file": "tensor-types.txt", "text": "\n".join(lines) + "\n", "notes": notes}
