"""Optional refinements of what `structure.py` discovers, by `config.model_type`.

Discovery finds every architecture's blocks, linears, embeddings and attention output by
structure; an entry here only corrects or adds a name where those rules would pick the wrong
module. It is never a gate: a model type without an entry runs every kernel.

An entry maps Structure field names to their corrected values (block-relative names for
`attention` / `attn_out`). Entries are checked against the model when applied: a refinement
naming a module the model lacks is an error, not a silent no-op.
"""

from __future__ import annotations

import dataclasses

from ..errors import ModelError

# model_type → {Structure field: value}. Empty today: discovery gets every architecture the
# test suite builds right (python/tests/test_architectures.py, docs/models.md).
REFINEMENTS: dict[str, dict] = {}


def refine(structure):
    """`structure` with the registry entry of its model type applied (unchanged when there is none)."""
    entry = REFINEMENTS.get(structure.model_type)
    if not entry:
        return structure
    unknown = set(entry) - {f.name for f in dataclasses.fields(structure)}
    if unknown:
        raise ModelError(f"registry entry {structure.model_type!r} names unknown field(s) {sorted(unknown)}")
    attn_out = entry.get("attn_out")
    if attn_out is not None and attn_out not in structure.linears[0]:
        raise ModelError(f"registry entry {structure.model_type!r}: attn_out {attn_out!r} is not a linear of block 0")
    return dataclasses.replace(structure, **entry, refinement=structure.model_type)
