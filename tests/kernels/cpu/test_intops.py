"""``kernels.cpu.intops``: integer min/max emitted into the caller, Python's results."""
import numba
import numpy as np
import pytest
from numba.core.errors import TypingError

from symgraph.kernels.cpu.intops import imax, imin


@numba.njit
def _both(a, b):
    return imin(a, b), imax(a, b)


@numba.njit
def _mixed(a, b):
    # an int32, a literal and a uint8 next to int64 values
    return imin(np.int32(a), 3), imax(a, np.uint8(7)), imax(0, (a - b) // 2 + 1)


def test_same_as_python_min_max():
    rng = np.random.default_rng(0)
    vals = [0, 1, -1, 2 ** 62, -2 ** 62, 2 ** 63 - 1, -2 ** 63] + \
        [int(v) for v in rng.integers(-1000, 1000, 40)]
    for a in vals:
        for b in vals[:12]:
            assert _both(a, b) == (min(a, b), max(a, b)), (a, b)


def test_mixed_integer_types_and_literals():
    for a, b in ((5, -2), (-9, 4), (100, 100)):
        assert _mixed(a, b) == (min(a, 3), max(a, 7), max(0, (a - b) // 2 + 1))


def test_floats_are_refused():
    @numba.njit
    def f(x):
        return imax(x, 1)

    with pytest.raises(TypingError):
        f(1.5)
