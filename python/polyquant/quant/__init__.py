"""Weight quantization: the shared grid, RTN, the target plan, in-place apply/restore, packed codes
(`coded.py`) and per-call swapping (`swap.py`) for long sweeps, method dispatch.

GPTQ (`gptq.py`) and AWQ (`awq.py`) plug into `methods.quantize_model` and share `grid.py`.
"""
