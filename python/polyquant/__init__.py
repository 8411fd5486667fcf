"""polyquant's engine room: the tensor math behind the TypeScript workflow tool.

The bridge calls `polyquant.api.call`; researchers may also import the plain functions
(`polyquant.quant.rtn.rtn_quantize`, `polyquant.quant.gptq.gptq_quantize`, ...) directly.
"""

__version__ = "0.1.0"
