"""Softmax family, its gradients and the fused softmax + NLL pair."""

from __future__ import annotations

import numpy as np
import pytest
from numba import cuda
from symgraph.kernels.cuda.softmax import (
    log_softmax,
    log_softmax_grad,
    softmax,
    softmax_grad,
    softmax_nll_backward,
    softmax_nll_forward,
)

from . import reference as ref


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_and_gradients(rng, dtype):
    x = rng.standard_normal((3, 10)).astype(dtype)
    gy = rng.standard_normal((3, 10)).astype(dtype)
    d_x, d_gy = cuda.to_device(x), cuda.to_device(gy)
    t = ref.tol(dtype)
    sm = ref.softmax(x)
    ls = ref.log_softmax(x)
    np.testing.assert_allclose(softmax(d_x).copy_to_host(), sm, **t)
    np.testing.assert_allclose(log_softmax(d_x).copy_to_host(), ls, **t)
    want_sm_grad = sm * (gy - (gy * sm).sum(axis=1, keepdims=True))
    got = softmax_grad(d_gy, cuda.to_device(sm)).copy_to_host()
    np.testing.assert_allclose(got, want_sm_grad, **t)
    want_ls_grad = gy - np.exp(ls) * gy.sum(axis=1, keepdims=True)
    got = log_softmax_grad(d_gy, cuda.to_device(ls)).copy_to_host()
    np.testing.assert_allclose(got, want_ls_grad, **t)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nll_pair(rng, dtype):
    x = rng.standard_normal((4, 10)).astype(dtype)
    y = np.array([3, 0, 9, 3], np.int32)
    gnll = rng.standard_normal(4).astype(dtype)
    d_nll, d_sm = softmax_nll_forward(cuda.to_device(x), cuda.to_device(y))
    t = ref.tol(dtype)
    np.testing.assert_allclose(d_nll.copy_to_host(), -ref.log_softmax(x)[np.arange(4), y], **t)
    np.testing.assert_allclose(d_sm.copy_to_host(), ref.softmax(x), **t)
    gx = softmax_nll_backward(cuda.to_device(gnll), d_sm, cuda.to_device(y)).copy_to_host()
    onehot = np.eye(10, dtype=dtype)[y]
    np.testing.assert_allclose(gx, gnll[:, None] * (ref.softmax(x) - onehot), **t)


def test_stability_with_huge_logits():
    x = np.array([[1000.0, 0.0, -1000.0], [-1e4, -1e4 + 1, -1e4 + 2]], np.float32)
    d_x = cuda.to_device(x)
    sm = softmax(d_x).copy_to_host()
    assert np.all(np.isfinite(sm))
    np.testing.assert_allclose(sm.sum(axis=1), 1, rtol=1e-6)
    ls = log_softmax(d_x).copy_to_host()
    np.testing.assert_allclose(ls[0], [0, -1000, -2000], rtol=1e-6)
    # nll of a class whose probability underflows to 0 is still finite and exact
    nll, _ = softmax_nll_forward(d_x, cuda.to_device(np.array([2, 0], np.int64)))
    np.testing.assert_allclose(nll.copy_to_host(), [2000, -ls[1, 0]], rtol=1e-5)


def test_in_place_long_rows_and_bad_targets(rng):
    x = rng.standard_normal((2, 37))  # longer than one simulated block: strided rows
    d = cuda.to_device(x)
    assert softmax(d, out=d) is d
    np.testing.assert_allclose(d.copy_to_host(), ref.softmax(x), rtol=1e-12)
    nll, _ = softmax_nll_forward(cuda.to_device(x), cuda.to_device(np.array([37, -1])))
    assert np.all(np.isnan(nll.copy_to_host()))
    with pytest.raises(TypeError, match="integers"):
        softmax_nll_forward(cuda.to_device(x), cuda.to_device(np.zeros(2)))
    with pytest.raises(ValueError, match="shape"):
        softmax_nll_forward(cuda.to_device(x), cuda.to_device(np.zeros(3, np.int64)))
    with pytest.raises(ValueError, match="2-d"):
        softmax(cuda.to_device(np.zeros(3)))
    assert softmax(cuda.to_device(np.zeros((0, 4)))).shape == (0, 4)
    nll, sm = softmax_nll_forward(
        cuda.to_device(np.zeros((2, 0))), cuda.to_device(np.zeros(2, int))
    )
    assert sm.shape == (2, 0) and np.all(np.isnan(nll.copy_to_host()))


def test_mnist_head_on_gpu(gpu_only, rng):
    x = rng.standard_normal((100, 10)).astype(np.float32)
    y = rng.integers(0, 10, 100)
    nll, sm = softmax_nll_forward(cuda.to_device(x), cuda.to_device(y))
    np.testing.assert_allclose(
        nll.copy_to_host(), -ref.log_softmax(x)[np.arange(100), y], rtol=1e-5, atol=1e-6
    )
