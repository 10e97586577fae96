"""A counter of kernels compiled shows while a new graph compiles (``progress.py``)."""
import os
import subprocess
import sys

PROGRAM = ("import numpy as np, symgraph, symgraph.tensor as T\n"
           "x = T.dvector('x')\n"
           "f = symgraph.function([x], T.cosh(x * 3.0).sum() + T.arctan(x).max())\n"
           "print(float(f(np.zeros(4))))\n")


def _run(cache, flag):
    env = dict(os.environ, SYMGRAPH_FLAGS=f"cache_dir={cache}", SYMGRAPH_PROGRESS=flag)
    env.pop("NUMBA_CACHE_DIR", None)
    return subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True,
                          env=env, timeout=600)


def test_progress_counts_new_kernels_only(tmp_path):
    first = _run(tmp_path, "1")
    assert first.returncode == 0 and first.stdout.split() == ["4.0"], first.stderr[-2000:]
    assert "symgraph: compiling new kernels" in first.stderr
    again = _run(tmp_path, "1")   # everything cached: nothing to count
    assert again.returncode == 0 and "compiling new kernels" not in again.stderr


def test_progress_can_be_turned_off(tmp_path):
    r = _run(tmp_path, "0")
    assert r.returncode == 0 and "compiling" not in r.stderr, r.stderr[-2000:]


def test_no_counter_when_the_first_call_compiles_nothing(tmp_path):
    """A graph whose nodes all run on the Python tier (exact arithmetic, exp and tanh)
    waits for no compile: its kernels are the worker's, and no counter shows."""
    program = ("import numpy as np, symgraph, symgraph.tensor as T\n"
               "x = T.dvector('x')\n"
               "f = symgraph.function([x], T.exp(x * 3.0) * 4.0 + T.tanh(x))\n"
               "print(float(f(np.zeros(4))[0]))\n")
    env = dict(os.environ, SYMGRAPH_FLAGS=f"cache_dir={tmp_path}", SYMGRAPH_PROGRESS="1")
    r = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                       env=env, timeout=600)
    assert r.returncode == 0 and r.stdout.split() == ["4.0"], r.stderr[-2000:]
    assert "compiling new kernels" not in r.stderr
