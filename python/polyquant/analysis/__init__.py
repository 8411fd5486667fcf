"""Statistics over measurements: paired bootstrap confidence intervals and the disparity metrics."""
