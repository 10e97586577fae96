"""Compiled calls use fewer threads while other processes keep the cores busy
(``kernels/cpu/threads.py``), and the results do not depend on how many threads ran.

The thread count may change from one call to the next (it follows the machine's load), so
every kernel must give bit-identical results on any number of threads: the gemm kernels'
NN product used to split its reduction by the calling thread's current count, so one
thread summed different partials than two.
"""
import numba
import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.kernels.cpu import threads

needs_two = pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2,
                               reason="needs at least 2 Numba threads (one core here)")


@pytest.fixture(scope="module")
def step():
    """A dense layer's training step at batch 10 (the NN/NT/TN gemm kernels) plus a
    softmax; returns (f, args)."""
    rng = np.random.default_rng(0)
    x = T.fmatrix("x")
    y = T.ivector("y")
    w = symgraph.shared(rng.normal(0, 0.1, (784, 100)).astype("float32"), name="w")
    v = symgraph.shared(rng.normal(0, 0.1, (100, 10)).astype("float32"), name="v")
    h = T.nnet.relu(T.dot(x, w))
    p = T.nnet.softmax(T.dot(h, v))
    cost = -T.mean(T.log(p)[T.arange(y.shape[0]), y])
    gw, gv = T.grad(cost, [w, v])
    f = symgraph.function([x, y], [cost, T.dot(x, w), gw, gv])
    assert f.executable.parallel
    args = (rng.random((10, 784), dtype=np.float32), rng.integers(0, 10, 10).astype("int32"))
    return f, args


@needs_two
def test_one_thread_gives_bit_identical_results(step):
    f, args = step
    full = f(*args)
    with threads.fewer_threads(1):
        assert numba.get_num_threads() == 1
        one = f(*args)
    assert numba.get_num_threads() == numba.config.NUMBA_NUM_THREADS
    for a, b in zip(full, one):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("others, expected", [(0, 0), (1, 1), (2, 1), (7, 1)])
def test_thread_count_follows_other_runnable_threads(monkeypatch, others, expected):
    monkeypatch.setattr(threads, "_others_running", lambda: others)
    monkeypatch.setattr(threads, "_adaptive", threads._Adaptive())
    threads._adaptive.enabled = True
    threads._adaptive.cpus = 2
    assert threads.call_threads() == 0          # one sample is not enough to go down
    threads._adaptive.next = 0.0
    assert threads.call_threads() == expected   # two in a row are
    monkeypatch.setattr(threads, "_others_running", lambda: 0)
    threads._adaptive.next = 0.0
    assert threads.call_threads() == 0          # back up at once


def test_opt_out_and_unknown_load(monkeypatch):
    monkeypatch.setenv(threads.ADAPTIVE_ENV, "0")
    monkeypatch.setattr(threads, "_adaptive", threads._Adaptive())
    assert threads.call_threads() == 0
    monkeypatch.setenv(threads.ADAPTIVE_ENV, "1")
    monkeypatch.setattr(threads, "_adaptive", threads._Adaptive())
    monkeypatch.setattr(threads, "_others_running", lambda: None)  # no /proc
    assert threads.call_threads() == 0 and not threads._adaptive.enabled


def test_others_running_reads_this_machine():
    n = threads._others_running()
    assert n is None or n >= 0


@needs_two
def test_busy_machine_call_runs_on_one_thread_and_restores(monkeypatch, step):
    f, args = step
    ref = f(*args)
    seen = []
    real = numba.set_num_threads
    monkeypatch.setattr(numba, "set_num_threads", lambda n: (seen.append(n), real(n)))
    monkeypatch.setattr(threads, "call_threads", lambda: 1)
    out = f(*args)                                   # the fast path reads call_threads
    assert seen == [1, numba.config.NUMBA_NUM_THREADS], seen
    np.testing.assert_array_equal(out[0], ref[0])
