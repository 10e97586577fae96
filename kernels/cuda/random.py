"""Device random numbers from a fixed pool of xoroshiro128+ states.

``DeviceRandomState(seed, n_states)`` owns ``n_states`` generator states
(``numba.cuda.random``; state ``k`` is the seed's stream jumped ahead ``k * 2**64``
steps, so streams never overlap). Each fill launches exactly one thread per
state and walks the output with a grid-stride loop, so a fixed pool serves any
size, and element ``e`` is always the ``(e // n_states)``-th draw of state
``e % n_states``. Hence results depend only on ``(seed, n_states, call
sequence)`` -- not on the GPU model, the block size, or simulator vs device
(bit-identical for ``uniform``/``binomial``; ``normal`` goes through
``log``/``cos``, whose last bit may differ between libdevice and numpy).
States advance in place, so consecutive calls give fresh numbers.

Example::

    rng = DeviceRandomState(1234)
    d_u = rng.uniform((100, 10), low=-1.0, high=1.0, dtype="float32")
    d_mask = rng.binomial((100, 10), n=1, p=0.5, dtype="float32")   # dropout mask
"""

from __future__ import annotations

import functools
import math
import warnings
from typing import Any

import numpy as np
from numba import cuda

with warnings.catch_warnings():
    # Under the simulator numba.cuda.random jits its host helpers with deprecated flags.
    warnings.simplefilter("ignore")
    from numba.cuda.random import (
        create_xoroshiro128p_states,
        xoroshiro128p_next,
        xoroshiro128p_normal_float64,
        xoroshiro128p_uniform_float64,
    )

from .launch import DeviceArray, check_c_contiguous, check_out, device_empty, using_simulator

__all__ = ["DeviceRandomState", "default_n_states"]

_GPU_STATES = 1 << 16  # enough threads to fill a large GPU; ~1 MiB of state
_SIM_STATES = 64  # each is a Python thread under the simulator
_STATE_TPB = 64  # threads per block for fills; n_states need not be a multiple


def default_n_states() -> int:
    """States used when ``n_states`` is not given: 65536 on a GPU, 64 under the simulator.

    Pass ``n_states`` explicitly when numbers must match across the two.
    """
    return _SIM_STATES if using_simulator() else _GPU_STATES


# numba's float32 draws convert through float64; these stay in float32/integers,
# which matters on GPUs with slow double precision.
_SHIFT_24 = np.uint64(40)  # keep the top 24 bits: exactly representable in float32
_SHIFT_53 = np.uint64(11)  # keep the top 53 bits for integer Bernoulli thresholds
_ONE_U64 = np.uint64(1)
_F32_ULP = np.float32(2.0**-24)
_F32_MINUS_TWO = np.float32(-2.0)
_F32_TWO_PI = np.float32(2.0 * math.pi)


@cuda.jit(device=True, inline=True)
def _uniform_f32(states, i):
    """Uniform on [0, 1) in float32."""
    return np.float32(xoroshiro128p_next(states, i) >> _SHIFT_24) * _F32_ULP


@cuda.jit(device=True, inline=True)
def _normal_f32(states, i):
    """Standard normal in float32 by Box-Muller (one of the pair is dropped, as numba does)."""
    u1 = np.float32((xoroshiro128p_next(states, i) >> _SHIFT_24) + _ONE_U64) * _F32_ULP  # (0, 1]
    u2 = _uniform_f32(states, i)
    return math.sqrt(_F32_MINUS_TWO * math.log(u1)) * math.cos(_F32_TWO_PI * u2)


@functools.lru_cache(maxsize=None)
def _uniform_kernel(dtype: np.dtype):
    draw = _uniform_f32 if dtype == np.float32 else xoroshiro128p_uniform_float64

    @cuda.jit
    def kernel(states, out, low, span):
        gid = cuda.grid(1)
        n_states = states.shape[0]
        if gid < n_states:
            for e in range(gid, out.size, n_states):
                out[e] = low + span * draw(states, gid)

    return kernel


@functools.lru_cache(maxsize=None)
def _normal_kernel(dtype: np.dtype):
    draw = _normal_f32 if dtype == np.float32 else xoroshiro128p_normal_float64

    @cuda.jit
    def kernel(states, out, avg, std):
        gid = cuda.grid(1)
        n_states = states.shape[0]
        if gid < n_states:
            for e in range(gid, out.size, n_states):
                out[e] = avg + std * draw(states, gid)

    return kernel


