"""Softmax, cross-entropy, convolution and pooling nodes the Python tier runs by calling
their kernel directly (``link/numba/tier_nnet.py``): the compiled glue's bytes with no
wrapper compiled, and the wrappers' own errors."""
from __future__ import annotations

import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.link.numba.tier_extern import ExternNode
from symgraph.link.numba.tier_nnet import nnet_program
from symgraph.numba_compat import numba_internals
from symgraph.tensor.signal import pool
from symgraph.testing import assert_same_bits

pytestmark = pytest.mark.skipif(not numba_internals(), reason="the public path links "
                                "the kernels into their wrappers: the tier runs the wrappers")




def _nnet_nodes(f):
    tier = f.executable.graph_fn.tier
    return [d for d in tier._inline.values()
            if isinstance(d, ExternNode) and d.prog["kind"] == "nnet"]


def _both_tiers(glue, make, steps=3):
    """``make()`` -> (function, shared variables, args(k)); run ``steps`` calls with the
    compiled glue (first: its wrappers compile the kernels the tier then finds), then
    with a new function held on the Python tier. Returns (tiered function, compiled
    results, tier results)."""
    results = []
    for mode in ("compiled", "tiered"):
        glue(mode)
        f, params, args = make()
        if mode == "tiered":
            f.executable.hold_python_tier()
        outs = [f(*args(k)) for k in range(steps)]
        results.append((outs, [p.get_value() for p in params]))
    return f, results[0], results[1]


def _softmax_net(dtype):
    """A dense softmax layer trained on the NLL of integer labels (``SoftmaxNLL`` and its
    gradient), with softmax, log-softmax and their gradients as further outputs."""
    rng = np.random.default_rng(3)
    x, y = T.matrix("x", dtype=dtype), T.ivector("y")
    W = symgraph.shared(rng.standard_normal((6, 4)).astype(dtype), name="W")
    z = T.dot(x, W)
    cost = -T.mean(T.log(T.nnet.softmax(z))[T.arange(y.shape[0]), y])
    extra = T.sum(T.nnet.softmax(z * 3) ** 2) + T.sum(T.nnet.logsoftmax(z) * z)
    gW, gx = T.grad(cost + extra, [W, x])
    f = symgraph.function([x, y], [cost, extra, gx, T.nnet.softmax(z)],
                          updates=[(W, W - 0.5 * gW)])
    xs = rng.standard_normal((5, 6)).astype(dtype) * 4
    ys = np.array([0, 3, 1, 3, 2], "int32")
    return f, [W], lambda k: (xs * (k + 1), ys)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_softmax_family_calls_its_kernels_with_the_glues_bits(dtype, glue, wrapper_calls):
    f, compiled, tier = _both_tiers(glue, lambda: _softmax_net(dtype))
    ops = {d.prog["op"] for d in _nnet_nodes(f)}
    assert {"SoftmaxNLL", "SoftmaxNLLGrad", "Softmax"} <= ops, ops
    assert ops & {"SoftmaxGrad", "LogSoftmax", "LogSoftmaxGrad"}, ops
    assert not wrapper_calls
    assert_same_bits(tier, compiled)


def _convnet(dtype, border, stride, flip, mode, pad, hints):
    """A conv layer (``Conv2d`` with or without shape hints, both gradients), a pooling
    layer (``Pool`` and its gradient) and a softmax on top, three SGD steps."""
    rng = np.random.default_rng(7)
    x = T.tensor4("x", dtype=dtype)
    y = T.ivector("y")
    fshape, ishape = (3, 2, 3, 3), (4, 2, 9, 9)
    w = symgraph.shared((rng.standard_normal(fshape) * 0.3).astype(dtype), name="w")
    c = T.nnet.conv2d(x, w, input_shape=ishape if hints else None,
                      filter_shape=fshape if hints else None, border_mode=border,
                      subsample=stride, filter_flip=flip)
    p = pool.pool_2d(T.tanh(c), ws=(2, 2), ignore_border=True, mode=mode, pad=pad)
    side = ({"valid": 7, "full": 11, "half": 9}[border] - 1) // stride[0] + 1
    side = (side + 2 * pad[0] - 2) // 2 + 1
    V = symgraph.shared((rng.standard_normal((3 * side * side, 4)) * 0.2).astype(dtype),
                        name="V")
    cost = T.mean(T.nnet.categorical_crossentropy(T.nnet.softmax(T.dot(p.flatten(2), V)), y))
    gw, gV, gx = T.grad(cost, [w, V, x])
    f = symgraph.function([x, y], [cost, p, gx],
                          updates=[(w, w - 0.3 * gw), (V, V - 0.3 * gV)])
    xs = rng.standard_normal(ishape).astype(dtype)
    ys = np.array([1, 0, 3, 2], "int32")
    return f, [w, V], lambda k: (xs + k, ys)


