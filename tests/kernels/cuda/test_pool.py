"""Pooling forward/backward against a transcription of Theano's Pool.perform."""

from __future__ import annotations

import numpy as np
import pytest
from numba import cuda
from symgraph.kernels.cuda.pool import (
    MODE_CODES,
    pool2d_backward,
    pool2d_forward,
    pool2d_output_shape,
    pool_mode,
)

from . import reference as ref

# (ws, stride, pad, ignore_border): overlapping, non-overlapping, partial windows, padding
CONFIGS = [
    ((2, 2), (2, 2), (0, 0), True),
    ((2, 2), (2, 2), (0, 0), False),  # 5x5 -> 3x3 with partial last row/col
    ((3, 3), (2, 2), (0, 0), False),  # stride < ws, partial windows
    ((3, 2), (1, 2), (0, 0), True),
    ((3, 3), (2, 2), (1, 1), True),  # padding
    ((2, 3), (2, 1), (1, 2), True),
]


def _check(x, ws, st, pad, ignore_border, mode):
    dtype = x.dtype
    args = (*ws, *st, *pad, ignore_border, mode)
    d_x = cuda.to_device(x)
    d_y = pool2d_forward(d_x, *args)
    y = d_y.copy_to_host()
    mode = pool_mode(mode)  # the reference takes int codes only
    np.testing.assert_allclose(
        y, ref.pool_forward(x, ws, st, pad, ignore_border, mode), **ref.tol(dtype)
    )
    g = np.random.default_rng(3).standard_normal(y.shape).astype(dtype)
    gx = pool2d_backward(d_x, d_y, cuda.to_device(g), *args).copy_to_host()
    np.testing.assert_allclose(
        gx, ref.pool_backward(x, g, ws, st, pad, ignore_border, mode), **ref.tol(dtype)
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", [0, 1, 2, 3])
def test_all_modes_all_configs(rng, dtype, mode):
    x = rng.standard_normal((1, 2, 5, 5)).astype(dtype)
    for ws, st, pad, ignore_border in CONFIGS:
        _check(x, ws, st, pad, ignore_border, mode)


@pytest.mark.parametrize("ignore_border", [True, False])
def test_mode_names_and_6x6(rng, ignore_border):
    x = rng.standard_normal((2, 1, 6, 6)).astype(np.float32)
    for name in MODE_CODES:
        _check(x, (2, 2), (2, 2), (0, 0), ignore_border, name)


def test_out_shape_matches_theano_formula():
    for size in range(1, 9):
        for ws in range(1, 4):
            for st in range(1, 4):
                for ib in (True, False):
                    pads = range(ws) if ib else (0,)
                    for pad in pads:
                        want = ref.pool_out_len(size, ws, st, pad, ib)
                        got = pool2d_output_shape(size, 4, ws, 1, st, 1, pad, 0, ib)
                        assert got[0] == want, (size, ws, st, pad, ib)


def test_max_gradient_goes_to_first_tie():
    x = np.ones((1, 1, 4, 4), np.float32)
    g = np.arange(1, 5, dtype=np.float32).reshape(1, 1, 2, 2)
    d_x = cuda.to_device(x)
    gx = pool2d_backward(d_x, None, cuda.to_device(g), 2, 2, 2, 2, 0, 0, True, "max")
    want = np.zeros((4, 4), np.float32)
    want[0, 0], want[0, 2], want[2, 0], want[2, 2] = 1, 2, 3, 4
    np.testing.assert_array_equal(gx.copy_to_host()[0, 0], want)


def test_max_propagates_nan():
    x = np.zeros((1, 1, 2, 4))
    x[0, 0, 1, 0] = np.nan
    y = pool2d_forward(cuda.to_device(x), 2, 2, 2, 2, 0, 0, True, 0).copy_to_host()
    assert np.isnan(y[0, 0, 0, 0]) and y[0, 0, 0, 1] == 0
    gx = pool2d_backward(
        cuda.to_device(x), None, cuda.to_device(np.ones((1, 1, 1, 2))), 2, 2, 2, 2, 0, 0, True, 0
    ).copy_to_host()
    assert gx[0, 0, 1, 0] == 1 and gx[0, 0, 0, 0] == 0 and gx.sum() == 2


def test_errors():
    d = cuda.to_device(np.zeros((1, 1, 4, 4), np.float32))
    with pytest.raises(ValueError, match="ignore_border=True"):
        pool2d_forward(d, 2, 2, 2, 2, 1, 1, False, 0)
    with pytest.raises(ValueError, match="smaller than the window"):
        pool2d_forward(d, 2, 2, 2, 2, 2, 0, True, 0)
    with pytest.raises(ValueError, match="unknown pool mode"):
        pool_mode("average")
    with pytest.raises(ValueError, match="4-d"):
        pool2d_forward(cuda.to_device(np.zeros((4, 4), np.float32)), 2, 2, 2, 2, 0, 0, True, 0)
    with pytest.raises(ValueError, match="gout shape"):
        pool2d_backward(d, None, d, 2, 2, 2, 2, 0, 0, True, 0)
    # window larger than the image with ignore_border=True: empty output, zero gradient
    y = pool2d_forward(d, 5, 5, 5, 5, 0, 0, True, 0)
    assert y.shape == (1, 1, 0, 0)
    gx = pool2d_backward(d, y, y, 5, 5, 5, 5, 0, 0, True, 0).copy_to_host()
    np.testing.assert_array_equal(gx, 0)


def test_mnist_pool_on_gpu(gpu_only, rng):
    x = rng.standard_normal((100, 20, 24, 24)).astype(np.float32)
    y = pool2d_forward(cuda.to_device(x), 2, 2, 2, 2, 0, 0, True, 0).copy_to_host()
    np.testing.assert_array_equal(y, x.reshape(100, 20, 12, 2, 12, 2).max(axis=(3, 5)))
