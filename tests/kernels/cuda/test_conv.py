"""Convolution forward and gradients against numpy, Theano's flip convention."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from numba import cuda
from symgraph.kernels.cuda.conv import (
    conv2d_forward,
    conv2d_grad_filters,
    conv2d_grad_input,
    conv2d_output_shape,
)

from . import reference as ref


def _run_all(x, w, gout_seed, ph, pw, sh, sw, flip):
    dtype = x.dtype
    d_x, d_w = cuda.to_device(x), cuda.to_device(w)
    y = conv2d_forward(d_x, d_w, ph, pw, sh, sw, flip).copy_to_host()
    np.testing.assert_allclose(y, ref.conv_forward(x, w, ph, pw, sh, sw, flip), **ref.tol(dtype))
    g = np.random.default_rng(gout_seed).standard_normal(y.shape).astype(dtype)
    d_g = cuda.to_device(g)
    h, wd = x.shape[2:]
    kh, kw = w.shape[2:]
    gx = conv2d_grad_input(d_g, d_w, h, wd, ph, pw, sh, sw, flip).copy_to_host()
    gw = conv2d_grad_filters(d_x, d_g, kh, kw, ph, pw, sh, sw, flip).copy_to_host()
    gx_ref, gw_ref = ref.conv_grads(x, w, g, ph, pw, sh, sw, flip)
    np.testing.assert_allclose(gx, gx_ref, **ref.tol(dtype))
    np.testing.assert_allclose(gw, gw_ref, **ref.tol(dtype))
    # adjointness, from device results only: <g, conv(x, w)> = <gx, x> = <gw, w>
    inner = float(np.vdot(g.astype(np.float64), y))
    rtol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(float(np.vdot(gx.astype(np.float64), x)), inner, rtol=rtol)
    np.testing.assert_allclose(float(np.vdot(gw.astype(np.float64), w)), inner, rtol=rtol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("flip", [True, False])
def test_square_configs(rng, dtype, flip):
    """batch 2, 2 channels, 3 filters, 6x6 images, 3x3 filters; strides 1/2, pads 0/1."""
    x = rng.standard_normal((2, 2, 6, 6)).astype(dtype)
    w = rng.standard_normal((3, 2, 3, 3)).astype(dtype)
    for stride, pad in itertools.product((1, 2), (0, 1)):
        _run_all(x, w, stride * 10 + pad, pad, pad, stride, stride, flip)


@pytest.mark.parametrize("flip", [True, False])
def test_asymmetric_single_channel(rng, flip):
    x = rng.standard_normal((2, 1, 5, 7)).astype(np.float32)
    w = rng.standard_normal((2, 1, 2, 3)).astype(np.float32)
    _run_all(x, w, 7, 1, 0, 1, 2, flip)
    _run_all(x, w, 8, 0, 2, 2, 3, flip)  # stride leaves the last input column unread


def test_flip_is_true_convolution():
    """A 1-hot filter at (0, 0) shifts by (0, 0) when correlating, by (KH-1, KW-1) when flipped."""
    x = np.arange(25, dtype=np.float64).reshape(1, 1, 5, 5)
    w = np.zeros((1, 1, 3, 3))
    w[0, 0, 0, 0] = 1
    corr = conv2d_forward(cuda.to_device(x), cuda.to_device(w), 0, 0, 1, 1, False)
    conv = conv2d_forward(cuda.to_device(x), cuda.to_device(w), 0, 0, 1, 1, True)
    np.testing.assert_array_equal(corr.copy_to_host()[0, 0], x[0, 0, :3, :3])
    np.testing.assert_array_equal(conv.copy_to_host()[0, 0], x[0, 0, 2:, 2:])


def test_shapes_and_errors():
    assert conv2d_output_shape(28, 28, 5, 5, 0, 0, 1, 1) == (24, 24)
    assert conv2d_output_shape(6, 6, 3, 3, 1, 1, 2, 2) == (3, 3)
    with pytest.raises(ValueError, match="larger than padded"):
        conv2d_output_shape(2, 2, 3, 3, 0, 0, 1, 1)
    with pytest.raises(ValueError, match="strides"):
        conv2d_output_shape(6, 6, 3, 3, 0, 0, 0, 1)
    x = cuda.to_device(np.zeros((1, 2, 6, 6), np.float32))
    with pytest.raises(ValueError, match="channels"):
        conv2d_forward(x, cuda.to_device(np.zeros((1, 3, 3, 3), np.float32)), 0, 0, 1, 1, True)
    with pytest.raises(TypeError, match="dtypes differ"):
        conv2d_forward(x, cuda.to_device(np.zeros((1, 2, 3, 3))), 0, 0, 1, 1, True)
    g = cuda.to_device(np.zeros((1, 1, 4, 4), np.float32))
    w = cuda.to_device(np.zeros((1, 2, 3, 3), np.float32))
    with pytest.raises(ValueError, match="does not match"):
        conv2d_grad_input(g, w, 7, 7, 0, 0, 1, 1, True)
    out = cuda.device_array((1, 1, 4, 4), np.float32)
    assert conv2d_forward(x, w, 0, 0, 1, 1, True, out=out) is out


def test_mnist_layer_on_gpu(gpu_only, rng):
    x = rng.standard_normal((100, 1, 28, 28)).astype(np.float32)
    w = rng.standard_normal((20, 1, 5, 5)).astype(np.float32)
    y = conv2d_forward(cuda.to_device(x), cuda.to_device(w), 0, 0, 1, 1, True).copy_to_host()
    np.testing.assert_allclose(y, ref.conv_forward(x, w, 0, 0, 1, 1, True), rtol=1e-4, atol=1e-4)
