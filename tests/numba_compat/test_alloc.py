"""Allocation intrinsics (``symgraph.numba_compat.alloc``): the same values, types and
aliasing as numpy's functions in Numba code, and no leaked or freed-too-early arrays."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from numba import njit

from symgraph.numba_compat import alloc, numba_internals


@njit
def _empties(n, m, x):
    return (alloc.empty(n, np.float32), alloc.empty((n, m), x.dtype),
            alloc.empty((n, m, 2), np.int64), alloc.empty((), np.float64))


@njit
def _zeros(n, m, x):
    return alloc.zeros(n, np.float32), alloc.zeros((n, m), x.dtype), alloc.zeros((), np.int64)


@njit
def _numpy_zeros(n, m, x):
    return np.zeros(n, np.float32), np.zeros((n, m), x.dtype), np.zeros((), np.int64)


def test_empty_shapes_and_dtypes():
    a, b, c, d = _empties(3, 4, np.ones(1, np.float64))
    assert (a.shape, a.dtype) == ((3,), np.float32)
    assert (b.shape, b.dtype) == ((3, 4), np.float64)
    assert (c.shape, c.dtype) == ((3, 4, 2), np.int64)
    assert (d.shape, d.dtype) == ((), np.float64)
    assert all(v.flags.c_contiguous and v.flags.writeable for v in (a, b, c, d))


def test_zeros_match_numpy():
    x = np.ones(1, np.float32)
    for n, m in ((0, 5), (3, 4), (17, 1)):
        got, want = _zeros(n, m, x), _numpy_zeros(n, m, x)
        for g, w in zip(got, want):
            assert g.dtype == w.dtype and g.shape == w.shape and np.array_equal(g, w)


def test_a_negative_size_is_refused_as_numpy_does():
    with pytest.raises(ValueError):
        _empties(-1, 2, np.ones(1))


@njit
def _huge(n, dt):
    return alloc.empty_hugepage((n, 3), dt), alloc.empty_hugepage(n, np.int8)


@njit
def _empty2(n, m):
    return alloc.empty((n, m), np.float64)


def test_a_size_beyond_the_address_space_is_refused_as_numpy_does():
    with pytest.raises(ValueError, match="too big"):
        _empty2(2 ** 40, 2 ** 40)   # the element count overflows
    with pytest.raises(ValueError, match="too big"):
        _empty2(2 ** 61, 1)         # only the byte count does


def _advised(a) -> bool | None:
    """Whether the kernel records ``MADV_HUGEPAGE`` (VmFlags ``hg``) for the mapping
    holding ``a``'s third page (the advice covers the whole pages inside the array); None
    where that cannot be read."""
    if not (os.path.exists("/proc/self/smaps")
            and os.path.exists("/sys/kernel/mm/transparent_hugepage")):
        return None
    addr = a.__array_interface__["data"][0] + 8192
    inside = False
    with open("/proc/self/smaps") as f:
        for line in f:
            head = line.split()
            if head and "-" in head[0] and ":" not in head[0]:
                lo, hi = (int(x, 16) for x in head[0].split("-"))
                inside = lo <= addr < hi
            elif head and head[0] == "VmFlags:" and inside:
                return "hg" in head[1:]
    return None


def test_empty_hugepage_any_size():
    """Below, at and above the huge-page threshold, odd sizes: the advice never fails
    the allocation, and the array is what ``empty`` gives; a large one is advised."""
    for n in (0, 1, 1000, alloc.HUGEPAGE_MIN_BYTES // 24, alloc.HUGEPAGE_MIN_BYTES + 3):
        a, b = _huge(n, np.float64)
        assert (a.shape, a.dtype, b.shape, b.dtype) == ((n, 3), np.float64, (n,), np.int8)
        assert a.flags.c_contiguous and b.flags.c_contiguous
        a[...] = 1.5
        b[...] = 7
        assert a.sum() == 4.5 * n and int(b.astype(np.int64).sum()) == 7 * n
        if a.nbytes >= alloc.HUGEPAGE_MIN_BYTES + 16384 and alloc.HUGEPAGE:
            assert _advised(a) in (True, None), "a large empty_hugepage was not advised"


@njit
def _contig(x):
    return alloc.ascontiguousarray(x), np.ascontiguousarray(x)


@njit
def _contig_of_any(x):
    a = x[:, :]            # typed with layout 'A'
    return alloc.ascontiguousarray(a), np.ascontiguousarray(a)


@pytest.mark.parametrize("make", [
    lambda b: b,                     # C: the array itself
    lambda b: b[:, ::2],             # A, not contiguous: a copy
    lambda b: np.asfortranarray(b),  # F: a copy
    lambda b: b[1:3],                # C rows of a C array
    lambda b: b[:, :1],              # A, one column: a copy
    lambda b: b.T[:1],               # a single row of a transposed array
])
def test_ascontiguousarray_matches_numba(make):
    x = make(np.arange(24.0).reshape(4, 6))
    for fn in (_contig, _contig_of_any):
        got, want = fn(x)
        assert got.dtype == want.dtype and np.array_equal(got, want)
        assert got.flags.c_contiguous and got.flags.writeable
        assert fn.nopython_signatures[-1].return_type.types[0] == \
            fn.nopython_signatures[-1].return_type.types[1]
        assert np.shares_memory(got, x) == np.shares_memory(want, x)


def test_a_contiguous_array_typed_any_is_returned_as_a_view():
    x = np.arange(12.0).reshape(3, 4)
    got, _ = _contig_of_any(x)
    assert np.shares_memory(got, x)
    got[0, 0] = -1.0
    assert x[0, 0] == -1.0


@pytest.mark.skipif(not numba_internals(), reason="the public path is numpy's functions")
def test_no_allocation_is_left_behind(tmp_path):
    """Run in a process with Numba's allocation statistics on: every array the
    intrinsics made or returned (views included) is freed once."""
    code = textwrap.dedent("""
        import gc
        import numpy as np
        from numba import njit
        from numba.core.runtime import rtsys
        from symgraph.numba_compat import alloc

        @njit
        def churn(x, n):
            s = 0.0
            for i in range(n):
                a = alloc.ascontiguousarray(x[:, :])
                b = alloc.ascontiguousarray(x[:, ::2])
                c = alloc.zeros((3, 4), x.dtype)
                d = alloc.empty(5, np.float32)
                s += a[0, 0] + b[0, 0] + c[0, 0] + d.size
            return alloc.ascontiguousarray(x), s

        x = np.ones((4, 6))
        churn(x, 1)
        before = rtsys.get_allocation_stats()
        for _ in range(3):
            kept, _ = churn(x, 100)
            del kept
        gc.collect()
        after = rtsys.get_allocation_stats()
        print(after.alloc - before.alloc, after.free - before.free,
              after.mi_alloc - before.mi_alloc, after.mi_free - before.mi_free)
    """)
    env = dict(os.environ, NUMBA_NRT_STATS="1", NUMBA_CACHE_DIR=str(tmp_path))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    alloc_n, free_n, mi_alloc, mi_free = map(int, r.stdout.split())
    assert alloc_n > 0 and alloc_n == free_n and mi_alloc == mi_free