@functools.lru_cache(maxsize=None)
def _binomial_kernel(dtype: np.dtype):
    one = dtype.type(1)
    zero = dtype.type(0)

    @cuda.jit
    def kernel(states, out, n_trials, threshold):
        # success iff the top 53 bits < threshold = p * 2**53: integer-only
        gid = cuda.grid(1)
        n_states = states.shape[0]
        if gid < n_states:
            for e in range(gid, out.size, n_states):
                count = zero
                for _ in range(n_trials):
                    if (xoroshiro128p_next(states, gid) >> _SHIFT_53) < threshold:
                        count += one
                out[e] = count

    return kernel


def _shape_tuple(shape: int | tuple[int, ...]) -> tuple[int, ...]:
    return (int(shape),) if np.isscalar(shape) else tuple(int(s) for s in shape)


class DeviceRandomState:
    """A seeded pool of device RNG states with numpy-like fill methods.

    ``uniform``/``normal`` support float32 and float64; ``binomial`` any
    numeric dtype. Each method returns a new C-contiguous device array of
    ``shape``, or fills and returns ``out`` (which then fixes shape and dtype).
    """

    def __init__(self, seed: int, n_states: int | None = None) -> None:
        self.n_states = default_n_states() if n_states is None else int(n_states)
        if self.n_states < 1:
            raise ValueError("n_states must be >= 1")
        self.seed(seed)

    def seed(self, seed: int) -> None:
        """Re-initialise every state from ``seed`` (same seed, same numbers)."""
        self._seed = int(seed)
        with warnings.catch_warnings():
            # The simulator runs the host-side init in object mode and warns about it.
            warnings.simplefilter("ignore")
            self.states = create_xoroshiro128p_states(self.n_states, seed=self._seed)

    def __repr__(self) -> str:
        return f"DeviceRandomState(seed={self._seed}, n_states={self.n_states})"

    def _target(self, shape: Any, dtype: Any, out: DeviceArray | None) -> DeviceArray:
        if out is not None:
            check_c_contiguous("out", out)
            if shape is not None or dtype is not None:
                want_shape = tuple(out.shape) if shape is None else _shape_tuple(shape)
                want_dtype = out.dtype if dtype is None else dtype
                check_out(out, want_shape, want_dtype)
            return out
        if shape is None:
            raise ValueError("give a shape or an out array")
        return device_empty(_shape_tuple(shape), np.float32 if dtype is None else dtype)

    def _fill(self, kernel: Any, out: DeviceArray, *params: Any) -> DeviceArray:
        if out.size:
            blocks = math.ceil(self.n_states / _STATE_TPB)
            kernel[blocks, _STATE_TPB](self.states, out.reshape(out.size), *params)
        return out

    @staticmethod
    def _float_dtype(out: DeviceArray) -> np.dtype:
        dt = np.dtype(out.dtype)
        if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise TypeError(f"uniform/normal need float32 or float64, got {dt}")
        return dt

    def uniform(
        self,
        shape: int | tuple[int, ...] | None = None,
        low: float = 0.0,
        high: float = 1.0,
        dtype: Any = None,
        out: DeviceArray | None = None,
    ) -> DeviceArray:
        """Uniform on ``[low, high)``; dtype defaults to float32."""
        out = self._target(shape, dtype, out)
        dt = self._float_dtype(out)
        return self._fill(_uniform_kernel(dt), out, dt.type(low), dt.type(high - low))

    def normal(
        self,
        shape: int | tuple[int, ...] | None = None,
        avg: float = 0.0,
        std: float = 1.0,
        dtype: Any = None,
        out: DeviceArray | None = None,
    ) -> DeviceArray:
        """Gaussian with mean ``avg`` and standard deviation ``std``; dtype defaults to float32."""
        out = self._target(shape, dtype, out)
        dt = self._float_dtype(out)
        return self._fill(_normal_kernel(dt), out, dt.type(avg), dt.type(std))

    def binomial(
        self,
        shape: int | tuple[int, ...] | None = None,
        n: int = 1,
        p: float = 0.5,
        dtype: Any = None,
        out: DeviceArray | None = None,
    ) -> DeviceArray:
        """Number of successes in ``n`` Bernoulli(``p``) trials; dtype defaults to int64.

        Costs ``n`` draws per element: meant for masks (``n=1``) and small ``n``.
        """
        if n < 0 or not 0.0 <= p <= 1.0:
            raise ValueError(f"need n >= 0 and 0 <= p <= 1, got n={n}, p={p}")
        out = self._target(shape, np.int64 if dtype is None and out is None else dtype, out)
        dt = np.dtype(out.dtype)
        threshold = np.uint64(int(p * 2.0**53))
        return self._fill(_binomial_kernel(dt), out, np.int64(n), threshold)
