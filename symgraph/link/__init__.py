"""Backends. Each one's ``link(fgraph, inputs, shared, updates)`` turns an optimized
FunctionGraph into an ``Executable`` (``executable.py``), which runs its calls.

Backends are found through ``LINKERS`` (name -> "module:Class"), imported lazily so the
py backend never imports numba.
"""
from __future__ import annotations

import importlib

LINKERS = {
    "py": "symgraph.link.py.linker:PyLinker",
    "numba": "symgraph.link.numba.executable:NumbaLinker",
    "cuda": "symgraph.link.cuda.linker:CudaLinker",
}


def get_linker(name: str):
    try:
        path = LINKERS[name]
    except KeyError:
        raise ValueError(f"unknown linker {name!r}; known: {sorted(LINKERS)}") from None
    mod, cls = path.split(":")
    return getattr(importlib.import_module(mod), cls)()
