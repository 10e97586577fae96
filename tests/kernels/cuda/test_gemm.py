"""Tiled GEMM and GEMV against numpy, all transpose combinations."""

from __future__ import annotations

import numpy as np
import pytest
from numba import cuda
from symgraph.kernels.cuda.gemm import gemm, gemv

from .reference import tol


def _dev(a):
    return cuda.to_device(np.ascontiguousarray(a))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
def test_gemm_all_transposes(rng, dtype, trans_a, trans_b):
    m, k, n = 5, 7, 6  # none a multiple of the tile
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    c = rng.standard_normal((m, n)).astype(dtype)
    d_a = _dev(a.T if trans_a else a)
    d_b = _dev(b.T if trans_b else b)
    d_c = _dev(c)
    ret = gemm(d_a, d_b, d_c, alpha=0.5, beta=-2.0, trans_a=trans_a, trans_b=trans_b)
    assert ret is d_c
    np.testing.assert_allclose(d_c.copy_to_host(), 0.5 * a @ b - 2.0 * c, **tol(dtype))
    fresh = gemm(d_a, d_b, trans_a=trans_a, trans_b=trans_b).copy_to_host()
    assert fresh.dtype == dtype
    np.testing.assert_allclose(fresh, a @ b, **tol(dtype))


def test_gemm_tile16_and_beta_zero_ignores_garbage(rng):
    a = rng.standard_normal((18, 3)).astype(np.float32)
    b = rng.standard_normal((3, 17)).astype(np.float32)
    d_c = _dev(np.full((18, 17), np.nan, np.float32))
    gemm(_dev(a), _dev(b), d_c, beta=0.0, tile=16)
    np.testing.assert_allclose(d_c.copy_to_host(), a @ b, **tol(np.float32))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gemm_split_k(rng, dtype):
    a = rng.standard_normal((5, 19)).astype(dtype)  # 5 k-tiles of 4 on the simulator
    b = rng.standard_normal((19, 3)).astype(dtype)
    c = rng.standard_normal((5, 3)).astype(dtype)
    for split in (2, 3, 50):
        d_c = _dev(c)
        gemm(_dev(a.T), _dev(b), d_c, alpha=1.5, beta=0.5, trans_a=True, split_k=split, tile=4)
        np.testing.assert_allclose(d_c.copy_to_host(), 1.5 * a @ b + 0.5 * c, **tol(dtype))
        got = gemm(_dev(a), _dev(b), split_k=split, tile=4).copy_to_host()
        np.testing.assert_allclose(got, a @ b, **tol(dtype))


def test_gemm_degenerate_and_errors():
    d_c = _dev(np.ones((2, 3)))
    gemm(_dev(np.zeros((2, 0))), _dev(np.zeros((0, 3))), d_c, beta=3.0)  # K == 0
    np.testing.assert_array_equal(d_c.copy_to_host(), np.full((2, 3), 3.0))
    assert gemm(_dev(np.zeros((0, 4))), _dev(np.zeros((4, 2)))).shape == (0, 2)
    d_c = _dev(np.ones((2, 3)))
    gemm(_dev(np.zeros((2, 0))), _dev(np.zeros((0, 3))), d_c, beta=2.0, split_k=4)
    np.testing.assert_array_equal(d_c.copy_to_host(), np.full((2, 3), 2.0))
    with pytest.raises(ValueError, match="inner dimensions"):
        gemm(_dev(np.zeros((2, 3))), _dev(np.zeros((2, 3))))
    with pytest.raises(TypeError, match="dtypes differ"):
        gemm(_dev(np.zeros((2, 3))), _dev(np.zeros((3, 2), np.float32)))
    with pytest.raises(ValueError, match="shape"):
        gemm(_dev(np.zeros((2, 3))), _dev(np.zeros((3, 2))), _dev(np.zeros((3, 3))))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("trans_a", [False, True])
def test_gemv(rng, dtype, trans_a):
    a = rng.standard_normal((6, 9)).astype(dtype)
    op_a = a.T if trans_a else a
    x = rng.standard_normal(op_a.shape[1]).astype(dtype)
    y = rng.standard_normal(op_a.shape[0]).astype(dtype)
    got = gemv(_dev(a), _dev(x), trans_a=trans_a).copy_to_host()
    np.testing.assert_allclose(got, op_a @ x, **tol(dtype))
    d_y = _dev(y)
    assert gemv(_dev(a), _dev(x), d_y, alpha=2.0, beta=0.5, trans_a=trans_a) is d_y
    np.testing.assert_allclose(d_y.copy_to_host(), 2 * op_a @ x + 0.5 * y, **tol(dtype))
    with pytest.raises(ValueError, match="elements"):
        gemv(_dev(a), _dev(np.zeros(4, dtype)), trans_a=trans_a)


def test_gemm_big_on_gpu(gpu_only, rng):
    for m, k, n in [(100, 2880, 100), (10, 2880, 100), (257, 513, 129), (2880, 100, 100)]:
        a = rng.standard_normal((m, k)).astype(np.float32)
        b = rng.standard_normal((k, n)).astype(np.float32)
        got = gemm(_dev(a), _dev(b)).copy_to_host()
        np.testing.assert_allclose(got, a @ b, rtol=1e-3, atol=1e-3)
        got_t = gemm(_dev(a.T), _dev(b.T), trans_a=True, trans_b=True).copy_to_host()
        np.testing.assert_allclose(got_t, a @ b, rtol=1e-3, atol=1e-3)
