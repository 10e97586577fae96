"""Generated grid-stride elementwise kernels."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numba import cuda
from symgraph.kernels.cuda.elemwise import elemwise, launch_elemwise, make_elemwise_kernel


@cuda.jit(device=True)
def _sigmoid(x):
    return 1 / (1 + math.exp(-x))


@cuda.jit(device=True)
def _axpy_and_diff(a, x, y):
    return a * x + y, x - y


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_input_one_output(rng, dtype):
    x = rng.standard_normal((3, 5)).astype(dtype)
    (d_out,) = elemwise(_sigmoid, [cuda.to_device(x)], [dtype])
    out = d_out.copy_to_host()
    assert out.shape == (3, 5) and out.dtype == dtype
    np.testing.assert_allclose(out, 1 / (1 + np.exp(-x)), rtol=1e-6)


def test_scalar_input_and_two_outputs(rng):
    x = rng.standard_normal(37).astype(np.float32)
    y = rng.standard_normal(37).astype(np.float32)
    k = make_elemwise_kernel(3, 2, _axpy_and_diff, scalar_inputs=(0,))
    assert make_elemwise_kernel(3, 2, _axpy_and_diff, scalar_inputs=[0]) is k  # cached
    o1 = cuda.device_array(37, np.float32)
    o2 = cuda.device_array(37, np.float32)
    launch_elemwise(k, [np.float32(2.5), cuda.to_device(x), cuda.to_device(y)], [o1, o2])
    np.testing.assert_allclose(o1.copy_to_host(), 2.5 * x + y, rtol=1e-6)
    np.testing.assert_allclose(o2.copy_to_host(), x - y, rtol=1e-6)


def test_shapes_are_flattened_and_checked(rng):
    x = rng.standard_normal((2, 3, 4))
    k = make_elemwise_kernel(1, 1, _sigmoid)
    out = cuda.device_array(24)
    launch_elemwise(k, [cuda.to_device(x)], [out])  # (2,3,4) in, flat out: same size is enough
    np.testing.assert_allclose(out.copy_to_host(), 1 / (1 + np.exp(-x.ravel())))
    with pytest.raises(ValueError, match="elements"):
        launch_elemwise(k, [cuda.to_device(x)], [cuda.device_array(5)])
    with pytest.raises(ValueError, match="takes 1 inputs"):
        launch_elemwise(k, [], [out])
    with pytest.raises(ValueError, match="out of range"):
        make_elemwise_kernel(1, 1, _sigmoid, scalar_inputs=(1,))
    empty = cuda.device_array((2, 0))
    launch_elemwise(k, [cuda.to_device(np.zeros((0, 3)))], [empty])  # no launch, no error
