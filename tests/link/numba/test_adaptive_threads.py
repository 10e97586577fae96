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
from symgraph.kernels.cpu import threads

import symgraph
import symgraph.tensor as T

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


# ------------------------------------------------------------- CallTuner (by measurement)

class _Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


@pytest.fixture
def tuner_env(monkeypatch):
    """A CallTuner on a fake clock, with the load allowing Numba's 2 threads."""
    clock = _Clock()
    monkeypatch.setattr(threads, "_now", clock)
    monkeypatch.setattr(threads, "_adaptive", threads._Adaptive())
    threads._adaptive.enabled = True
    monkeypatch.setattr(threads, "call_threads", lambda: 0)
    monkeypatch.setattr(threads, "_max_threads", lambda: 2)
    return threads.CallTuner(), clock


def _calls(tuner, n, seconds_for):
    """n calls; seconds_for(count) is how long a call on that count takes (0: Numba's 2)."""
    used = []
    for _ in range(n):
        k = tuner.pick()
        used.append(k)
        tuner.done(seconds_for(k or 2))
    return used


def test_tuner_keeps_all_threads_while_they_are_faster(tuner_env):
    tuner, clock = tuner_env
    speed = {2: 2.5e-3, 1: 4.7e-3}.get
    used = _calls(tuner, 20, speed)
    assert set(used) == {0}                       # no probe before PROBE_MIN_S
    intervals = []
    for _ in range(12):
        clock.t += threads.PROBE_MAX_S
        used = _calls(tuner, 10, speed)
        assert used.count(1) == threads.PROBE_CALLS   # one probe of half the threads
        intervals.append(tuner.interval)
    assert tuner.choice == 0 and tuner.switches == 0
    assert intervals == sorted(intervals) and intervals[-1] == threads.PROBE_MAX_S  # backs off


def test_tuner_moves_to_fewer_threads_when_they_measure_faster_and_back(tuner_env):
    tuner, clock = tuner_env
    slow_two = {2: 6.9e-3, 1: 4.7e-3}.get         # two threads in their slow state
    _calls(tuner, 10, slow_two)
    clock.t += threads.PROBE_MIN_S
    _calls(tuner, 10, slow_two)
    assert tuner.choice == 1 and tuner.switches == 1      # on half the threads
    assert set(_calls(tuner, 10, slow_two)) == {1}       # runs on one thread now
    fast_two = {2: 2.5e-3, 1: 4.7e-3}.get         # two threads fast again: a probe sees it
    clock.t += threads.PROBE_MAX_S
    _calls(tuner, 10, fast_two)
    assert tuner.choice == 0 and tuner.switches == 2
    assert set(_calls(tuner, 10, fast_two)) == {0}


def test_tuner_noise_below_the_margin_does_not_switch(tuner_env):
    tuner, clock = tuner_env
    close = {2: 2.5e-3, 1: 2.3e-3}.get            # 8% faster: within MARGIN, no switch
    for _ in range(5):
        _calls(tuner, 10, close)
        clock.t += threads.PROBE_MAX_S
    assert tuner.probes >= 4 and tuner.switches == 0


def test_tuner_leaves_a_busy_machine_to_the_load_count(tuner_env, monkeypatch):
    tuner, clock = tuner_env
    monkeypatch.setattr(threads, "call_threads", lambda: 1)   # busy: one thread allowed
    for _ in range(3):
        assert set(_calls(tuner, 10, lambda k: 1e-3)) == {1}
        clock.t += threads.PROBE_MAX_S
    assert tuner.probes == 0
    monkeypatch.setattr(threads, "call_threads", lambda: 0)   # quiet again: starts over
    assert set(_calls(tuner, 5, lambda k: 1e-3)) == {0}


def test_tuner_opt_out(tuner_env):
    tuner, clock = tuner_env
    threads._adaptive.enabled = False
    for _ in range(3):
        assert set(_calls(tuner, 10, {2: 9e-3, 1: 1e-3}.get)) == {0}
        clock.t += threads.PROBE_MAX_S
    assert tuner.probes == 0


@needs_two
def test_tuned_function_runs_on_fewer_threads_with_identical_results(monkeypatch, step):
    """The executable's calls follow its tuner (fast path and generic path), bit for bit."""
    f, args = step
    ref = f(*args)
    tuner = f.executable.thread_tuner
    monkeypatch.setattr(threads, "call_threads", lambda: 0)     # a quiet machine
    monkeypatch.setattr(threads._adaptive, "enabled", True)
    tuner.pick()
    tuner.choice, tuner.next_probe = 1, float("inf")     # one thread measured faster
    seen = []
    real = numba.set_num_threads
    monkeypatch.setattr(numba, "set_num_threads", lambda n: (seen.append(n), real(n)))
    out = f(*args)
    out2 = f.executable.call(*args)      # the generic path (run)
    assert seen == [1, numba.config.NUMBA_NUM_THREADS] * 2, seen
    for a, b, c in zip(ref, out, out2):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, np.asarray(c))


@needs_two
def test_conv_pool_step_is_bit_identical_on_one_thread():
    """The conv, pool and gemm kernels of a network3-like step, 3 updates each way."""
    from symgraph.tensor.nnet import conv
    from symgraph.tensor.signal import pool

    def run(n):
        rng = np.random.default_rng(1)
        x = T.ftensor4("x")
        w = symgraph.shared(rng.normal(0, 0.1, (4, 1, 5, 5)).astype("float32"), name="w")
        v = symgraph.shared(rng.normal(0, 0.1, (4 * 4 * 4, 10)).astype("float32"), name="v")
        c = conv.conv2d(x, w, image_shape=(8, 1, 12, 12), filter_shape=(4, 1, 5, 5))
        h = pool.pool_2d(T.nnet.sigmoid(c), (2, 2), ignore_border=True).flatten(2)
        cost = T.mean(T.nnet.softmax(T.dot(h, v)))
        gw, gv = T.grad(cost, [w, v])
        f = symgraph.function([x], cost, updates=[(w, w - 0.1 * gw), (v, v - 0.1 * gv)])
        data = rng.random((8, 1, 12, 12), dtype=np.float32)
        with threads.fewer_threads(n):
            costs = [f(data) for _ in range(3)]
        return costs, w.get_value(), v.get_value()

    two, one = run(0), run(1)
    for a, b in zip(two[0] + [two[1], two[2]], one[0] + [one[1], one[2]]):
        np.testing.assert_array_equal(a, b)
