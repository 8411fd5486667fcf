"""Corpora the engine cannot read in TypeScript: hub datasets (through `datasets`, its cache and
offline mode) and tabular files (parquet, jsonl, csv). `python -m polyquant.corpus` answers one
request from src/corpus/python.ts; the documents go back to TypeScript, which digests them and hands
them to the kernels like any other corpus (DESIGN §1: data flows one way)."""
