"""Cached machine code loads without Numba's registry refresh (``link/numba/fastload.py``).

Each case runs fresh processes on one temporary cache folder: the first compiles a graph
(and records ``graph_fn``'s argument types in ``<module>.sigs``), the next ones load it.
"""
import glob
import os
import subprocess
import sys
import textwrap

import numba
import numpy as np

from symgraph.link.numba.fastload import load_or_compile

PROGRAM = textwrap.dedent("""
    import sys, numpy as np
    import symgraph, symgraph.tensor as T
    x = T.matrix("x")
    w = symgraph.shared(np.arange(12.0).reshape(4, 3), name="w")
    f = symgraph.function([x], T.nnet.softmax(T.dot(x, w)).sum(), updates={w: w * 0.5})
    preloaded = len(f.executable.graph_fn.signatures) > 0   # loaded up front, before any call
    a = np.ones((2, 4))
    r1 = float(f(a)); r2 = float(f(a))
    v = T.vector("v")   # a compute-bound loop long enough for the parallel chunk kernel
    h = symgraph.function([v], T.exp(v) * T.sin(v))
    big = np.linspace(0.0, 1.0, 1 << 17)
    assert np.allclose(h(big), np.exp(big) * np.sin(big))
    # Numba's lowering registries (and scipy.linalg with them) were never imported
    registries = "numba.np.arraymath" in sys.modules
    assert abs(r1 - 2.0) < 1e-12 and abs(r2 - 2.0) < 1e-12, (r1, r2)
    assert np.array_equal(w.get_value(), np.arange(12.0).reshape(4, 3) * 0.25)
    extra = ""
    if len(sys.argv) > 1:   # a new graph compiled in the same process after a fast load
        g = symgraph.function([x], T.tanh(x) * 2)
        assert np.allclose(g(a), np.tanh(a) * 2)
        extra = " compiled-after"
    print(f"preloaded={preloaded} registries={registries}{extra}")
""")


def _run(folder, *args):
    env = dict(os.environ, SYMGRAPH_FLAGS=f"cache_dir={folder},numba_glue=compiled")
    r = subprocess.run([sys.executable, "-c", PROGRAM, *args], capture_output=True,
                       text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout.split("\n")[-2]


def test_a_cached_graph_is_loaded_up_front_without_the_registries(tmp_path):
    assert _run(tmp_path) == "preloaded=False registries=True"   # compiled
    assert len(glob.glob(str(tmp_path / "numba" / "*.sigs"))) == 2   # f and h
    assert _run(tmp_path) == "preloaded=True registries=False"
    # compiling something new after a fast load: Numba's compiler loads what it needs
    assert _run(tmp_path, "new") == "preloaded=True registries=False compiled-after"


def test_an_unreadable_signatures_file_is_ignored(tmp_path):
    _run(tmp_path)
    for sigs in glob.glob(str(tmp_path / "numba" / "*.sigs")):
        with open(sigs, "wb") as f:
            f.write(b"not a pickle")
    # loaded by the first call instead, through Numba's own cache path (which imports the
    # registries); then the file is written afresh
    assert _run(tmp_path) == "preloaded=False registries=True"
    assert _run(tmp_path) == "preloaded=True registries=False"


def test_without_a_disk_cache_it_compiles():
    @numba.njit
    def twice(a):
        return a * 2

    load_or_compile(twice, (numba.float64[:],))
    assert list(twice.signatures) == [(numba.float64[:],)]
    load_or_compile(twice, (numba.float64[:],))   # already there: nothing to do
    assert np.array_equal(twice(np.ones(3)), np.full(3, 2.0))
