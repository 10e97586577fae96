"""Numba can save every disk-cached kernel in any process, a Jupyter kernel included.

A kernel generated with ``exec`` into globals without ``__name__`` is a "dynamic"
function to Numba: its cache entry then pickles those whole globals, ``__builtins__``
included. In a Jupyter kernel ``builtins.input`` is ipykernel's method (which keeps the
original built-in), so the first compile on a fresh cache failed with ``PicklingError:
Can't pickle <built-in function input>`` (notebooks/mnist_convpool.ipynb).
"""
from __future__ import annotations

import importlib
import os
import pkgutil
import subprocess
import sys
import textwrap

import pytest
from numba.core.dispatcher import Dispatcher

import symgraph.kernels
import symgraph.link.numba


def _cached_dispatchers():
    for pkg in (symgraph.kernels, symgraph.link.numba):
        for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
            if ".cuda" in info.name:
                continue
            module = importlib.import_module(info.name)
            for name, obj in vars(module).items():
                if isinstance(obj, Dispatcher) and type(obj._cache).__name__ != "NullCache":
                    yield f"{info.name}.{name}", obj


def test_disk_cached_kernels_belong_to_a_module():
    found = dict(_cached_dispatchers())
    assert "symgraph.kernels.cpu.gemm._row_block" in found, sorted(found)
    dynamic = [name for name, d in found.items() if d.py_func.__module__ is None]
    assert dynamic == [], f"cache=True kernels without a module (Numba pickles their " \
                          f"globals): {dynamic}"


JUPYTER_LIKE = textwrap.dedent("""
    import builtins

    class Kernel:           # what ipykernel does to builtins.input
        def __init__(self):
            self._sys_raw_input = builtins.input

        def raw_input(self, prompt=""):
            return ""

    builtins.input = Kernel().raw_input
    import numpy as np
    from symgraph.kernels.cpu import gemm

    a = np.zeros(64, np.float32)
    # no rows or columns: compiles _tiles and the generated _row_block, runs nothing
    gemm._tiles(a, 0, 8, 1, a, 0, 8, 8, np.float32(1), np.float32(0), a, 0, 8, a, 0, 8, 0, 0)
    print(gemm._row_block.stats.cache_misses and "saved")
""")


@pytest.mark.slow
def test_generated_kernel_is_saved_in_a_jupyter_like_process(tmp_path):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))     # a fresh Numba cache
    r = subprocess.run([sys.executable, "-c", JUPYTER_LIKE], capture_output=True, text=True,
                       timeout=600, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert list(tmp_path.rglob("gemm._row_block-*.nbi")), sorted(tmp_path.rglob("*"))
