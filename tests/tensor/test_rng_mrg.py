"""theano.sandbox.rng_mrg.MRG_RandomStreams (issue 21 item 2): the same seed gives
Theano's numbers.

Checked three ways: (1) against an independent reference written here from the
published algorithm (L'Ecuyer & Touzin 2000's MRG31k3p recurrences in exact integer
arithmetic, and the 2^72 / 2^134 jump matrices recomputed by repeated squaring), bit for
bit, on the py and Numba backends; (2) against the first samples of L'Ecuyer's Java
implementation (seed 12345, from Theano's test data ``samples_MRG31k3p_12_7_5.txt``);
(3) normal/binomial/multinomial/choice against numpy transcriptions of Theano's formulas
applied to the reference uniforms.
"""
import numpy as np
import pytest

import symgraph as theano
import symgraph.tensor as T
from symgraph.sandbox import rng_mrg
from symgraph.sandbox.rng_mrg import MRG_RandomStreams

M1, M2 = 2 ** 31 - 1, 2 ** 31 - 21069
A1 = [[0, 2 ** 22, 2 ** 7 + 1], [1, 0, 0], [0, 1, 0]]          # x1[n] = a12 x1[n-2] + a13 x1[n-3]
A2 = [[2 ** 15, 0, 2 ** 15 + 1], [1, 0, 0], [0, 1, 0]]         # x2[n] = a21 x2[n-1] + a23 x2[n-3]


# ------------------------------------------------------------ reference generator

def _matmul(a, b, m):
    return [[sum(a[i][k] * b[k][j] for k in range(3)) % m for j in range(3)] for i in range(3)]


def _matpow2(a, e, m):
    """a ** (2 ** e) mod m by repeated squaring."""
    for _ in range(e):
        a = _matmul(a, a, m)
    return a


def _apply(a, v, m):
    return [sum(a[i][k] * v[k] for k in range(3)) % m for i in range(3)]


class RefStream:
    """One MRG31k3p stream, state (x1[n-1], x1[n-2], x1[n-3], x2[n-1], x2[n-2], x2[n-3])."""

    def __init__(self, state):
        self.s = [int(v) for v in state]

    def next(self, dtype):
        s = self.s
        x1 = (A1[0][1] * s[1] + A1[0][2] * s[2]) % M1
        x2 = (A2[0][0] * s[3] + A2[0][2] * s[5]) % M2
        self.s = [x1, s[0], s[1], x2, s[3], s[4]]
        z = x1 - x2 + M1 if x1 <= x2 else x1 - x2
        if dtype == "float32":
            return np.float32(z) * np.float32(4.6566126e-10)
        return z * 2.0 ** -31


def ref_states(seed_state, n_streams, jump72):
    out = [list(seed_state)]
    for _ in range(1, n_streams):
        v = out[-1]
        out.append(_apply(jump72[0], v[:3], M1) + _apply(jump72[1], v[3:], M2))
    return out


JUMP72 = (_matpow2(A1, 72, M1), _matpow2(A2, 72, M2))
JUMP134 = (_matpow2(A1, 134, M1), _matpow2(A2, 134, M2))


class RefMRG:
    """Theano's MRG_RandomStreams bookkeeping on top of RefStream."""

    def __init__(self, seed):
        self.state = [seed] * 6

    def draw(self, n_streams):
        streams = [RefStream(s) for s in ref_states(self.state, n_streams, JUMP72)]
        v = self.state
        self.state = _apply(JUMP134[0], v[:3], M1) + _apply(JUMP134[1], v[3:], M2)
        return streams


def ref_sample(streams, n, dtype):
    return np.array([streams[i % len(streams)].next(dtype) for i in range(n)], dtype=dtype)


# -------------------------------------------------------------------------- tests

def test_jump_matrices_are_the_published_recurrence_powers():
    np.testing.assert_array_equal(rng_mrg.A1P72, JUMP72[0])
    np.testing.assert_array_equal(rng_mrg.A2P72, JUMP72[1])
    np.testing.assert_array_equal(rng_mrg.A1P134, JUMP134[0])
    np.testing.assert_array_equal(rng_mrg.A2P134, JUMP134[1])


@pytest.mark.parametrize("mode", ["py", "numba"])
def test_uniform_bit_exact(mode):
    for dtype in ("float64", "float32"):
        srng = MRG_RandomStreams(seed=234)
        ref = RefMRG(234)
        u = srng.uniform(size=(5, 8), dtype=dtype)          # 40 // 6 = 6 streams
        v = srng.uniform(size=(3,), low=-2.0, high=3.0, dtype=dtype, nstreams=2)
        f = theano.function([], [u, v], mode=mode)
        s_u, s_v = ref.draw(6), ref.draw(2)
        for _ in range(2):      # the state advances between calls
            got_u, got_v = f()
            want_u = ref_sample(s_u, 40, dtype).reshape(5, 8)
            want_v = ref_sample(s_v, 3, dtype) * np.asarray(5.0, dtype) + np.asarray(-2, dtype)
            assert got_u.dtype == dtype
            np.testing.assert_array_equal(got_u, want_u)
            np.testing.assert_allclose(got_v, want_v, rtol=1e-6)
            assert ((got_u > 0) & (got_u < 1)).all()