@pytest.mark.parametrize("dtype, border, stride, flip, mode, pad, hints", [
    ("float32", "valid", (1, 1), True, "max", (0, 0), True),
    ("float64", "full", (2, 2), False, "average_exc_pad", (0, 0), False),
    ("float32", "half", (1, 1), True, "average_inc_pad", (1, 1), False),
])
def test_conv_and_pool_call_their_kernels_with_the_glues_bits(dtype, border, stride, flip,
                                                              mode, pad, hints, glue,
                                                              wrapper_calls):
    """Convolutions (valid, full and half borders, strided or not, flipped or not, with
    and without shape hints) and max and average pooling (padded or not) with their gradients: three
    training steps on the tier call the kernels, no wrapper is compiled, the bytes are
    the compiled glue's."""
    f, compiled, tier = _both_tiers(glue, lambda: _convnet(dtype, border, stride, flip, mode,
                                                          pad, hints))
    ops = {d.prog["op"] for d in _nnet_nodes(f)}
    assert {"Conv2d", "Conv2dGradWeights", "Conv2dGradInputs", "Pool"} <= ops, ops
    assert ops & {"MaxPoolGrad", "AveragePoolGrad"}, ops
    assert not wrapper_calls
    assert_same_bits(tier, compiled)


def test_failed_checks_raise_the_wrappers_errors(glue, wrapper_calls, same_error):
    """A label out of range, a batch that contradicts a shape hint and filters with
    other channels than the input's: the tier runs the wrapper, which raises the compiled
    glue's very error."""
    x, y = T.fmatrix("x"), T.ivector("y")
    nll = T.nnet.categorical_crossentropy(T.nnet.softmax(x), y)
    glue("tiered")
    f = symgraph.function([x, y], nll)
    f.executable.hold_python_tier()
    xs = np.zeros((3, 4), "float32")
    f(xs, np.array([0, 1, 3], "int32"))
    assert not wrapper_calls
    for bad in ([0, 4, 1], [-1, 0, 0], [0, 1]):
        same_error(f, nll, [x, y], (xs, np.array(bad, "int32")))
    assert wrapper_calls
    t, k = T.ftensor4("t"), T.ftensor4("k")
    c = T.nnet.conv2d(t, k, input_shape=(2, 1, 5, 5), filter_shape=(3, 1, 2, 2))
    g = symgraph.function([t, k], c)
    g.executable.hold_python_tier()
    ks = np.ones((3, 1, 2, 2), "float32")
    same_error(g, c, [t, k], (np.ones((4, 1, 5, 5), "float32"), ks))   # the batch hint
    c2 = T.nnet.conv2d(t, k)
    g2 = symgraph.function([t, k], c2)
    g2.executable.hold_python_tier()
    same_error(g2, c2, [t, k], (np.ones((2, 2, 5, 5), "float32"), ks))   # the channels


def test_which_nodes_get_programs():
    """The kernels called with their wrapper's operands unchanged; a pooling of other
    than 4-d inputs (the wrapper reshapes) and other ops do not."""
    m, v, t3 = T.fmatrix("m"), T.ivector("v"), T.ftensor3("t3")
    assert nnet_program(T.nnet.softmax(m).owner)["callee"].endswith(":softmax")
    assert nnet_program(pool.pool_2d(T.ftensor4(), ws=(2, 2), ignore_border=True).owner)
    assert nnet_program(pool.pool_2d(t3, ws=(2, 2), ignore_border=True).owner) is None
    assert nnet_program(T.nnet.softmax_nll(m, v).owner)["op"] == "SoftmaxNLL"
    assert nnet_program((m + 1).owner) is None
