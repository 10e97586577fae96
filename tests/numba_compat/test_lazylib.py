"""Cached libraries load without parsing their bitcode (``numba_compat/lazylib.py``).

The defined-symbol set read from the object file must cover what Numba's own load records
from the bitcode, or a cached function's entry point would not be found; and a library
loaded lazily must still link into a new compile (its bitcode parsed then).
"""
import subprocess
import sys
import textwrap

import numba
import numpy as np
import pytest
from llvmlite import binding as ll

from symgraph.numba_compat import numba_internals
from symgraph.numba_compat.lazylib import elf_symbols

pytestmark = pytest.mark.skipif(not numba_internals(),
                                reason="Numba internals off (SYMGRAPH_NUMBA_FALLBACK=1 or "
                                       "an unchecked Numba version): nothing lazy to test")


def _compiled_library():
    @numba.njit
    def f(x):
        return np.exp(x).sum() + 1.0

    f(np.ones(3))
    (cres,) = f.overloads.values()
    return cres.library


def test_object_symbols_cover_what_the_bitcode_defines():
    lib = _compiled_library()
    name, kind, (obj, bitcode) = lib.serialize_using_object_code()
    assert kind == "object"
    from_obj = elf_symbols(obj)[0]
    mod = ll.parse_bitcode(bitcode)
    from_bitcode = {g.name for gs in (mod.functions, mod.global_variables) for g in gs
                    if not g.is_declaration}
    # what a lookup can ask for: the exported functions and data (private names are
    # renamed by the object writer and never looked up by name)
    public = {n for n in from_bitcode if not n.startswith((".", "$"))}
    assert public and public <= from_obj, sorted(public - from_obj)[:5]


def test_not_an_elf_object_is_left_to_numba():
    assert elf_symbols(b"not an object file at all" * 4) is None
    assert elf_symbols(b"") is None


PROGRAM = textwrap.dedent("""
    import sys, numpy as np
    import symgraph, symgraph.tensor as T
    x = T.matrix("x")
    f = symgraph.function([x], T.nnet.softmax(T.tanh(x) * 2).sum())
    a = np.linspace(-1, 1, 12).reshape(3, 4)
    print("R", repr(float(f(a))))
    if len(sys.argv) > 1:
        # a new graph compiled in this process after the cached ones loaded: its glue
        # links the kernels loaded above, so their bitcode is parsed now
        g = symgraph.function([x], T.nnet.softmax(T.tanh(x) * 3).sum() + 1)
        e = np.exp(np.tanh(a) * 3)
        assert abs(float(g(a)) - ((e / e.sum(1, keepdims=True)).sum() + 1)) < 1e-9
        print("NEW ok")
""")


def _run(folder, *args):
    import os
    env = dict(os.environ, SYMGRAPH_FLAGS=f"cache_dir={folder},numba_glue=compiled")
    r = subprocess.run([sys.executable, "-c", PROGRAM, *args], capture_output=True,
                       text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout.splitlines()


def test_a_lazily_loaded_graph_gives_the_same_result_and_links(tmp_path):
    first = _run(tmp_path)                  # compiles
    second = _run(tmp_path, "new")          # loads lazily, then links a new graph
    assert first[0].startswith("R ") and second[0] == first[0]
    assert second[1] == "NEW ok"
