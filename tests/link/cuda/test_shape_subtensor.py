"""Reshape, Subtensor, Alloc and the shape ops: views on the device, cuda vs py."""
from __future__ import annotations

import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.link.cuda.transfer import GpuFromHost, HostFromGpu


def _ops(f):
    return [type(n.op).__name__ for n in f.maker.fgraph.toposort()]


def test_reshape_contiguous_and_strided(helpers):
    x = T.tensor3("x")
    n = T.lscalar("n")
    xv = np.arange(24.0).reshape(2, 3, 4)
    helpers.compare(lambda x, n: [x.reshape((6, 4)) + 0.0, x.reshape((n, -1)) * 2.0,
                                  x.dimshuffle(2, 1, 0).reshape((4, 6)) + 1.0,
                                  x.flatten() + 1.0, x[:, 1].reshape((1, 8)) + 1.0],
                    [xv, 3], syms=[x, n])


def test_reshape_bad_shape_raises():
    x = T.matrix("x")
    n = T.lscalar("n")
    f = symgraph.function([x, n], x.reshape((n, 5)) * 2.0, mode="cuda")
    with pytest.raises(ValueError, match="Reshape|reshape"):
        f(np.ones((2, 3)), 7)


@pytest.mark.parametrize("index", [
    (1,), (-1,), (slice(1, None),), (slice(None, None, 2),), (slice(-3, -1), 2),
    (1, slice(None), None), (None, slice(0, 2), -2), (slice(5, 1),), (2, 3)])
def test_subtensor_constant_indices(helpers, index):
    x = T.matrix("x")
    xv = np.arange(20.0).reshape(4, 5)
    helpers.compare(lambda x: x[index] * 1.0, [xv], syms=[x])


def test_subtensor_symbolic_bounds_and_errors(helpers):
    x = T.matrix("x")
    i, j = T.lscalars("i", "j")
    xv = np.arange(20.0).reshape(4, 5)
    helpers.compare(lambda x, i, j: [x[i:j] + 0.0, x[i, j] + 0.0, x[:, i:j + 2:2] + 0.0,
                                     x[i * 2:(i + 1) * 2].sum()], [xv, 1, 3], syms=[x, i, j])
    f = symgraph.function([x, i], x[i] * 2.0, mode="cuda")
    with pytest.raises(IndexError, match="out of bounds"):
        f(xv, 4)


@pytest.mark.parametrize("index", [
    (slice(None, None, -1),), (slice(None, None, -2),), (slice(3, 0, -1),),
    (slice(-2, None, -3), slice(None, None, -1)), (1, slice(4, None, -2)),
    (slice(None, None, -1), None, 2), (slice(0, 3, -1),), (slice(None, 1, -1), -1)])
def test_subtensor_negative_steps_run_on_the_device(helpers, index):
    """Reversed slices (``go_backwards``, a scan's backward loop) stay on the device: a
    reversed copy of the ascending view, since device arrays take no negative strides."""
    x = T.matrix("x")
    xv = np.arange(20.0).reshape(4, 5)
    f = helpers.compare(lambda x: T.exp(x / 20.0)[index] * 2.0, [xv], syms=[x])
    assert f.executable.fallbacks == []


def _matrix_vector_cases(helpers, fn, y_len, scalars):
    """Compare ``fn(e, y, i)`` (``e = exp(x / 20)`` of a 4x5 matrix ``x``, a vector ``y``
    of ``y_len``, an int64 scalar ``i``) on cuda and py for each value of ``i``, with no
    fallback to the CPU; returns the last cuda Function and the symbols."""
    x = T.matrix("x")
    y = T.vector("y")
    i = T.lscalar("i")
    xv = np.arange(20.0).reshape(4, 5)
    yv = np.arange(float(y_len)) + 100
    for value in scalars:
        f = helpers.compare(lambda x, y, i: fn(T.exp(x / 20.0), y, i, x), [xv, yv, value],
                            syms=[x, y, i])
        assert f.executable.fallbacks == []
    return f, x, y, xv


