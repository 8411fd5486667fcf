"""Bit allocation under per-language constraints (the `allocate` kernel's parts).

- `units.py`: what gets one choice (a layer, a layer's attention or MLP, one module) and the
  candidate choices with their bits per weight;
- `solve.py`: the integer programs (scipy's `milp`, HiGHS) over measured sensitivities;
- `baselines.py`: the allocations other tools would make (uniform, first/last protected,
  llama.cpp's Q4_K_M rule, the average-loss optimum);
- `plan.py`: an allocation as polyquant `protect` + `overrides` and as a per-module table,
  which `polyquant/compile/` turns into each quantizer's own syntax.
"""
