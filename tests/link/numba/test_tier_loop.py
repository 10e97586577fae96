"""Scan loops on the Python tier (``link/numba/tier_loop.py``): the loop runs in Python,
calling its step's kernels, with the types and the bits of the compiled loop."""
from __future__ import annotations

import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.link.numba import glue_worker, tier_loop
from symgraph.link.numba.fastload import load_or_compile
from symgraph.link.numba.tier_loop import PythonLoop
from symgraph.numba_compat import numba_internals
from symgraph.scan_module import until
from symgraph.testing import assert_same_bits


def _shared(rng, shape, dtype, name):
    return symgraph.shared((rng.standard_normal(shape) * 0.5).astype(dtype), name=name)


def _taps(rng, dtype):
    """Sequence taps [-1, 0, 1], a state with taps [-2, -1], its gradient (a backward
    scan reading the forward's buffers)."""
    x = T.matrix("x", dtype=dtype)
    h0 = T.matrix("h0", dtype=dtype)
    W = _shared(rng, (3, 3), dtype, "W")

    def step(x_m1, x_0, x_p1, h_m2, h_m1):
        return T.tanh(T.dot(h_m1, W) + 0.5 * h_m2 + x_m1 - x_p1 + x_0)

    hs, _ = symgraph.scan(step, sequences=dict(input=x, taps=[-1, 0, 1]),
                          outputs_info=dict(initial=h0, taps=[-2, -1]))
    cost = T.sum(hs ** 2)
    g = T.grad(cost, W)
    f = symgraph.function([x, h0], [cost, hs], updates=[(W, W - 0.1 * g)])
    xs = rng.standard_normal((6, 3)).astype(dtype)
    h0v = rng.standard_normal((2, 3)).astype(dtype)
    return f, [W], lambda k: (xs * (1 + 0.1 * k), h0v)


def _ring(rng, dtype):
    """Only the last value of a state with taps [-2, -1] is used: a ring buffer of two
    rows (``store_last``), returned as a copy of its last row."""
    x = T.tensor3("x", dtype=dtype)
    W = _shared(rng, (3, 3), dtype, "W")
    h0 = T.zeros((2, x.shape[1], 3), dtype=dtype)
    hs, _ = symgraph.scan(lambda x_t, a, b: T.tanh(x_t + T.dot(b, W) - 0.25 * a),
                          sequences=x, outputs_info=dict(initial=h0, taps=[-2, -1]))
    f = symgraph.function([x], hs[-1])
    xs = rng.standard_normal((5, 2, 3)).astype(dtype)
    return f, [W], lambda k: (xs + 0.1 * k,)


def _while(rng, dtype):
    """A 0-d state, a 0-d per-step output and a vector one, stopped by ``until``."""
    v = T.vector("v", dtype=dtype)
    limit = T.scalar("limit", dtype=dtype)

    def step(x, total):
        new = total + x
        return [new, new * 2, T.stack([new, x])], until(new > limit)

    zero = T.constant(np.asarray(0, dtype=dtype))
    (tot, dbl, pairs), _ = symgraph.scan(step, sequences=v,
                                        outputs_info=[zero, None, None])
    f = symgraph.function([v, limit], [tot, dbl, pairs])
    vals = np.abs(rng.standard_normal(8)).astype(dtype)
    return f, [], lambda k: (vals, np.asarray(1.0 + k, dtype=dtype))


def _nested(rng, dtype):
    """A scan in a scan's step: each row's running sum, scaled by a shared value."""
    X = T.matrix("X", dtype=dtype)
    s = _shared(rng, (), dtype, "s")

    def row_sums(row):
        zero = T.constant(np.asarray(0, dtype=dtype))
        cs, _ = symgraph.scan(lambda a, acc: acc + a * s, sequences=row, outputs_info=zero)
        return cs

    res, _ = symgraph.scan(row_sums, sequences=X)
    cost = T.sum(res ** 2)
    f = symgraph.function([X], [res, cost], updates=[(s, s - 0.01 * T.grad(cost, s))])
    xs = rng.standard_normal((3, 4)).astype(dtype)
    return f, [s], lambda k: (xs - 0.1 * k,)


def _power(rng, dtype):
    """Theano's power example with a symbolic step count, zero steps included."""
    A = T.vector("A", dtype=dtype)
    k = T.iscalar("k")
    result, updates = symgraph.scan(lambda prior, a: prior * a, outputs_info=T.ones_like(A),
                                    non_sequences=A, n_steps=k)
    f = symgraph.function([A, k], [result, result.shape[0]], updates=updates)
    a = (1 + 0.1 * rng.standard_normal(4)).astype(dtype)
    return f, [], lambda j: (a, np.int32(j % 3))


