"""How the CPU kernels' parallel loops split their work (``kernels/cpu/tasks.py``) and run
their tasks (``numba_compat.launch``: compiled once per argument types, called by symbol)."""

import numpy as np
from numba import njit, types
from symgraph.kernels.cpu import conv as C
from symgraph.kernels.cpu import pool as P
from symgraph.kernels.cpu.tasks import split_tasks
from symgraph.kernels.cpu.threads import task_threads

from symgraph.numba_compat import numba_internals


@njit(cache=False)
def _owners(items):
    """For each item, how many of split_tasks' blocks contain it."""
    tasks, step = split_tasks(items)
    seen = np.zeros(items, np.int64)
    for t in range(tasks):
        lo = min(items, t * step)
        for i in range(lo, min(items, lo + step)):
            seen[i] += 1
    return tasks, seen


def test_split_tasks_covers_every_item_once():
    n = task_threads()   # what task_count() reads in compiled code
    assert n >= 1
    for items in range(0, 4 * n + 3):
        tasks, seen = _owners(items)
        assert 1 <= tasks <= max(1, min(items, n)), (items, tasks)
        assert (seen == 1).all(), (items, seen)


def test_task_functions_take_an_int64_index_only():
    """Numba types a prange body again inside its outlined function, with an unsigned
    index: a loop passing its bare index compiled each task function twice (int64 and
    uint64). The loops pass ``np.int64(task)``."""
    rng = np.random.default_rng(0)
    for dt in (np.float32, np.float64):
        x = rng.random((2, 3, 9, 9)).astype(dt)
        w = rng.random((5, 3, 3, 3)).astype(dt)
        y = C.conv2d_forward(x, w, 1, 1, 1, 1, False)            # direct path
        C.conv2d_grad_filters(x, y, 3, 3, 1, 1, 1, 1, False)
        C.conv2d_grad_input(y, w, 9, 9, 1, 1, 1, 1, False)
        C.conv2d_forward(x, w, 0, 0, 2, 2, True)                 # im2col + GEMM path
        C.conv2d_grad_input(C.conv2d_forward(x, w, 0, 0, 2, 2, True), w, 9, 9, 0, 0, 2, 2,
                            True)
    for fn in (C._shifted_task, C._direct_corr_task, C._direct_gw_task, C._im2col_task,
               C._col2im_task):
        sigs = fn.signatures
        assert sigs, fn.py_func.__name__
        assert all(sig[0] == types.int64 for sig in sigs), (fn.py_func.__name__, sigs)


def test_pool_planes_in_blocks_match_one_plane_at_a_time():
    """Blocks of planes per thread give what each plane's loop gives alone, for plane
    counts that do not divide by the thread count."""
    rng = np.random.default_rng(1)
    for planes in (1, 3, 5, 7):
        x = rng.random((planes, 1, 6, 6)).astype(np.float32)
        out = P.pool2d_forward(x, 2, 2, 2, 2, 0, 0, True, 0)
        g = rng.random(out.shape).astype(np.float32)
        gx = P.pool2d_backward(x, out, g, 2, 2, 2, 2, 0, 0, True, 0)
        for n in range(planes):
            o1 = P.pool2d_forward(x[n:n + 1], 2, 2, 2, 2, 0, 0, True, 0)
            assert np.array_equal(out[n:n + 1], o1)
            g1 = P.pool2d_backward(x[n:n + 1], o1, g[n:n + 1], 2, 2, 2, 2, 0, 0, True, 0)
            assert np.array_equal(gx[n:n + 1], g1)


def test_parallel_loops_run_their_tasks_without_parfors():
    """On the private path each parallel loop is a ``numba_compat.launch`` intrinsic: the
    tasks are compiled once, serially, and reached through Numba's threading layer; the
    kernel has no parfor (``tests/numba_compat/test_launch.py`` reads the IR). The public
    path (an unchecked Numba version) makes each loop a ``prange`` function: the same
    tasks, slower compiles."""
    from numba.extending import is_jitted

    from symgraph.kernels.cpu import gemm as G
    from symgraph.kernels.cpu import softmax as S

    internals = numba_internals()
    for launcher in (P._pool_tasks, P._unpool_tasks, C._shifted_tasks, C._direct_corr_tasks,
                     C._direct_gw_tasks, C._im2col_tasks, C._col2im_tasks, G._product_tasks,
                     S._softmax_rows, S._nll_rows):
        assert is_jitted(launcher) != internals