def test_matches_lecuyer_java_samples():
    # L'Ecuyer's Java implementation, seed 12345: stream 0 then stream 1, 7 substreams,
    # 5 samples each (Theano's samples_MRG31k3p_12_7_5.txt, first values)
    java_s0 = [0.7353244530968368, 0.6142074400559068, 0.11007806099951267,
               0.6487741703167558, 0.36619443260133266, 0.2585685825906694, 0.9489980279468,
               0.4309556516818702, 0.12257590936496854, 0.9760319022461772]
    java_s1 = [0.5180770065635443, 0.2319392478093505, 0.36197659047320485,
               0.11120751267299056, 0.5018561617471278]
    rng = MRG_RandomStreams(seed=12345)
    got = []
    for _ in range(2):
        u = rng.uniform(size=(7,), nstreams=7, dtype="float64")
        f = theano.function([], u, mode="py")
        got.append(np.array([f() for _ in range(5)]).T.flatten())
    np.testing.assert_allclose(got[0][:10], java_s0, rtol=1e-12)
    np.testing.assert_allclose(got[1][:5], java_s1, rtol=1e-12)


def _box_muller(unif, n, dtype):
    half = len(unif) // 2
    r = np.sqrt(-2.0 * np.log(unif[:half]))
    th = np.asarray(2 * np.pi, dtype) * unif[half:]
    return np.concatenate([r * np.cos(th), r * np.sin(th)])[:n].astype(dtype)


def test_normal_binomial_multinomial_choice():
    pv = np.array([[0.1, 0.2, 0.7], [0.5, 0.25, 0.25]])
    outs = {}
    for mode in ("py", "numba"):
        srng = MRG_RandomStreams(seed=77)
        z = srng.normal(size=(3, 5), avg=1.0, std=2.0, dtype="float64")      # 15360 streams
        b = srng.binomial(size=(4, 3), p=0.3, dtype="int8")
        m = srng.multinomial(pvals=pv, n=3)
        c = srng.choice(size=2, p=pv, replace=False)
        outs[mode] = theano.function([], [z, b, m, c], mode=mode)()
    for a, bb in zip(outs["py"], outs["numba"]):
        assert a.dtype == bb.dtype
        np.testing.assert_allclose(a, bb, rtol=1e-12)
    z, b, m, c = outs["py"]
    ref = RefMRG(77)
    unif = ref_sample(ref.draw(rng_mrg.MAX_STREAMS), 16, "float64")
    np.testing.assert_allclose(z, 1.0 + 2.0 * _box_muller(unif, 15, "float64").reshape(3, 5),
                               rtol=1e-12)
    ub = ref_sample(ref.draw(2), 12, "float64")        # 12 // 6 = 2 streams
    np.testing.assert_array_equal(b, (ub < 0.3).astype("int8").reshape(4, 3))
    um = ref_sample(ref.draw(rng_mrg.MAX_STREAMS), 6, "float64")
    want = np.zeros((2, 3), "int64")
    for k, u in enumerate(um):
        want[k % 2, np.searchsorted(np.cumsum(pv[k % 2]), u, side="right")] += 1
    np.testing.assert_array_equal(m, want)
    assert (m.sum(axis=1) == 3).all()
    uc = ref_sample(ref.draw(rng_mrg.MAX_STREAMS), 4, "float64")
    p = pv.copy()
    want_c = np.zeros((2, 2), "int64")
    for k, u in enumerate(uc):
        r = k % 2
        m_ = int(np.searchsorted(np.cumsum(p[r]), u, side="right"))
        want_c[r, k // 2] = m_
        p[r, m_] = 0
        p[r] /= p[r].sum()
    np.testing.assert_array_equal(c, want_c)
    assert c[0, 0] != c[0, 1] and c[1, 0] != c[1, 1]


def test_float32_normal_and_seed():
    srng = MRG_RandomStreams(seed=5)
    z = srng.normal(size=(64,), dtype="float32", nstreams=8)
    tz = srng.truncated_normal(size=(50,), dtype="float32", nstreams=8)
    f = theano.function([], [z, tz])
    a, t = f()
    assert a.dtype == np.float32 and abs(a.mean()) < 0.5 and 0.6 < a.std() < 1.4
    assert np.abs(t).max() <= 2 / 0.87962566103423978 + 1e-5
    srng.seed(5)           # restarts every variable's streams
    np.testing.assert_array_equal(f()[0], a)


def test_errors_and_symbolic_size():
    with pytest.raises(ValueError, match="not be 0"):
        MRG_RandomStreams(seed=0)
    with pytest.raises(ValueError, match="seed"):
        MRG_RandomStreams(seed=M2)
    with pytest.raises(TypeError, match="6 integers"):
        MRG_RandomStreams(seed=(1, 2))
    srng = MRG_RandomStreams()
    with pytest.raises(ValueError, match="<= 0"):
        srng.uniform(size=(2, 0))
    with pytest.raises(NotImplementedError, match="replace"):
        srng.choice(size=1, p=np.ones((1, 2)) / 2)
    with pytest.raises(ValueError, match="size"):
        srng.multinomial(size=(2,), pvals=np.ones((1, 2)) / 2)
    x = T.dmatrix("x")
    u = srng.uniform(size=x.shape, dtype="float64")   # symbolic size: 15360 streams
    assert u.rstate.get_value().shape == (rng_mrg.MAX_STREAMS, 6)
    assert theano.function([x], u, mode="py")(np.zeros((2, 3))).shape == (2, 3)
