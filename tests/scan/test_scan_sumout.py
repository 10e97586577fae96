"""``scan_push_out_sum``: a state that only accumulates reductions of stored per-step values
(a bias gradient ``sum_t dz_t.sum(0)``, a weight gradient ``sum_t x_t^T g_t``) becomes one
reduction / one product after the loop. Results must equal numpy loops and the
unoptimized graph, on both backends, for zero steps too, and gradients must still match
finite differences."""
from __future__ import annotations

import numpy as np
import pytest

import symgraph as theano
import symgraph.tensor as T
from symgraph.compile.mode import Mode
from symgraph.gradient import numeric_grad
from symgraph.graph.basic import toposort
from symgraph.scan_module import Scan

MODES = ("py", "numba")


def _scans(f):
    return [n.op for n in f.maker.fgraph.toposort() if isinstance(n.op, Scan)]


def _inner_types(op):
    return [type(n.op).__name__ for n in toposort(op.inner_outputs, op.inner_inputs)]


def _fired(f):
    return f.maker.fgraph.rewrite_log.applied.get("scan_push_out_sum", 0)


def _accumulating_rnn():
    """h_t = tanh(x_t W + h_{t-1}); three accumulators: sum_t x_t^T h_t (a product of a
    sequence row by a new state value), sum_t x_t.sum(0) (a reduction of a sequence row)
    and one with a term that must stay in the loop (exp(h_t).sum(), a value not stored,
    broadcast over the state) beside a movable one."""
    x = T.dtensor3("x")
    W = T.dmatrix("W")
    h0, a0, s0, e0 = T.dmatrix("h0"), T.dmatrix("a0"), T.dvector("s0"), T.dvector("e0")

    def step(xt, h, a, s, e, W):
        hn = T.tanh(T.dot(xt, W) + h)
        return [hn, a + T.dot(xt.T, hn), s + xt.sum(axis=0),
                e + T.exp(hn).sum() + xt.sum(axis=0)]

    (hs, acc, sums, mixed), _ = theano.scan(step, sequences=x,
                                            outputs_info=[h0, a0, s0, e0], non_sequences=W)
    return [x, W, h0, a0, s0, e0], (hs, acc, sums, mixed)


def _numpy_rnn(x, W, h0, a0, s0, e0):
    h, a, s, e = h0, a0.copy(), s0.copy(), e0.copy()
    hs = []
    for xt in x:
        h = np.tanh(xt @ W + h)
        hs.append(h)
        a = a + xt.T @ h
        s = s + xt.sum(0)
        e = e + np.exp(h).sum() + xt.sum(0)
    return np.array(hs).reshape((len(x),) + h0.shape), a, s, e


def _vals(steps, rng):
    return [rng.normal(size=(steps, 4, 3)), rng.normal(size=(3, 2)) * .5,
            rng.normal(size=(4, 2)), rng.normal(size=(3, 2)), rng.normal(size=3),
            rng.normal(size=3)]


@pytest.mark.parametrize("full_history", [True, False])
def test_accumulators_move_out_and_agree_with_numpy(full_history):
    ins, (hs, acc, sums, mixed) = _accumulating_rnn()
    outs = [acc[-1], sums[-1], mixed[-1]] + ([hs] if full_history else [hs[-1]])
    rng = np.random.default_rng(0)
    fns = {m: theano.function(ins, outs, mode=m) for m in MODES}
    ref = theano.function(ins, outs, mode=Mode("py", optimizer=None))
    for m, f in fns.items():
        assert _fired(f), m
        (op,) = _scans(f)
        # h and the mixed accumulator stay states; the other two went out of the loop
        assert len(op.state_taps) == 2, (m, op.state_taps)
        types = _inner_types(op)
        assert types.count("Dot") + types.count("Gemm") == 0, (m, types)  # x_t W moved too
        assert types.count("Reduce") == 1, (m, types)                     # exp(h).sum() stays
        if not full_history:
            assert op.n_nitsot >= 1  # h_t stored for the product outside
        for steps in (5, 1, 0):
            vals = _vals(steps, rng)
            want = _numpy_rnn(*vals)
            got = f(*vals)
            for k, (u, w) in enumerate(zip(got[:3], want[1:])):
                np.testing.assert_allclose(u, w, rtol=1e-10, atol=1e-12,
                                           err_msg=f"{m} output {k}, {steps} steps")
                assert u.shape == w.shape
            if steps:
                np.testing.assert_allclose(got[3], want[0] if full_history else want[0][-1],
                                           rtol=1e-10)
            if steps:  # (unoptimized, result[-1] of zero steps is an index error)
                for u, w in zip(got, ref(*vals)):
                    np.testing.assert_allclose(u, w, rtol=1e-10, atol=1e-12)


