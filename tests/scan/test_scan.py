"""scan: Theano's scan tutorial (cumulative sum, power, polynomial, Fibonacci with taps,
random draws in the loop), map/reduce/foldl/foldr, until, go_backwards, zero-length
sequences, shared variables, an RNN and an LSTM against numpy loops, gradients (BPTT)
against finite differences, and the errors for bad inputs.

The Numba backend compiles the tutorial cases as one function (one compile) and is
compared with the py backend and with numpy; every other case runs on the py backend,
except the LSTM and its gradient, compiled once on both backends.
"""
from __future__ import annotations

import numpy as np
import pytest

import symgraph as theano
import symgraph.tensor as T
from symgraph.gradient import verify_grad
from symgraph.scan_module import ScanError, until
from symgraph.tensor.shared_randomstreams import RandomStreams

THIS_FILE = __file__


def _line_of(marker: str) -> int:
    with open(THIS_FILE) as f:
        for k, line in enumerate(f, 1):
            if marker in line and "_line_of" not in line:
                return k
    raise AssertionError(marker)


# ----------------------------------------------------------------- the tutorial, both backends
def _tutorial_graph(seed):
    """Every tutorial scan in one graph: inputs, outputs, updates."""
    s = T.dvector("s")
    A = T.dvector("A")
    k = T.iscalar("k")
    coefs = T.dvector("coefs")
    xs = T.dscalar("x")
    x0 = T.dvector("x0")
    n = T.iscalar("n")
    cums, _ = theano.scan(lambda v, acc: acc + v, sequences=s, outputs_info=T.constant(0.),
                          name="cumsum")
    power, upd_p = theano.scan(lambda prior, A: prior * A, outputs_info=T.ones_like(A),
                               non_sequences=A, n_steps=k)
    comps, _ = theano.scan(lambda c, p, x: c * (x ** p), outputs_info=None,
                           sequences=[coefs, T.arange(1000)], non_sequences=xs,
                           n_steps=coefs.shape[0])
    fib, _ = theano.scan(lambda a, b: a + b, outputs_info=dict(initial=x0, taps=[-2, -1]),
                         n_steps=n)
    second, _ = theano.scan(lambda a, b, c: a - 2 * b + c, sequences=dict(input=s, taps=[-1, 0, 1]))
    back, _ = theano.scan(lambda v, acc: acc * 10 + v, sequences=s, outputs_info=T.constant(0.),
                          go_backwards=True)
    doubling, _ = theano.scan(lambda p: [p * 2, until(p * 2 > 40)], outputs_info=T.constant(1.),
                              n_steps=100)
    srng = RandomStreams(seed=seed)
    walk, upd_r = theano.scan(lambda p: p + srng.uniform(()), outputs_info=T.constant(0.),
                              n_steps=4)
    upd = dict(upd_p)
    upd.update(upd_r)
    ins = [s, A, k, coefs, xs, x0, n]
    outs = [cums, power[-1], comps.sum(), fib, second, back, doubling, walk]
    return ins, outs, upd


@pytest.fixture(scope="module")
def tutorial():
    fns = {}
    for mode in ("py", "numba"):
        ins, outs, upd = _tutorial_graph(seed=7)
        fns[mode] = theano.function(ins, outs, updates=upd, mode=mode)
    return fns


ARGS = ([1., 2., 3., 5.], [1., 2., 3.], 3, [1., 0., 2.], 3., [0., 1.], 8)


def test_tutorial_against_numpy(tutorial):
    for mode, f in tutorial.items():
        cums, power, poly, fib, second, back, doubling, walk = f(*ARGS)
        np.testing.assert_allclose(cums, [1, 3, 6, 11], err_msg=mode)
        np.testing.assert_allclose(power, [1, 8, 27], err_msg=mode)
        assert poly == 1 + 2 * 9
        np.testing.assert_allclose(fib, [1, 2, 3, 5, 8, 13, 21, 34], err_msg=mode)
        np.testing.assert_allclose(second, np.diff([1., 2, 3, 5], 2), err_msg=mode)
        np.testing.assert_allclose(back, [5, 53, 532, 5321], err_msg=mode)
        np.testing.assert_allclose(doubling, [2, 4, 8, 16, 32, 64], err_msg=mode)
        assert walk.shape == (4,) and np.all(np.diff(walk) > 0) and np.all(np.diff(walk) < 1)


