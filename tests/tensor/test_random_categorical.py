"""RandomStreams.multinomial and RandomStreams.choice (issue 21 item 2): numpy's
semantics (shapes, dtypes, with/without replacement), the same numbers on the py and
Numba backends, the right frequencies, clear errors."""
import numpy as np
import pytest

import symgraph as theano
import symgraph.tensor as T
from symgraph.tensor.shared_randomstreams import RandomStreams


@pytest.fixture(scope="module")
def draws():
    res = {}
    for mode in ("py", "numba"):
        s = RandomStreams(seed=3)
        outs = [s.multinomial(size=(4000,), n=4, pvals=[0.2, 0.3, 0.5]),
                s.multinomial(n=2, pvals=np.array([[1.0, 0.0], [0.0, 1.0]])),
                s.choice(size=(4000,), a=5, p=[0.1, 0.1, 0.2, 0.3, 0.3]),
                s.choice(size=(2, 3), a=6, replace=False),
                s.choice(size=(4000,), a=np.array([10.0, 20.0])),
                s.choice(),
                s.multinomial(size=(3, 2), n=1, pvals=[0.5, 0.5], dtype="int8")]
        f = theano.function([], outs, mode=mode)
        res[mode] = (f(), f())
    return res


def test_backends_agree_and_state_advances(draws):
    for a, b in zip(draws["py"][0] + draws["py"][1], draws["numba"][0] + draws["numba"][1]):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(draws["py"][0][0], draws["py"][1][0])


def test_multinomial(draws):
    m, m2, _, _, _, _, m8 = draws["py"][0]
    assert m.shape == (4000, 3) and m.dtype == np.int64 and (m.sum(axis=1) == 4).all()
    np.testing.assert_allclose(m.mean(axis=0) / 4, [0.2, 0.3, 0.5], atol=0.02)
    np.testing.assert_array_equal(m2, [[2, 0], [0, 2]])     # size=None: pvals' batch shape
    assert m8.shape == (3, 2, 2) and m8.dtype == np.int8 and (m8.sum(axis=-1) == 1).all()


def test_choice(draws):
    _, _, c, c2, c3, c4, _ = draws["py"][0]
    assert c.shape == (4000,) and c.dtype == np.int64
    np.testing.assert_allclose(np.bincount(c, minlength=5) / 4000, [0.1, 0.1, 0.2, 0.3, 0.3],
                               atol=0.025)
    assert c2.shape == (2, 3) and sorted(c2.ravel()) == list(range(6))   # no repeats
    assert set(np.unique(c3)) == {10.0, 20.0} and c3.dtype == np.float64
    assert c4.shape == () and 0 <= c4 < 2


def test_errors():
    s = RandomStreams(seed=1)
    with pytest.raises(TypeError, match="n must be an integer"):
        s.multinomial(n=1.5, pvals=[0.5, 0.5])
    with pytest.raises(ValueError, match="positive"):
        s.choice(size=2, a=0)
    with pytest.raises(TypeError, match="vector"):
        s.choice(size=2, a=3, p=np.ones((2, 2)))
    f = theano.function([], s.choice(size=(4,), a=3, replace=False), mode="py")
    with pytest.raises(ValueError, match="without replacement"):
        f()
    x = T.dvector()
    with pytest.raises(TypeError, match="symbolic"):
        s.choice(size=x.shape, a=3)
