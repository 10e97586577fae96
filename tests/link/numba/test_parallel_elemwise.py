"""Large elementwise loops are split over threads by chunk kernels (link/numba/parallel.py).

The threshold is lowered here so small arrays take the parallel branch; the results must
match numpy exactly (same scalar code, just split), for every operand layout the flat
loop accepts: several outputs, one-element broadcast inputs, in-place outputs, integer
dtypes and sizes that do not divide into whole chunks.
"""
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.compile.mode import Mode
from symgraph.link.numba import parallel


@pytest.fixture(autouse=True)
def compiled_glue(monkeypatch):
    """The compiled kernels' parallel loops are what is tested: a new graph's first
    calls would run on the Python tier (numpy, ``tiered.py``) until its glue is
    compiled, or from the start when an earlier run cached it."""
    monkeypatch.setattr(symgraph.config, "numba_glue", "compiled")


@pytest.fixture
def small_threshold(monkeypatch):
    monkeypatch.setattr(parallel, "PARALLEL_MIN", 1000)


@pytest.fixture
def runs(monkeypatch):
    """The element counts of the parallel runs made during the test."""
    seen = []
    real = parallel.run

    def spy(kid, addresses, n):
        seen.append(n)
        real(kid, addresses, n)

    monkeypatch.setattr(parallel, "run", spy)
    return seen


@pytest.mark.parametrize("n", [1000, 4099, 100_003])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_parallel_loop_matches_the_serial_loop_bit_for_bit(monkeypatch, runs, n, dtype):
    x = T.vector("x", dtype=dtype)
    y = T.exp(-x ** 2) * T.sin(x) + 1 / (1 + T.exp(-x))
    v = np.random.RandomState(n).uniform(-5, 5, n).astype(dtype)
    monkeypatch.setattr(parallel, "PARALLEL_MIN", 1 << 62)
    serial = symgraph.function([x], y)(v)
    monkeypatch.setattr(parallel, "PARALLEL_MIN", 1000)
    f = symgraph.function([x], y)
    np.testing.assert_array_equal(f(v), serial)  # the same scalar code, split over threads
    assert runs == [n]
    ref = symgraph.function([x], y, mode=Mode("py", optimizer=None))(v)
    tol = {"float32": 1e-6, "float64": 1e-14}[dtype]
    np.testing.assert_allclose(f(v), ref, rtol=tol, atol=tol)


def test_several_outputs_broadcast_scalars_and_matrices(small_threshold, runs):
    a = T.dmatrix("a")
    b = T.dmatrix("b")
    s = T.dscalar("s")
    c = T.constant(np.full((1, 1), 3.0))  # a one-element broadcast array (not a literal)
    t = a * s + b
    outs = [T.tanh(t) * c, t ** 2, a - s]
    f = symgraph.function([a, b, s], outs)
    r = np.random.RandomState(0)
    va, vb = r.randn(70, 31), r.randn(70, 31)
    got = f(va, vb, 0.5)
    tt = va * 0.5 + vb
    for g, want in zip(got, [np.tanh(tt) * 3.0, tt ** 2, va - 0.5]):
        np.testing.assert_allclose(g, want, rtol=1e-13)
    assert runs


def test_inplace_update_of_a_shared_variable(small_threshold, runs):
    w = symgraph.shared(np.linspace(-2, 2, 5000), name="w")
    k = T.dscalar("k")
    f = symgraph.function([k], (w * 3).sum(), updates=[(w, w - k * T.tanh(w))])
    old = w.get_value()
    np.testing.assert_allclose(f(0.5), 3 * old.sum(), atol=1e-9)  # (the sum is ~0)
    np.testing.assert_allclose(w.get_value(), old - 0.5 * np.tanh(old), rtol=1e-13)
    assert runs == [5000]


def test_cheap_arithmetic_stays_serial(small_threshold, runs):
    """Memory-bound loops (no transcendental op) get no parallel branch at all."""
    w = symgraph.shared(np.arange(5000, dtype="int64"), name="w")
    x = T.dvector("x")
    f = symgraph.function([x], 2.5 * x + 1, updates=[(w, w * 2 + 1)])
    np.testing.assert_allclose(f(np.ones(5000)), np.full(5000, 3.5))
    np.testing.assert_array_equal(w.get_value(), np.arange(5000) * 2 + 1)
    assert runs == []


def test_strided_operands_are_copied_then_run_like_contiguous_ones(small_threshold, runs):
    """An operand without a unit last stride is copied to a C-contiguous array first
    (``impl/elemwise.py``: one loop body per kernel), so it takes the parallel branch
    too, with the same bits as its contiguous copy."""
    x = T.dmatrix("x")
    f = symgraph.function([x], T.exp(x) + 1)
    v = np.random.RandomState(1).randn(200, 60)[:, ::3]  # strided: not C-contiguous
    got = f(v)
    np.testing.assert_allclose(got, np.exp(v) + 1, rtol=1e-13)
    assert runs == [v.size]
    np.testing.assert_array_equal(got, f(np.ascontiguousarray(v)))


def test_a_failing_chunk_kernel_raises_and_leaves_shared_values(small_threshold, monkeypatch):
    w = symgraph.shared(np.ones(3000), name="w")
    x = T.dvector("x")
    f = symgraph.function([x], T.sin(x) * 2, updates=[(w, w + 1)])

    def broken(kid, addresses, n):
        raise MemoryError("simulated failure in a chunk kernel")

    monkeypatch.setattr(parallel, "run", broken)
    with pytest.raises(RuntimeError, match="parallel elementwise kernel failed"):
        f(np.ones(3000))
    assert isinstance(parallel.last_error[0], MemoryError)
    np.testing.assert_array_equal(w.get_value(), np.ones(3000))


def test_cached_graph_runs_in_a_fresh_process(tmp_path):
    """The C symbol is re-registered in a new process before cached machine code loads."""
    prog = textwrap.dedent("""
        import numpy as np, symgraph, symgraph.tensor as T
        from symgraph.link.numba import parallel
        parallel.PARALLEL_MIN = 1000
        x = T.fvector("x")
        f = symgraph.function([x], T.sinh(x) * 2 + x)
        v = np.linspace(-3, 3, 50_001).astype("float32")
        np.testing.assert_allclose(f(v), np.sinh(v) * 2 + v, rtol=1e-6, atol=1e-6)
        print("ok", sum(k.fn is not None for k in parallel._kernels.values()))
    """)
    env_flags = f"cache_dir={tmp_path}"
    for _ in range(2):  # cold, then from the disk cache
        r = subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True,
                           timeout=300, env={**__import__("os").environ,
                                             "SYMGRAPH_FLAGS": env_flags})
        assert r.returncode == 0, r.stderr
        assert r.stdout.split() == ["ok", "1"]


def test_temporary_operands_stay_alive_during_the_parallel_run(small_threshold, runs):
    """A temporary read only by the loop (here the dot product) must not be freed before
    the chunk kernels read it (it was: a segfault on the unmapped pages of a big one)."""
    a = T.dmatrix("a")
    b = T.dmatrix("b")
    f = symgraph.function([a, b], T.tanh(T.dot(a, b)) * 2 + 1)
    r = np.random.RandomState(2)
    va, vb = r.randn(400, 30), r.randn(30, 500)
    for _ in range(3):
        np.testing.assert_allclose(f(va, vb), np.tanh(va @ vb) * 2 + 1, rtol=1e-12, atol=1e-12)
    assert runs == [200_000] * 3
