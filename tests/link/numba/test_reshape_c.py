"""``helpers.reshape_c``: the reshape of generated kernels (products, reductions, pooling,
random draws, sorts), a C-ordered view built as a few IR instructions instead of Numba's
``reshape`` lowering (which compiles a helper once per process)."""
from __future__ import annotations

import gc

import numba
import numpy as np
import pytest

from symgraph.link.numba.helpers import reshape_c


@numba.njit
def _fresh_view(n, shape):
    """A view of an array made here: the view must keep its memory alive."""
    a = np.arange(n) * 1.5
    return reshape_c(a, shape)


@numba.njit
def _view(a, shape):
    return reshape_c(np.ascontiguousarray(a), shape)


@numba.njit
def _flat(a):
    return reshape_c(np.ascontiguousarray(a), a.size)


@pytest.mark.parametrize("src_shape, shape", [
    ((3, 4), (12,)), ((3, 4), (3, 4, 1)), ((3, 4), (1, 1, 3, 4)), ((2, 3, 4), (6, 4)),
    ((2, 3, 4), (2, 12)), ((0, 3), (3, 0)), ((5,), (5, 1)), ((1,), (1, 1, 1))])
def test_reshape_c_is_numpys_reshape_of_a_contiguous_array(src_shape, shape):
    a = np.arange(int(np.prod(src_shape)), dtype=np.float32).reshape(src_shape)
    out = _view(a, shape)
    ref = a.reshape(shape)
    assert out.shape == ref.shape and out.dtype == ref.dtype
    assert out.flags.c_contiguous
    assert np.array_equal(out, ref)
    if a.size:
        assert np.shares_memory(out, a)   # a view, not a copy
    assert np.array_equal(_flat(a), a.reshape(-1))


def test_a_non_contiguous_input_is_copied_first_as_by_ascontiguousarray():
    a = np.arange(24.0).reshape(4, 6)[:, ::2]
    out = _view(a, (12,))
    assert np.array_equal(out, np.ascontiguousarray(a).reshape(12))
    assert not np.shares_memory(out, a)


def test_a_returned_view_keeps_its_memory_alive():
    """The view holds a reference to the array's memory (a borrowed reference made an
    owned one), so returning it from the kernel that allocated the array is safe."""
    views = [_fresh_view(12, (3, 4)) for _ in range(20)]
    gc.collect()
    junk = [np.full(12, -7.0) for _ in range(50)]   # reuse any freed memory
    for v in views:
        assert np.array_equal(v, (np.arange(12) * 1.5).reshape(3, 4))
    del junk


def test_only_c_typed_arrays_and_integer_shapes_are_accepted():
    with pytest.raises(numba.core.errors.TypingError):
        numba.njit(lambda a: reshape_c(a, (2, 3)))(np.zeros((3, 2)).T)   # typed 'F'
    with pytest.raises(numba.core.errors.TypingError):
        numba.njit(lambda a: reshape_c(a, 2.0))(np.zeros(2))