def test_tutorial_backends_agree_and_draws_are_fresh(tutorial):
    res = {m: [f(*ARGS)[-1] for _ in range(2)] for m, f in tutorial.items()}
    # same seed, same Philox stream: identical numbers on both backends
    for a, b in zip(res["py"], res["numba"]):
        np.testing.assert_array_equal(a, b)
    steps = np.diff(np.concatenate([[0.], res["py"][0]]))
    assert len(set(steps.round(12))) == 4, "each step must draw a fresh number"
    assert not np.array_equal(res["py"][0], res["py"][1]), "each call must draw fresh numbers"


def test_zero_length_and_zero_steps(tutorial):
    for mode, f in tutorial.items():
        outs = f(np.zeros(0), [2.], 1, np.zeros(0), 3., [0., 1.], 0)
        assert outs[0].shape == (0,) and outs[3].shape == (0,) and outs[5].shape == (0,)
        assert outs[2] == 0  # sum over zero polynomial terms


def test_power_as_in_the_issue():
    A = T.vector("A")
    k = T.iscalar("k")
    result, updates = theano.scan(fn=lambda prior, A: prior * A, outputs_info=T.ones_like(A),
                                  non_sequences=A, n_steps=k)
    power = theano.function([A, k], result[-1], updates=updates, mode="py")
    np.testing.assert_allclose(power(np.arange(5, dtype=theano.config.floatX), 2),
                               np.arange(5) ** 2)


def test_map_reduce_fold_until_import():
    s = T.dvector("s")
    m, _ = theano.map(lambda v: v * 2, s)
    r, _ = theano.reduce(lambda v, acc: acc + v, s, T.constant(0.))
    fl, _ = theano.foldl(lambda v, acc: acc * 10 + v, s, T.constant(0.))
    fr, _ = theano.foldr(lambda v, acc: acc * 10 + v, s, T.constant(0.))
    f = theano.function([s], [m, r, fl, fr], mode="py")
    out = f([1., 2., 3.])
    np.testing.assert_allclose(out[0], [2, 4, 6])
    assert [float(o) for o in out[1:]] == [6., 123., 321.]
    assert theano.scan_module.until is until


def test_several_outputs_and_shared_inside():
    s = T.dvector("s")
    w = theano.shared(np.array([1., 2.]), name="w")
    (h, y), _ = theano.scan(lambda v, hp: [hp * w + v, (hp * w).sum()], sequences=s,
                            outputs_info=[T.zeros(2, "float64"), None])
    f = theano.function([s], [h, y], mode="py")
    h_v, y_v = f([1., 2.])
    np.testing.assert_allclose(h_v, [[1, 1], [3, 4]])
    np.testing.assert_allclose(y_v, [0, 3])
    # gradient wrt the shared variable used inside fn, against finite differences
    cost = y.sum() + (h ** 2).sum()
    g = theano.function([s], T.grad(cost, w), mode="py")
    fc = theano.function([s], cost, mode="py")
    sv = np.array([1., -2., .5])
    num = np.zeros(2)
    for i in range(2):
        for sign in (1, -1):
            wv = np.array([1., 2.])
            wv[i] += sign * 1e-6
            w.set_value(wv)
            num[i] += sign * fc(sv) / 2e-6
    w.set_value(np.array([1., 2.]))
    np.testing.assert_allclose(g(sv), num, rtol=1e-6)


def test_return_list_and_updates_returned_by_fn():
    c = theano.shared(np.float64(0.), name="counter")
    n = T.iscalar("n")
    out, upd = theano.scan(lambda: (T.constant(1.), {c: c + 1}), n_steps=n, return_list=True)
    assert isinstance(out, list) and list(upd) == [c]
    f = theano.function([n], out[0], updates=upd, mode="py")
    f(3)
    f(2)
    assert c.get_value() == 5


# ----------------------------------------------------------------- gradients
def _fib_cost(x0, s):
    fib, _ = theano.scan(lambda v, a, b: a * b * 0.5 + v, sequences=s,
                         outputs_info=dict(initial=x0, taps=[-2, -1]))
    return fib