def test_subtensor_symbolic_and_negative_steps_inc_and_set(helpers):
    def fn(e, y, s, x):
        return [e[::s] + 0.0, e[:, 4:0:s] * 1.0, T.set_subtensor(e[::-1, 2], y),
                T.inc_subtensor(e[::-2, ::-1], 1.5), T.inc_subtensor(e[3::-1, 1], T.exp(y)),
                T.grad((e[::-1, 3:0:-2] ** 2).sum(), x)]

    _, x, _, xv = _matrix_vector_cases(helpers, fn, 4, (-1, 2, -3))
    s = T.lscalar("s")
    f = symgraph.function([x, s], x[::s] * 2.0, mode="cuda")
    with pytest.raises(ValueError, match="step cannot be zero"):
        f(xv, 0)


def test_shape_ops_are_host_metadata(helpers):
    x = T.matrix("x")
    xv = np.ones((3, 4))
    f = helpers.compare(lambda x: [x.shape, x.shape[1] * 2, T.exp(x).mean(), x.size],
                        [xv], syms=[x])
    # shapes are host metadata: the only copy back is the mean's
    downloads = [n for n in f.maker.fgraph.apply_nodes if isinstance(n.op, HostFromGpu)]
    assert len(downloads) == 1


def test_alloc_zeros_ones_fill(helpers):
    x = T.matrix("x")
    s = T.dscalar("s")
    v = T.vector("v")
    n = T.lscalar("n")
    xv = np.arange(6.0).reshape(2, 3)
    helpers.compare(lambda x, s, v, n: [T.zeros_like(x) + x, T.alloc(s, 2, n), T.alloc(v, n, 3),
                                        T.ones((n, 2)), T.alloc(T.exp(v), 2, 3),
                                        T.fill(x, s) * 1.0],
                    [xv, 1.5, np.arange(3.0), 4], syms=[x, s, v, n])


def test_rebroadcast_and_specify_shape(helpers):
    x = T.matrix("x")
    xv = np.ones((1, 3))
    helpers.compare(lambda x: [T.addbroadcast(T.exp(x), 0) + 1.0,
                               T.specify_shape(T.exp(x), (1, 3)) * 2.0], [xv], syms=[x])
    f = symgraph.function([x], T.specify_shape(T.exp(x), (2, 3)) * 2.0, mode="cuda")
    with pytest.raises(ValueError, match="SpecifyShape|shape"):
        f(xv)


def test_transfers_are_marked_in_debugprint():
    x = T.matrix("x")
    f = symgraph.function([x], T.exp(x).sum(axis=0), mode="cuda")
    text = symgraph.debugprint(f, file="str")
    assert "GpuFromHost" in text and "HostFromGpu" in text
    ops = _ops(f)
    assert ops[0] == "GpuFromHost" and ops[-1] == "HostFromGpu"
    assert sum(isinstance(n.op, (GpuFromHost, HostFromGpu)) for n in
               f.maker.fgraph.apply_nodes) == 2


def test_inc_and_set_subtensor(helpers):
    def fn(e, y, i, x):
        return [T.set_subtensor(e[1], y), T.inc_subtensor(e[i:, 1:3], 2.0),
                T.inc_subtensor(e[::2], T.exp(y)), T.set_subtensor(e[:, i], T.exp(y[:4])),
                T.grad((e[1:3, ::2] ** 2).sum(), x)]

    f, x, y, xv = _matrix_vector_cases(helpers, fn, 5, (1,))
    assert "IncSubtensor" in {type(n.op).__name__ for n in f.maker.fgraph.apply_nodes}
    g = symgraph.function([x, y], T.set_subtensor(T.exp(x)[1], y), mode="cuda")
    with pytest.raises(ValueError, match="shape"):
        g(xv, np.ones(3))


def test_join(helpers):
    a, b = T.matrices("a", "b")
    c = T.matrix("c", dtype="float32")
    av, bv, cv = np.ones((2, 3)), np.arange(6.0).reshape(2, 3), np.full((2, 1), 7, "float32")
    f = helpers.compare(lambda a, b, c: [T.concatenate([T.exp(a), b * 2.0], axis=0),
                                         T.concatenate([a * 1.5, T.exp(c), b.T[:2]], axis=1),
                                         T.grad((T.concatenate([a, b]) ** 2).sum(), a)],
                        [av, bv, cv], syms=[a, b, c])
    names = {type(n.op).__name__ for n in f.maker.fgraph.apply_nodes}
    assert {"Join", "Split"} <= names and f.executable.fallbacks == []