def _lstm(rng, dtype):
    """A small LSTM training step (the benchmark's gates, its loss on the last state)."""
    x = T.tensor3("x", dtype=dtype)   # (steps, batch, inputs)
    y = T.ivector("y")
    n_in, n_h, n_out = 3, 4, 2
    W = _shared(rng, (n_in, 4 * n_h), dtype, "W")
    U = _shared(rng, (n_h, 4 * n_h), dtype, "U")
    b = _shared(rng, (4 * n_h,), dtype, "b")
    V = _shared(rng, (n_h, n_out), dtype, "V")

    def step(z_t, h, c):
        z = z_t + T.dot(h, U)
        i = T.nnet.sigmoid(z[:, :n_h])
        fg = T.nnet.sigmoid(z[:, n_h:2 * n_h])
        o = T.nnet.sigmoid(z[:, 2 * n_h:3 * n_h])
        g = T.tanh(z[:, 3 * n_h:])
        c_new = fg * c + i * g
        return o * T.tanh(c_new), c_new

    zs = T.dot(x, W) + b
    h0 = T.zeros((x.shape[1], n_h), dtype=dtype)
    (hs, _), _ = symgraph.scan(step, sequences=zs, outputs_info=[h0, h0])
    p = T.nnet.softmax(T.dot(hs[-1], V))
    cost = -T.mean(T.log(p)[T.arange(y.shape[0]), y])
    params = [W, U, b, V]
    grads = T.grad(cost, params)
    f = symgraph.function([x, y], cost,
                          updates=[(q, q - 0.1 * g) for q, g in zip(params, grads)])
    xs = rng.standard_normal((5, 3, n_in)).astype(dtype)
    ys = np.array([0, 1, 1], dtype=np.int32)
    return f, params, lambda k: (xs * (1 - 0.05 * k), ys)


GRAPHS = {"taps": _taps, "ring": _ring, "while": _while, "nested": _nested,
          "power": _power, "lstm": _lstm}


def _loops(tier):
    """Every ``PythonLoop`` of a Python tier, those of nested steps too."""
    found = []
    for disp in list(tier._inline.values()):
        if isinstance(disp, PythonLoop):
            found.append(disp)
            if disp._tier is not None:
                found += _loops(disp._tier)
    return found


def _run(builder, dtype, steps, glue, mode):
    glue(mode)
    f, params, args = builder(np.random.default_rng(3), dtype)
    if mode == "tiered":
        f.executable.hold_python_tier()
    outs = [f(*args(k)) for k in range(steps)]
    return f, (outs, [np.array(p.get_value()) for p in params])


# every graph in float32, two in float64 too (each case compiles its graph twice)
@pytest.mark.parametrize("name, dtype", [(n, "float32") for n in sorted(GRAPHS)]
                         + [("taps", "float64"), ("nested", "float64")])
def test_both_tiers_give_theassert_same_bits(name, dtype, glue, monkeypatch):
    """Four calls with the loops run in Python on the tier, four on the compiled glue:
    every output and every updated parameter is the same to the bit, and the tier never
    ran a compiled loop."""
    fallback = []
    compiled = PythonLoop._compiled
    monkeypatch.setattr(PythonLoop, "_compiled",
                        lambda self, argtys: fallback.append(argtys) or compiled(self, argtys))
    f, tier = _run(GRAPHS[name], dtype, 4, glue, "tiered")
    loops = _loops(f.executable.graph_fn.tier)
    assert loops
    if numba_internals():
        assert all(loop.typed for loop in loops) and not fallback
        if glue_worker.available():   # each loop kernel sent to the worker for the glue
            assert all(loop.ahead for loop in loops)
    else:   # the public path types no view: every loop runs its compiled kernel
        assert fallback and not any(loop.typed for loop in loops)
    _, glued = _run(GRAPHS[name], dtype, 4, glue, "compiled")
    assert_same_bits(tier, glued)


@pytest.mark.parametrize("name", ["taps", "ring", "while", "nested", "lstm"])
def test_loop_types_are_the_compiled_loops(name, glue):
    """The types the Python loop gives its results and passes to its step are the ones
    Numba gives them in the compiled loop (checked against a compile of the loop kernel,
    which compiles the step's glue for the types the loop passes it)."""
    f, _ = _run(GRAPHS[name], "float32", 1, glue, "tiered")
    loops = _loops(f.executable.graph_fn.tier)
    assert loops and all(bool(loop.typed) == numba_internals() for loop in loops)
    for loop in loops:
        step = loop._step_module().graph_fn
        for argtys, (step_tys, ret) in loop.typed.items():
            load_or_compile(loop.dispatcher, argtys)
            assert loop.dispatcher.overloads[argtys].signature.return_type == ret
            assert step_tys in step.overloads, (step_tys, list(step.overloads))


def test_a_sequence_shorter_than_the_steps_fails_alike(glue):
    """More steps than sequence rows: both tiers refuse the call with the same error."""
    errors = []
    for mode in ("tiered", "compiled"):
        glue(mode)
        v = T.vector("v")
        k = T.lscalar("k")
        out, _ = symgraph.scan(lambda a, acc: acc + a, sequences=v,
                               outputs_info=T.constant(0.0), n_steps=k)
        f = symgraph.function([v, k], out)
        if mode == "tiered":
            f.executable.hold_python_tier()
        assert f(np.arange(3.0), 2).tolist() == [0.0, 1.0]
        with pytest.raises(ValueError) as info:
            f(np.arange(3.0), 5)
        errors.append((type(info.value), str(info.value).splitlines()[0]))
    assert errors[0] == errors[1]


def test_switched_off_the_tier_runs_the_compiled_loop(glue, monkeypatch):
    """``tier_loop.ENABLED = False`` (as before it existed): the tier calls the loop
    kernel, with the same results."""
    monkeypatch.setattr(tier_loop, "ENABLED", False)
    f, off = _run(_taps, "float64", 2, glue, "tiered")
    assert not _loops(f.executable.graph_fn.tier)
    monkeypatch.setattr(tier_loop, "ENABLED", True)
    _, on = _run(_taps, "float64", 2, glue, "tiered")
    assert_same_bits(off, on)