def test_full_history_of_an_accumulator_keeps_it_in_the_loop():
    """A state read beyond its last value is not a plain sum: the rewrite leaves it."""
    ins, (hs, acc, sums, mixed) = _accumulating_rnn()
    f = theano.function(ins, [acc, sums[-1]], mode="py")
    (op,) = _scans(f)
    assert len(op.state_taps) == 2  # h (read by acc) and acc; only the sum of x went out
    vals = _vals(3, np.random.default_rng(1))
    want = _numpy_rnn(*vals)
    np.testing.assert_allclose(f(*vals)[0][-1], want[1], rtol=1e-10)
    np.testing.assert_allclose(f(*vals)[1], want[2], rtol=1e-10)


def _lstm(x, W, U, b, nh):
    def step(xt, h, c, W, U, b):
        z = T.dot(xt, W) + T.dot(h, U) + b
        i, f = T.nnet.sigmoid(z[:, :nh]), T.nnet.sigmoid(z[:, nh:2 * nh])
        c = f * c + i * T.tanh(z[:, 3 * nh:])
        return [T.nnet.sigmoid(z[:, 2 * nh:3 * nh]) * T.tanh(c), c]

    h0 = T.zeros((x.shape[1], nh), dtype=x.dtype)
    (hs, _), _ = theano.scan(step, sequences=x, outputs_info=[h0, h0],
                             non_sequences=[W, U, b], name="lstm")
    return hs


def test_lstm_bias_gradient_is_summed_once_outside_the_backward_loop():
    """The backward loop of an LSTM no longer reduces the gate gradients over the batch
    at each step: the bias gradient is one reduction of the stored gate gradients. Values
    match finite differences on both backends, and zero steps give zero gradients of the
    right shapes."""
    nh = 3
    x, W, U, b = T.dtensor3("x"), T.dmatrix("W"), T.dmatrix("U"), T.dvector("b")
    hs = _lstm(x, W, U, b, nh)
    cost = (hs[-1] ** 2).sum()
    ins = [x, W, U, b]
    outs = [cost] + T.grad(cost, ins)
    rng = np.random.default_rng(3)
    vals = [rng.normal(size=(4, 2, 3)), rng.normal(size=(3, 4 * nh)) * .5,
            rng.normal(size=(nh, 4 * nh)) * .5, rng.normal(size=4 * nh) * .1]
    fcost = theano.function(ins, cost, mode=Mode("py", optimizer=None))
    nums = numeric_grad(fcost, [np.array(v, copy=True) for v in vals], 1e-6)
    for m in MODES:
        f = theano.function(ins, outs, mode=m)
        assert _fired(f), m
        bwd = [op for op in _scans(f) if op.name.startswith("grad")]
        assert len(bwd) == 1 and "Reduce" not in _inner_types(bwd[0]), m
        assert len(bwd[0].state_taps) == 2, m  # the carried dh, dc; no bias accumulator
        got = f(*vals)
        for k in range(4):
            np.testing.assert_allclose(got[1 + k], nums[k], rtol=1e-5, atol=1e-7,
                                       err_msg=f"{m}: gradient {k}")
    # zero steps (the cost over every step: the last step of none is an index error)
    cost = (hs ** 2).sum()
    fall = theano.function(ins, cost, mode="py")
    num_b = numeric_grad(lambda bv: fall(*vals[:3], bv), [np.array(vals[3], copy=True)],
                         1e-6)[0]
    for m in MODES:
        f = theano.function(ins, T.grad(cost, ins), mode=m)
        assert _fired(f), m
        empty = [np.zeros((0, 2, 3))] + vals[1:]
        got = f(*empty)
        np.testing.assert_allclose(f(*vals)[3], num_b, rtol=1e-5, atol=1e-7)
        for k in range(4):
            assert got[k].shape == empty[k].shape, (m, k)
            assert not got[k].any(), (m, k)


def test_reduction_of_a_value_not_stored_stays_in_the_loop():
    """Storing m_t only to reduce it later costs as much as reducing it in the loop: a sum
    of a value the scan does not keep stays inside."""
    x = T.dmatrix("x")
    h, _ = theano.scan(lambda xt, acc: acc + T.exp(xt * 2).sum(), sequences=x,
                       outputs_info=T.constant(0.))
    f = theano.function([x], h[-1], mode="py")
    assert not _fired(f)
    xv = np.arange(6.).reshape(3, 2) / 10
    np.testing.assert_allclose(f(xv), np.exp(xv * 2).sum(), rtol=1e-12)