def test_grad_output_and_sequence_taps():
    rng = np.random.default_rng(0)
    verify_grad(_fib_cost, [rng.normal(size=2), rng.normal(size=5)], mode="py")
    verify_grad(lambda s: theano.scan(lambda a, b, c: a * c - b ** 2,
                                      sequences=dict(input=s, taps=[-2, 0, 1]))[0],
                [rng.normal(size=6)], mode="py")
    verify_grad(lambda s, x0: theano.scan(lambda v, h: T.tanh(h + v), sequences=s,
                                          outputs_info=x0, go_backwards=True)[0],
                [rng.normal(size=(4, 2)), rng.normal(size=2)], mode="py")


def test_truncate_gradient():
    x = T.dvector("x")
    r, _ = theano.scan(lambda v, acc: acc * 2 + v, sequences=x, outputs_info=T.constant(1.),
                       truncate_gradient=2)
    g = theano.function([x], T.grad(r[-1], x), mode="py")
    np.testing.assert_allclose(g(np.ones(5)), [0, 0, 0, 2, 1])


def test_second_derivative():
    A = T.dvector("A")
    r, _ = theano.scan(lambda p, A: p * A, outputs_info=T.ones_like(A), non_sequences=A,
                       n_steps=4)
    g = T.grad(r[-1].sum(), A)
    h = T.grad(g.sum(), A)
    f = theano.function([A], [g, h], mode="py")
    a = np.array([0.5, 2., -1.])
    gv, hv = f(a)
    np.testing.assert_allclose(gv, 4 * a ** 3)
    np.testing.assert_allclose(hv, 12 * a ** 2)


def _until_graph(s, w, h0):
    """h_t = tanh(w * h_{t-1} + s_t) and a running sum, stopping once the sum passes 3:
    a while loop over the rows of s (fewer steps than rows for the test's values)."""
    def step(v, h, acc, w):
        h = T.tanh(w * h + v)
        acc = acc + h
        return [h, acc], until(acc > 3)

    (hs, accs), _ = theano.scan(step, sequences=s, outputs_info=[h0, T.zeros_like(h0)],
                                non_sequences=w, name="while")
    return hs, accs


def _until_numpy(s, w, h0):
    h, acc, hs = h0, 0.0, []
    for v in s:
        h = np.tanh(w * h + v)
        acc = acc + h
        hs.append(h)
        if acc > 3:
            break
    return np.array(hs)


UNTIL_VALS = [np.array([0.9, 0.8, 0.7, 0.9, 0.6, 0.5, 0.4]), np.array(0.7), np.array(0.1)]


@pytest.mark.parametrize("mode", ["py", "numba"])
def test_grad_through_until_over_the_steps_taken(mode):
    """The gradient of a while loop covers the steps that ran (here 4 of 7 rows): rows
    after the stop get zero, and every gradient matches finite differences of a numpy
    loop that stops at the same step."""
    s, w, h0 = T.dvector("s"), T.dscalar("w"), T.dscalar("h0")
    hs, _ = _until_graph(s, w, h0)
    cost = (hs ** 2).sum() + hs[-1]
    f = theano.function([s, w, h0], [hs.shape[0]] + T.grad(cost, [s, w, h0]), mode=mode)
    steps, gs, gw, gh0 = f(*UNTIL_VALS)
    assert int(steps) == len(_until_numpy(*UNTIL_VALS)) == 4

    def fcost(*v):
        r = _until_numpy(*v)
        return (r ** 2).sum() + r[-1]

    for k, g in enumerate([gs, gw, gh0]):
        num = _numeric(fcost, UNTIL_VALS, k)
        np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-8, err_msg=f"input {k}")
    assert np.all(gs[4:] == 0) and np.all(gs[:4] != 0)


def test_verify_grad_through_until_with_a_non_recurrent_output():
    """A while loop whose only differentiated output is non-recurrent (its length gives
    the steps taken), checked with verify_grad."""
    def fun(s, w):
        ys, _ = theano.scan(lambda v, w: [T.sin(v * w), until(v > 0.8)], sequences=s,
                            non_sequences=w)
        return ys

    verify_grad(fun, [np.array([0.1, 0.5, 0.3, 0.9, 0.2]), np.array(1.3)], mode="py")


