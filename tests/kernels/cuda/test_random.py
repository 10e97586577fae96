"""Device RNG: reproducibility, the element-to-state contract, rough statistics."""

from __future__ import annotations

import numpy as np
import pytest
from symgraph.kernels.cuda.random import DeviceRandomState

# The simulator runs xoroshiro's wrapping uint64 arithmetic on numpy scalars.
pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")


def test_same_seed_same_numbers_and_states_advance():
    a = DeviceRandomState(42, n_states=16)
    b = DeviceRandomState(42, n_states=16)
    first = a.uniform((3, 7), dtype=np.float64).copy_to_host()
    np.testing.assert_array_equal(first, b.uniform((3, 7), dtype=np.float64).copy_to_host())
    second = a.uniform((3, 7), dtype=np.float64).copy_to_host()
    assert not np.array_equal(first, second)
    c = DeviceRandomState(43, n_states=16)
    assert not np.array_equal(first, c.uniform((3, 7), dtype=np.float64).copy_to_host())
    a.seed(42)
    np.testing.assert_array_equal(first, a.uniform((3, 7), dtype=np.float64).copy_to_host())


def test_element_to_state_contract():
    """Element e is draw e // n_states of state e % n_states, whatever the launch."""
    a = DeviceRandomState(7, n_states=4)
    b = DeviceRandomState(7, n_states=4)
    whole = a.normal(10, dtype=np.float32).copy_to_host()
    part1 = b.normal(4, dtype=np.float32).copy_to_host()  # draw 0 of states 0..3
    part2 = b.normal(6, dtype=np.float32).copy_to_host()  # draw 1 of 0..3, draw 2 of 0..1
    np.testing.assert_array_equal(whole[:4], part1)
    np.testing.assert_array_equal(whole[4:8], part2[:4])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_uniform_and_normal_statistics(dtype):
    rng = DeviceRandomState(0, n_states=32)
    u = rng.uniform(1200, low=-2.0, high=3.0, dtype=dtype).copy_to_host()
    assert u.dtype == dtype and u.shape == (1200,)
    assert u.min() >= -2.0 and u.max() < 3.0
    assert abs(u.mean() - 0.5) < 0.25
    z = rng.normal((30, 40), avg=1.0, std=2.0, dtype=dtype).copy_to_host()
    assert z.dtype == dtype and z.shape == (30, 40)
    assert abs(z.mean() - 1.0) < 0.2 and abs(z.std() - 2.0) < 0.2


def test_binomial_and_out():
    rng = DeviceRandomState(5, n_states=32)
    k = rng.binomial((20, 30), n=3, p=0.25).copy_to_host()
    assert k.dtype == np.int64 and k.min() >= 0 and k.max() <= 3
    assert abs(k.mean() - 0.75) < 0.15
    mask = rng.binomial(600, n=1, p=0.8, dtype=np.float32).copy_to_host()
    assert mask.dtype == np.float32 and set(np.unique(mask)) <= {0.0, 1.0}
    assert abs(mask.mean() - 0.8) < 0.08
    assert rng.binomial(50, n=4, p=0.0).copy_to_host().max() == 0
    assert rng.binomial(50, n=4, p=1.0).copy_to_host().min() == 4
    from numba import cuda

    out = cuda.device_array((5, 5), np.float64)
    assert rng.uniform(out=out) is out
    assert rng.normal(out=out) is out
    with pytest.raises(ValueError, match="shape"):
        rng.uniform((4, 4), out=out)
    with pytest.raises(TypeError, match="float32 or float64"):
        rng.uniform(3, dtype=np.int32)
    with pytest.raises(ValueError, match="0 <= p <= 1"):
        rng.binomial(3, p=1.5)
    assert rng.uniform(0).shape == (0,)


def test_default_pool_on_gpu(gpu_only):
    rng = DeviceRandomState(1)
    assert rng.n_states == 1 << 16
    u = rng.uniform(10**6).copy_to_host()
    assert abs(u.mean() - 0.5) < 0.01
