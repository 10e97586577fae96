"""Single-axis and full reductions against numpy."""

from __future__ import annotations

import numpy as np
import pytest
from numba import cuda
from symgraph.kernels.cuda.reduce import OP_CODES, op_code, reduce_all, reduce_axis

from .reference import tol

NP_OPS = {"sum": np.sum, "max": np.max, "min": np.min, "argmax": np.argmax, "argmin": np.argmin}


def _check(got, want, op, dtype):
    assert got.shape == np.shape(want)
    if op.startswith("arg"):
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, want)
    else:
        assert got.dtype == dtype
        np.testing.assert_allclose(got, want, **tol(dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("strategy", ["block", "thread"])
def test_every_axis_every_op(rng, dtype, strategy):
    x = rng.standard_normal((3, 5, 4)).astype(dtype)
    x[1, 2, 3] = x[1, 0, 3]  # a tie along axis 1: first index must win
    d = cuda.to_device(x)
    for axis in (0, 1, 2, -1):
        for op, fn in NP_OPS.items():
            got = reduce_axis(d, axis, op, strategy=strategy).copy_to_host()
            _check(got, fn(x, axis=axis), op, dtype)


def test_auto_strategy_integer_codes_and_out(rng):
    x = rng.standard_normal((2, 70)).astype(np.float32)
    d = cuda.to_device(x)
    for op, code in OP_CODES.items():
        _check(reduce_axis(d, 1, code).copy_to_host(), NP_OPS[op](x, axis=1), op, np.float32)
    out = cuda.device_array(70, np.float32)
    assert reduce_axis(d, 0, "max", out=out) is out
    np.testing.assert_array_equal(out.copy_to_host(), x.max(axis=0))
    with pytest.raises(ValueError, match="shape"):
        reduce_axis(d, 1, "max", out=out)


def test_nan_propagates_and_argmax_finds_first_nan(rng):
    x = rng.standard_normal((2, 9))
    x[0, 4] = np.nan
    x[0, 6] = np.nan
    d = cuda.to_device(x)
    for op in ("max", "min", "argmax", "argmin"):
        got = reduce_axis(d, 1, op).copy_to_host()
        np.testing.assert_array_equal(got, NP_OPS[op](x, axis=1))
    assert reduce_all(d, "argmax").copy_to_host() == 4
    assert np.isnan(reduce_all(d, "max").copy_to_host())


def test_integer_inputs():
    x = np.array([[3, -7, 3, 2], [0, 9, 9, -1]], np.int64)
    d = cuda.to_device(x)
    np.testing.assert_array_equal(reduce_axis(d, 1, "sum").copy_to_host(), x.sum(1))
    np.testing.assert_array_equal(reduce_axis(d, 1, "min").copy_to_host(), x.min(1))
    np.testing.assert_array_equal(reduce_axis(d, 1, "argmax").copy_to_host(), [0, 1])
    x32 = np.array([5, 1, 7, 1], np.int32)
    assert reduce_all(cuda.to_device(x32), "argmin").copy_to_host() == 1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_full_reduction_two_passes(rng, dtype):
    x = rng.standard_normal((7, 11)).astype(dtype)  # 77 > one simulated block's threads
    x[3, 3] = x[5, 1] = x.max() + 1  # tie across blocks
    d = cuda.to_device(x)
    for op, fn in NP_OPS.items():
        got = reduce_all(d, op).copy_to_host()
        _check(got, fn(x), op, dtype)
    out = cuda.device_array((), np.int64)
    assert reduce_all(d, "argmax", out=out) is out
    assert out.copy_to_host() == 3 * 11 + 3


def test_empty_and_errors():
    d = cuda.to_device(np.zeros((3, 0), np.float32))
    np.testing.assert_array_equal(reduce_axis(d, 1, "sum").copy_to_host(), np.zeros(3))
    assert reduce_axis(d, 0, "max").shape == (0,)
    with pytest.raises(ValueError, match="empty"):
        reduce_axis(d, 1, "max")
    with pytest.raises(ValueError, match="empty"):
        reduce_all(d, "argmin")
    assert reduce_all(d, "sum").copy_to_host() == 0
    with pytest.raises(ValueError, match="out of range"):
        reduce_axis(d, 2, "sum")
    with pytest.raises(ValueError, match="unknown reduction"):
        op_code("mean")
    with pytest.raises(ValueError, match="unknown reduction"):
        op_code(7)
    with pytest.raises(ValueError, match="C-contiguous"):
        reduce_axis(cuda.to_device(np.zeros((4, 3)).T), 0, "sum")


def test_big_shapes_on_gpu(gpu_only, rng):
    x = rng.standard_normal((64, 3000, 33)).astype(np.float32)
    d = cuda.to_device(x)
    for axis in range(3):
        for op, fn in NP_OPS.items():
            got = reduce_axis(d, axis, op).copy_to_host()
            if op == "sum":  # float32 accumulation order differs from numpy's pairwise sum
                want = x.sum(axis=axis, dtype=np.float64)
                np.testing.assert_allclose(got, want, rtol=1e-4, atol=2e-3)
            else:
                _check(got, fn(x, axis=axis), op, np.float32)
    total = reduce_all(d, "sum").copy_to_host()
    np.testing.assert_allclose(total, x.sum(dtype=np.float64), rtol=1e-4, atol=0.5)