# ----------------------------------------------------------------- RNN and LSTM vs numpy
def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _rnn_numpy(x, h0, W, U, b):
    h, hs = h0, []
    for t in range(x.shape[0]):
        h = np.tanh(x[t] @ W + h @ U + b)
        hs.append(h)
    return np.stack(hs)


def _lstm_numpy(x, W, U, b):
    nh = U.shape[0]
    h = np.zeros((x.shape[1], nh))
    c = np.zeros_like(h)
    for t in range(x.shape[0]):
        z = x[t] @ W + h @ U + b
        i, f, o = _sigmoid(z[:, :nh]), _sigmoid(z[:, nh:2 * nh]), _sigmoid(z[:, 2 * nh:3 * nh])
        c = f * c + i * np.tanh(z[:, 3 * nh:])
        h = o * np.tanh(c)
    return h


def lstm_graph(x, W, U, b, nh):
    """x: (steps, batch, features); returns the last hidden state (batch, nh)."""
    def step(xt, h, c, W, U, b):
        z = T.dot(xt, W) + T.dot(h, U) + b
        i = T.nnet.sigmoid(z[:, :nh])
        f = T.nnet.sigmoid(z[:, nh:2 * nh])
        o = T.nnet.sigmoid(z[:, 2 * nh:3 * nh])
        c = f * c + i * T.tanh(z[:, 3 * nh:])
        return [o * T.tanh(c), c]

    h0 = T.zeros((x.shape[1], nh), dtype=x.dtype)
    (hs, cs), _ = theano.scan(step, sequences=x, outputs_info=[h0, h0],
                              non_sequences=[W, U, b], name="lstm")
    return hs[-1]


RNG = np.random.default_rng(3)
RNN_VALS = [RNG.normal(size=(5, 3)), RNG.normal(size=2), RNG.normal(size=(3, 2)) * .5,
            RNG.normal(size=(2, 2)) * .5, RNG.normal(size=2) * .1]
NH = 3
LSTM_VALS = [RNG.normal(size=(4, 2, 3)), RNG.normal(size=(3, 4 * NH)) * .5,
             RNG.normal(size=(NH, 4 * NH)) * .5, RNG.normal(size=4 * NH) * .1]


def _rnn_graph(x, h0, W, U, b):
    hs, _ = theano.scan(lambda xt, h, W, U, b: T.tanh(T.dot(xt, W) + T.dot(h, U) + b),
                        sequences=x, outputs_info=h0, non_sequences=[W, U, b], name="rnn")
    return hs


@pytest.fixture(scope="module")
def rnn_lstm_fns():
    """The RNN (and its gradient) on the py backend, the LSTM (and its gradient) on both:
    one Numba compile, the costliest of this file."""
    fns = {}
    for mode in ("py", "numba"):
        lx, lW, lU, lb = T.tensor3("lx", dtype="float64"), T.dmatrix("lW"), T.dmatrix("lU"), \
            T.dvector("lb")
        h = lstm_graph(lx, lW, lU, lb, NH)
        lins = [lx, lW, lU, lb]
        flat = [h] + T.grad((h ** 2).sum(), lins)
        if mode == "py":
            rx, rh0, rW, rU, rb = T.dmatrix("x"), T.dvector("h0"), T.dmatrix("W"), \
                T.dmatrix("U"), T.dvector("b")
            hs = _rnn_graph(rx, rh0, rW, rU, rb)
            rins = [rx, rh0, rW, rU, rb]
            fns["rnn"] = theano.function(rins, [hs] + T.grad((hs ** 2).sum(), rins), mode=mode)
        fns[mode] = theano.function(lins, flat, mode=mode)
    return fns


def test_rnn_and_lstm_forward_against_numpy(rnn_lstm_fns):
    out = rnn_lstm_fns["rnn"](*RNN_VALS)
    np.testing.assert_allclose(out[0], _rnn_numpy(*RNN_VALS), rtol=1e-10)
    for mode in ("py", "numba"):
        out = rnn_lstm_fns[mode](*LSTM_VALS)
        np.testing.assert_allclose(out[0], _lstm_numpy(*LSTM_VALS), rtol=1e-10, err_msg=mode)


def _numeric(fcost, vals, k, eps=1e-6):
    v = [np.array(a, copy=True) for a in vals]
    g = np.zeros_like(v[k])
    for idx in np.ndindex(v[k].shape):
        old = v[k][idx]
        v[k][idx] = old + eps
        up = fcost(*v)
        v[k][idx] = old - eps
        g[idx] = (up - fcost(*v)) / (2 * eps)
        v[k][idx] = old
    return g


