"""Numba's threading layer, however the process got there, never aborts on threads.

``import symgraph`` after something else loaded libgomp (``import torch`` first, in a
notebook) used to switch Numba to its ``workqueue`` layer, and calling a function from 4
threads then aborted the interpreter ("Concurrent access has been detected"). Now Numba's
default (thread-safe) layer is kept; a user who picks ``workqueue`` gets parallel calls
serialized (``kernels/cpu/threads.py``). Each case runs in a fresh process (the layer is
chosen once per process).
"""
import os
import subprocess
import sys
import textwrap

PROGRAM = textwrap.dedent("""
    import sys, threading
    if sys.argv[1] == "libgomp-first":
        import numba.np.ufunc.omppool  # loads libgomp, as torch's import does
    import numba
    import numpy as np
    import symgraph
    import symgraph.tensor as T
    from symgraph.compile.mode import Mode
    from symgraph.link.numba import parallel
    parallel.PARALLEL_MIN = 1000
    x = T.fvector("x")
    c = symgraph.shared(np.float64(0), name="c")
    f = symgraph.function([x], T.sum(T.exp(T.sin(x))), updates=[(c, c + 1)])
    g = symgraph.function([x], T.exp(T.sin(x)))   # no updates: runs concurrently
    v = np.linspace(-3, 3, 5000).astype("float32")
    ref = g(v)
    f(v)
    c.set_value(0.0)
    bad = []

    def work():
        for _ in range(100):
            f(v)
            if not np.array_equal(g(v), ref):
                bad.append(1)
    ts = [threading.Thread(target=work) for _ in range(4)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    assert not bad and float(c.get_value()) == 400.0, (bad, c.get_value())
    print(numba.threading_layer())
""")


def _run(case, **env_extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("NUMBA_THREADING_LAYER", "GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    env.update(env_extra)
    r = subprocess.run([sys.executable, "-c", PROGRAM, case], capture_output=True, text=True,
                       timeout=300, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout.split()


def test_libgomp_loaded_first_keeps_a_thread_safe_layer():
    # before: "workqueue", and 4 calling threads aborted the process
    assert _run("libgomp-first")[0] in ("omp", "tbb")


def test_parallel_calls_from_threads_in_the_users_workqueue_layer():
    # the user's choice is kept; its calls are serialized instead of aborting
    assert _run("plain", NUMBA_THREADING_LAYER="workqueue") == ["workqueue"]
