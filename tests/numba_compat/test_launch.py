"""Parallel tasks without Numba's parfor compiler (``symgraph.numba_compat.launch``): every
task runs once, whatever the thread count and threading layer; a task's exception reaches
the caller as from a plain call; a cached caller loads in a new process; the public path
(a ``prange`` loop) gives the same results."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numba
import numpy as np
import pytest
from numba import njit
from symgraph.kernels.cpu import threads

from symgraph.numba_compat import numba_internals
from symgraph.numba_compat.launch import task_launcher

threads.start()


@njit(nogil=True)
def _scale_task(t, step, x, out, scale, shift, counts):
    lo = t * step
    for i in range(lo, min(x.shape[0], lo + step)):
        if x[i] < 0:
            raise ValueError("negative input")
        out[i] = x[i] * scale + (1.0 if shift else 0.0)
    counts[t] += 1


_scale_tasks = task_launcher(_scale_task)


@njit
def _scale(x, ntasks, scale, shift):
    out = np.full(x.shape[0], np.nan)
    counts = np.zeros(max(ntasks, 1), np.int64)
    step = (x.shape[0] + max(ntasks, 1) - 1) // max(ntasks, 1)
    _scale_tasks(ntasks, step, x, out, scale, shift, counts)
    return out, counts


@pytest.mark.parametrize("ntasks", [1, 2, 3, 7, 64])
def test_every_task_runs_once(ntasks):
    x = np.arange(1000.0)
    out, counts = _scale(x, ntasks, 2.0, True)
    assert np.array_equal(out, 2 * x + 1)
    assert counts.tolist() == [1] * ntasks


def test_no_task_for_zero():
    out, counts = _scale(np.arange(10.0), 0, 2.0, False)
    assert np.isnan(out).all() and counts.tolist() == [0]


def test_one_thread_runs_every_task():
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        out, counts = _scale(np.arange(100.0), 5, 3.0, False)
    finally:
        numba.set_num_threads(before)
    assert np.array_equal(out, 3 * np.arange(100.0)) and counts.tolist() == [1] * 5


@pytest.mark.parametrize("ntasks", [1, 4])
def test_a_task_exception_reaches_the_caller(ntasks):
    x = np.arange(100.0)
    x[77] = -1.0
    with pytest.raises(ValueError, match="negative input"):
        _scale(x, ntasks, 2.0, True)


@pytest.mark.skipif(not numba_internals(), reason="the public path is a prange loop: no "
                                                  "trampoline or stack record to inspect")
def test_no_parfor_in_the_caller():
    """The caller declares Numba's threading entry point and the task's symbol; the task's
    code and Numba's gufunc machinery are not in its module."""
    ir = _scale.inspect_llvm(_scale.signatures[0])
    defined = [ln for ln in ir.splitlines() if ln.startswith("define")]
    assert "numba_parallel_for" in ir and "do_scheduling" not in ir
    assert [ln for ln in defined if "_scale_task" in ln] == []
    assert len([ln for ln in defined if ".tasks" in ln]) == 1   # the trampoline


MODULE = """
    import numpy as np
    from numba import njit
    from symgraph.numba_compat.bysymbol import caller_cache
    from symgraph.numba_compat.launch import task_launcher

    @njit(cache=True)
    def task(t, x, out):
        out[t] = x[t] * 2

    tasks = task_launcher(task)

    @njit(cache=caller_cache())
    def caller(x):
        out = np.zeros_like(x)
        tasks(x.shape[0], x, out)
        return out
"""

RUN = textwrap.dedent("""
    import numpy as np
    import launch_mod
    out = launch_mod.caller(np.arange(6.0))
    print(out.tolist(), sum(launch_mod.caller.stats.cache_hits.values()))
""")


def _run(folder, **env):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(folder / "nb"), PYTHONPATH=str(folder), **env)
    r = subprocess.run([sys.executable, "-c", RUN], capture_output=True, text=True, env=env,
                       timeout=300, cwd=folder)
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout.split("]")[0] + "]", int(r.stdout.split()[-1])


@pytest.mark.skipif(not numba_internals(), reason="the public path does not cache callers "
                                                  "of tasks (caller_cache)")
def test_a_cached_caller_loads_in_a_new_process(tmp_path):
    """The caller's reload list starts the threading layer and registers the task before
    its machine code loads (LLVM would abort on an unresolved symbol)."""
    (tmp_path / "launch_mod.py").write_text(textwrap.dedent(MODULE))
    expected = str([2.0 * i for i in range(6)])
    assert _run(tmp_path) == (expected, 0)
    assert _run(tmp_path) == (expected, 1)
    assert _run(tmp_path, NUMBA_THREADING_LAYER="workqueue") == (expected, 1)


def test_the_public_path_gives_the_same_results(tmp_path):
    (tmp_path / "launch_mod.py").write_text(textwrap.dedent(MODULE))
    expected = str([2.0 * i for i in range(6)])
    assert _run(tmp_path, SYMGRAPH_NUMBA_FALLBACK="1")[0] == expected