def test_rnn_and_lstm_gradients_against_numpy_finite_differences(rnn_lstm_fns):
    rnn = rnn_lstm_fns["rnn"](*RNN_VALS)
    for k in range(5):
        num = _numeric(lambda *v: (_rnn_numpy(*v) ** 2).sum(), RNN_VALS, k)
        np.testing.assert_allclose(rnn[1 + k], num, rtol=1e-5, atol=1e-7, err_msg=f"rnn {k}")
    outs = {m: rnn_lstm_fns[m](*LSTM_VALS) for m in ("py", "numba")}
    for k in range(4):
        num = _numeric(lambda *v: (_lstm_numpy(*v) ** 2).sum(), LSTM_VALS, k)
        for m in outs:
            np.testing.assert_allclose(outs[m][1 + k], num, rtol=1e-5, atol=1e-7,
                                       err_msg=f"lstm input {k}, {m}")


# ----------------------------------------------------------------- bad inputs
@pytest.mark.parametrize("mode", ["py", None])
def test_a_masked_rnn_as_the_tutorials_write_it(mode):
    """The Deep Learning Tutorials' LSTM masks each step with ``m_[:, None]``: the
    gradient's backward step reads the forward's stored columns, and a scan output used
    to drop the step value's broadcastable pattern, so that step failed with "input
    dimension mismatch along axis 1" (column against matrix). Outputs keep it now
    (Theano's rule), and the gradient matches finite differences."""
    m = T.dmatrix("m")
    assert theano.scan(lambda m_: m_[:, None], sequences=m)[0].broadcastable == (
        False, False, True)

    def fun(xs, h0, U):
        def step(m_, x_, h_, U):
            h = T.tanh(T.dot(h_, U) + x_)
            return m_[:, None] * h + (1.0 - m_)[:, None] * h_

        hs, _ = theano.scan(step, sequences=[theano.shared(mask), xs], outputs_info=[h0],
                            non_sequences=U)
        return hs[-1]

    rng = np.random.default_rng(3)
    mask = np.ones((5, 3))
    mask[3:, 1] = 0.0   # the second sequence ends after three steps
    verify_grad(fun, [rng.normal(size=(5, 3, 4)), rng.normal(size=(3, 4)),
                      rng.normal(size=(4, 4)) * 0.3], mode=mode)


def test_sequences_of_different_lengths():
    """Theano's rule: without n_steps, as many steps as the shortest sequence (the
    tutorial's polynomial scans its coefficients beside arange(10000)); an n_steps longer
    than a sequence is an error naming the scan and the line that made it."""
    a, b = T.dvector("a"), T.dvector("b")
    r, _ = theano.scan(lambda x, y: x + y, sequences=[a, b], name="pairs")
    k = T.lscalar("k")
    r2, _ = theano.scan(lambda x, y: x + y, sequences=[a, b], n_steps=k, name="fixed")  # MARK-LEN
    coefficients, x = T.dvector("coefficients"), T.dscalar("x")
    comp, _ = theano.scan(lambda c, p, v: c * (v ** p), outputs_info=None,
                          sequences=[coefficients, T.arange(10000)], non_sequences=x)
    for mode in ("py", "numba"):
        f = theano.function([a, b], r, mode=mode)
        np.testing.assert_allclose(f([1., 2., 3.], [1., 2.]), [2., 4.])
        np.testing.assert_allclose(f([1., 2.], [3., 4., 5.]), [4., 6.])
        poly = theano.function([coefficients, x], comp.sum(), mode=mode)
        assert float(poly(np.array([1., 0., 2.]), 3.)) == 19.0
        f2 = theano.function([a, b, k], r2, mode=mode)
        np.testing.assert_allclose(f2([1., 2., 3.], [1., 2.], 2), [2., 4.])
        with pytest.raises((ScanError, ValueError), match=r"scan 'fixed'.*sequence 1") as ei:
            f2([1., 2., 3.], [1., 2.], 3)
        assert f"test_scan.py:{_line_of('MARK-LEN')}" in str(ei.value)


