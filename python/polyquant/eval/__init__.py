"""Evaluation: per-language perplexity under recorded protocols (and, from other modules, task accuracy)."""
