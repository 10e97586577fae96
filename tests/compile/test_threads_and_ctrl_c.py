"""Calls from several threads keep every update, and Ctrl-C leaves shared state whole.

* Calls that update shared variables hold a lock per variable from reading the values to
  storing the results (``link/callguard.py``): 4 threads x 20,000 increments used to
  end at ~28,757 (the compiled graph runs without the GIL, so two calls read the same
  value and one store was lost).
* Ctrl-C (SIGINT) during a compiled call raises ``KeyboardInterrupt`` from the call,
  with no update of the interrupted call stored. Inside a parallel elementwise kernel it
  used to surface as a RuntimeError/SystemError (the kernel's ctypes callback caught it).
"""
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import symgraph
from symgraph.link import callguard


@pytest.fixture(scope="module")
def counter():
    c = symgraph.shared(np.float64(0), name="c")
    inc = symgraph.function([], [], updates=[(c, c + 1)])
    add2 = symgraph.function([], c * 1, updates=[(c, c + 2)])
    return c, inc, add2


def _in_threads(*targets):
    ts = [threading.Thread(target=t) for t in targets]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


def test_four_threads_lose_no_increment(counter):
    c, inc, _ = counter
    c.set_value(0.0)

    def work():
        for _ in range(20000):
            inc()
    _in_threads(*[work] * 4)
    assert float(c.get_value()) == 80000.0


def test_two_functions_updating_one_variable_from_threads(counter):
    c, inc, add2 = counter
    c.set_value(0.0)

    def one():
        for _ in range(5000):
            inc()

    def two():
        for _ in range(5000):
            add2()                    # the Numba backend's generated call
            add2.executable.call()    # the generic call every backend shares
    _in_threads(one, two, one, two)
    assert float(c.get_value()) == 2 * 5000 + 2 * (2 * 5000 * 2)


class _Box:
    """A container whose ``value`` store raises KeyboardInterrupt on the n-th store."""

    stores = 0
    fail_at = 2

    def __init__(self, v):
        self._v = v

    @property
    def value(self):
        return self._v

    @value.setter
    def value(self, v):
        _Box.stores += 1
        if _Box.stores == _Box.fail_at:
            raise KeyboardInterrupt
        self._v = v


def test_commit_is_undone_when_ctrl_c_comes_between_two_stores():
    boxes = [_Box(1), _Box(2), _Box(3)]
    _Box.stores = 0
    with pytest.raises(KeyboardInterrupt):
        callguard.commit(boxes, [10, 20, 30])
    assert [b.value for b in boxes] == [1, 2, 3]
    callguard.commit(boxes, [10, 20, 30])
    assert [b.value for b in boxes] == [10, 20, 30]


def test_update_locks_are_shared_per_variable_and_ordered(counter):
    c, inc, add2 = counter
    a = symgraph.shared(np.float64(0), name="a")
    assert callguard.update_lock([c.container]) is inc.executable.update_lock
    both = callguard.update_lock([a.container, c.container])
    assert both.locks == callguard.update_lock([c.container, a.container]).locks
    assert callguard.update_lock([]) is callguard.NO_LOCK


CHILD = textwrap.dedent("""
    import os, signal, sys, threading, time
    import numpy as np
    import symgraph, symgraph.tensor as T
    from symgraph.link.numba import parallel
    if sys.argv[1] == "serial":
        parallel.PARALLEL_MIN = 1 << 62   # the same loop, run inside graph_fn itself
    x = T.fvector("x")
    w = symgraph.shared(np.zeros(3, "float32"), name="w")
    f = symgraph.function([x], T.sum(T.exp(T.sin(x)) * T.cos(x)), updates=[(w, w + 1)])
    v = np.random.RandomState(0).rand(3_000_000).astype("float32")
    f(v)
    w.set_value(np.zeros(3, "float32"))
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    done = 0
    try:
        for done in range(100000):
            f(v)
        print("not interrupted")
    except KeyboardInterrupt:
        print("KeyboardInterrupt", done, int(w.get_value()[0]), parallel.last_error)
""")


@pytest.mark.parametrize("kind", ["parallel", "serial"])
def test_ctrl_c_during_a_compiled_call_raises_keyboard_interrupt(kind):
    r = subprocess.run([sys.executable, "-c", CHILD, kind], capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    word, done, w, errors = r.stdout.split(maxsplit=3)
    assert word == "KeyboardInterrupt", r.stdout + r.stderr[-2000:]
    # every finished call stored its update, the interrupted one none; nothing printed
    assert int(w) == int(done) and errors.strip() == "[]", r.stdout
    assert "Traceback" not in r.stderr, r.stderr[-2000:]