def test_wrong_number_of_outputs():
    x = T.dvector("x")
    with pytest.raises(ScanError, match=r"scan 'two'.*fn returned 2 outputs but outputs_info "
                                        r"has 1 entry") as ei:
        theano.scan(lambda v, h: [h + v, h * v], sequences=x, outputs_info=T.constant(0.),  # MARK-N
                    name="two")
    assert f"test_scan.py:{_line_of('MARK-N')}" in str(ei.value)


def test_output_dtype_differs_from_outputs_info():
    x = T.fvector("x")
    with pytest.raises(TypeError, match=r"output 0 of fn has dtype float64 but its initial "
                                        r"value in outputs_info has dtype float32"):
        theano.scan(lambda v, h: h + T.cast(v, "float64"), sequences=x,
                    outputs_info=T.constant(np.float32(0)))


def test_step_output_changes_shape():
    x = T.dvector("x")
    r, _ = theano.scan(lambda h, x: T.concatenate([h, x])[:h.shape[0] + 1],  # MARK-SHAPE
                       outputs_info=x, non_sequences=x, n_steps=3, name="grow")
    f = theano.function([x], r, mode="py")
    with pytest.raises(ScanError, match=r"scan 'grow'.*at step 0, output 0 .* shape \(3,\); "
                                        r"it must keep the shape \(2,\)") as ei:
        f([1., 2.])
    assert f"test_scan.py:{_line_of('MARK-SHAPE')}" in str(ei.value)


def test_strided_states_and_initial_values_on_numba():
    """The Numba loop copies each step's values into its buffers (``helpers.copy_into``): a state
    the step returns transposed (strided), a non-recurrent output that is a strided
    slice, and an initial value with two taps given as a transposed view of the input."""
    m = T.dmatrix("m")
    seq = T.dtensor3("seq")

    def step(x, h2, h1):
        nxt = (T.dot(h1, x) + h2).T
        return nxt, T.exp(x)[:, ::2]

    outs, _ = theano.scan(step, sequences=seq, outputs_info=[
        dict(initial=m.T.reshape((2, 3, 3)).dimshuffle(0, 2, 1), taps=[-2, -1]), None],
        name="strided")
    mv = np.arange(18.0).reshape(6, 3) / 10
    sv = np.random.default_rng(3).standard_normal((4, 3, 3)) / 3
    fs = [theano.function([m, seq], outs, mode=mode) for mode in ("py", "numba")]
    want, got = fs[0](mv, sv), fs[1](mv, sv)
    for w, g in zip(want, got):
        np.testing.assert_allclose(g, w, rtol=1e-12)


def test_copy_into_strided_and_mismatched():
    from symgraph.link.numba.helpers import copy_into

    src = np.arange(24.0).reshape(2, 3, 4)
    dst = np.zeros((4, 3, 2))
    copy_into(dst.transpose(2, 1, 0), src)     # strided destination
    np.testing.assert_array_equal(dst.transpose(2, 1, 0), src)
    out = np.zeros((2, 3, 4))
    copy_into(out, src[:, :, ::-1].copy()[:, :, ::-1])   # contiguous on both sides
    np.testing.assert_array_equal(out, src)
    with pytest.raises(ValueError, match="shape"):
        copy_into(np.zeros((3, 4)), np.zeros((4, 3)))


def test_strict_needs_every_variable_in_non_sequences():
    x = T.dvector("x")
    w = T.dscalar("w")
    with pytest.raises(ScanError, match=r"strict=True but fn uses w"):
        theano.scan(lambda v: v * w, sequences=x, strict=True)
    r, _ = theano.scan(lambda v, w: v * w, sequences=x, non_sequences=w, strict=True)
    assert theano.function([x, w], r, mode="py")([1., 2.], 3.).tolist() == [3., 6.]


def test_other_bad_inputs():
    x = T.dvector("x")
    with pytest.raises(ScanError, match="needs sequences or n_steps"):
        theano.scan(lambda h: h, outputs_info=T.constant(0.))
    with pytest.raises(TypeError, match="sequence 0 is a scalar"):
        theano.scan(lambda v: v, sequences=T.dscalar())
    with pytest.raises(ScanError, match="output taps must be negative"):
        theano.scan(lambda a: a, outputs_info=dict(initial=x, taps=[0]), n_steps=2)
