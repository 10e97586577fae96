"""Generated code allocates through disk-cached helpers (``helpers.empty`` and friends).

Numba compiles its own ``np.empty``/``np.zeros``/``np.full``/``np.ascontiguousarray``/
``astype`` implementations again in every process; generated modules call wrappers compiled
once per installation instead. Checked where it matters: a second process compiling a new
graph (its own empty graph cache) compiles none of Numba's array-allocation code.
"""
import os
import subprocess
import sys
import textwrap

import numpy as np

import symgraph
import symgraph.tensor as T
from symgraph.link.numba.linker import use_cached_allocators

PROGRAM = textwrap.dedent("""
    import sys
    import numpy as np
    from numba.core import compiler
    compiled = []
    real = compiler.compile_extra

    def spy(typingctx, targetctx, func, *a, **k):
        compiled.append(f"{getattr(func, '__module__', '?')}.{getattr(func, '__qualname__', '?')}")
        return real(typingctx, targetctx, func, *a, **k)

    compiler.compile_extra = spy
    import symgraph, symgraph.tensor as T
    x = T.ftensor4("x")
    m = T.fmatrix("m")
    y = (x.sum(axis=[0, 2, 3]) + T.zeros_like(x).sum()).astype("float64")
    z = T.dot(m.T, m) * 2 + T.alloc(np.float32(1.5), 3, 3)
    f = symgraph.function([x, m], [y, z])
    r = np.random.RandomState(0)
    out = f(r.rand(2, 3, 4, 5).astype("float32"), r.rand(3, 3).astype("float32"))
    print(repr(float(out[0].sum())), repr(float(out[1].sum())))
    print("COMPILED", " ".join(compiled))
""")


def test_new_graph_in_a_new_process_compiles_no_numpy_allocation_code(tmp_path):
    outs = []
    for k in range(2):  # the first run may compile the helpers (once per installation)
        env = {**os.environ, "SYMGRAPH_FLAGS": f"cache_dir={tmp_path / str(k)},numba_glue=compiled"}
        r = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True,
                           timeout=600, env=env)
        assert r.returncode == 0, r.stderr[-3000:]
        outs.append(r.stdout.splitlines())
    assert outs[0][0] == outs[1][0]
    compiled = outs[1][1].split()[1:]
    assert any(".graph_fn" in c for c in compiled), compiled  # the graph itself was compiled
    numba_alloc = [c for c in compiled if c.startswith("numba.np.arrayobj")]
    assert not numba_alloc, numba_alloc


def test_calls_are_rewritten_and_values_unchanged():
    src = "a = np.empty((n, ), dtype=d)\nb = np.full(s, 0.0, dtype=d)\nc = np.emptyish(x)\n"
    out = use_cached_allocators(src)
    assert "_sg_helpers.empty((n, ), dtype=d)" in out
    assert "_sg_helpers.full(s, 0.0, dtype=d)" in out
    assert "np.emptyish(x)" in out  # only the exact names
    x = T.matrix("x")
    f = symgraph.function([x], [x.sum(axis=0), T.ones_like(x) * 2])
    assert "_sg_helpers." in f.executable.source and "np.empty(" not in f.executable.source.split(
        "def thunk")[0]
    a = np.arange(6.0).reshape(2, 3)
    s, o = f(a)
    np.testing.assert_array_equal(s, a.sum(axis=0))
    np.testing.assert_array_equal(o, np.full((2, 3), 2.0))


def test_generated_code_has_no_cfunc_wrapper_on_the_private_path():
    """Generated kernels and glue take ``numba_compat.jit_options`` (no C-ABI wrapper on
    checked Numba versions); they still run from Python and by symbol."""
    from symgraph.numba_compat import jit_options

    x = T.dmatrix("x")
    f = symgraph.function([x], T.exp(x).sum(axis=0) * 2, mode="numba")
    src = f.executable.source
    assert ("no_cfunc_wrapper=True" in src) == bool(jit_options())
    a = np.arange(6.0).reshape(2, 3) / 7
    np.testing.assert_allclose(f(a), np.exp(a).sum(axis=0) * 2, rtol=1e-12)
