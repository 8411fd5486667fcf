"""Execute a notebook the way Jupyter's "Run all" does (nbclient, a real ipykernel), and save it.

usage: execute.py IN.ipynb OUT.ipynb WORKDIR
"""

import sys

import nbformat
from nbclient import NotebookClient

source, target, workdir = sys.argv[1:4]
nb = nbformat.read(source, as_version=4)
nbformat.validate(nb)
client = NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": workdir}})
try:
    client.execute()
finally:
    nbformat.write(nb, target)
