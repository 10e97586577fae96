"""``inc_subtensor`` of blocks tiling one axis of zeros becomes a ``Join`` (an LSTM's gate
gradients), with the same values and the same errors as the chain it replaces."""
import numpy as np
import pytest

import symgraph as theano
import symgraph.tensor as T
from symgraph.compile.mode import Mode
from symgraph.tensor.array_ops import Join
from symgraph.tensor.subtensor import IncSubtensor

REFERENCE = Mode("py", optimizer=None)
rng = np.random.default_rng(3)


def op_types(f):
    return [type(n.op) for n in f.maker.fgraph.toposort()]


def gate_grad_graph():
    """The gradient of four gates sliced out of one pre-activation matrix."""
    x, w = T.dmatrix("x"), T.dmatrix("w")
    z = T.dot(x, w)
    h = 3
    i, f, o, g = (T.nnet.sigmoid(z[:, :h]), T.nnet.sigmoid(z[:, h:2 * h]),
                  T.nnet.sigmoid(z[:, 2 * h:3 * h]), T.tanh(z[:, 3 * h:]))
    cost = (i * g + f * o).sum()
    return [x, w], T.grad(cost, w)


@pytest.mark.parametrize("mode", ["py", "numba"])
def test_gate_gradients_become_one_join(mode):
    ins, gw = gate_grad_graph()
    f = theano.function(ins, gw, mode=mode)
    kinds = op_types(f)
    assert Join in kinds and IncSubtensor not in kinds
    ref = theano.function(ins, gw, mode=REFERENCE)
    vals = [rng.standard_normal((5, 4)), rng.standard_normal((4, 12))]
    np.testing.assert_allclose(f(*vals), ref(*vals), rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("mode", ["py", "numba"])
def test_set_and_inc_in_any_order_along_axis_0_of_alloc_zeros(mode):
    a, b, c = T.dtensor3("a"), T.dtensor3("b"), T.dtensor3("c")
    n = a.shape[0] + b.shape[0] + c.shape[0]
    z = T.zeros((n, a.shape[1], a.shape[2]))
    z = T.inc_subtensor(z[2:5], b * 2)
    z = T.set_subtensor(z[5:], T.exp(c))
    z = T.inc_subtensor(z[:2], a)
    f = theano.function([a, b, c], z, mode=mode)
    assert Join in op_types(f) and IncSubtensor not in op_types(f)
    va, vb, vc = (rng.standard_normal((k, 2, 3)) for k in (2, 3, 4))
    np.testing.assert_allclose(f(va, vb, vc), np.concatenate([va, vb * 2, np.exp(vc)]),
                               rtol=1e-15)


@pytest.mark.parametrize("mode", ["py", "numba"])
def test_wrong_shapes_still_raise(mode):
    """The blocks must have the zeros' shape: rows or block widths that differ raise, as
    the increments would have (no silently smaller or rearranged result)."""
    z, a, b = T.dmatrix("z"), T.dmatrix("a"), T.dmatrix("b")
    g = T.inc_subtensor(T.zeros_like(z)[:, :2], a)
    g = T.inc_subtensor(g[:, 2:], b)
    f = theano.function([z, a, b], g, mode=mode)
    assert Join in op_types(f)
    ok = f(np.zeros((3, 5)), np.ones((3, 2)), np.ones((3, 3)))
    np.testing.assert_array_equal(ok, np.ones((3, 5)))
    for zs, sa, sb in [((4, 5), (3, 2), (3, 3)),     # rows differ from the zeros'
                       ((3, 5), (3, 3), (3, 2)),     # same total width, other split
                       ((3, 6), (3, 2), (3, 3)),     # last block too narrow
                       ((3, 1), (3, 2), (3, 3))]:    # axis shorter than the first block
        with pytest.raises(ValueError):
            f(np.zeros(zs), np.ones(sa), np.ones(sb))


def test_short_axis_clips_blocks_like_numpy():
    """Blocks past the end of a short axis are empty, as in numpy's slicing."""
    z, a, b, c = T.dmatrix("z"), T.dmatrix("a"), T.dmatrix("b"), T.dmatrix("c")
    g = T.inc_subtensor(T.zeros_like(z)[:, :2], a)
    g = T.inc_subtensor(g[:, 2:4], b)
    g = T.inc_subtensor(g[:, 4:], c)
    for mode in ("py", "numba"):
        f = theano.function([z, a, b, c], g, mode=mode)
        assert Join in op_types(f)
        out = f(np.zeros((2, 3)), np.ones((2, 2)), np.full((2, 1), 2.0), np.ones((2, 0)))
        np.testing.assert_array_equal(out, [[1, 1, 2], [1, 1, 2]])


@pytest.mark.parametrize("build, sa, sb", [
    # a gap: the middle block is never written, the zeros show through
    (lambda z, a, b: T.inc_subtensor(T.inc_subtensor(T.zeros_like(z)[:, :2], a)[:, 3:], b),
     (3, 2), (3, 2)),
    # overlapping blocks add up
    (lambda z, a, b: T.inc_subtensor(T.inc_subtensor(T.zeros_like(z)[:, :3], a)[:, 2:], b),
     (3, 3), (3, 3)),
    # not zeros underneath
    (lambda z, a, b: T.inc_subtensor(T.inc_subtensor(z[:, :2], a)[:, 2:], b),
     (3, 2), (3, 3)),
    # a value that stretches (broadcastable rows)
    (lambda z, a, b: T.inc_subtensor(
        T.inc_subtensor(T.zeros_like(z)[:, :2], T.addbroadcast(a[:1], 0))[:, 2:],
        T.addbroadcast(b[:1], 0)), (3, 2), (3, 3)),
    # slices of two different axes
    (lambda z, a, b: T.inc_subtensor(T.inc_subtensor(T.zeros_like(z)[:, :2], a)[1:], b),
     (3, 2), (2, 5)),
])
def test_chains_that_are_not_a_tiling_stay(build, sa, sb):
    z, a, b = T.dmatrix("z"), T.dmatrix("a"), T.dmatrix("b")
    out = build(z, a, b)
    f = theano.function([z, a, b], out, mode="numba")
    assert Join not in op_types(f)
    ref = theano.function([z, a, b], out, mode=REFERENCE)
    vz = rng.standard_normal((3, 5))
    va, vb = rng.standard_normal(sa), rng.standard_normal(sb)
    np.testing.assert_allclose(f(vz, va, vb), ref(vz, va, vb), rtol=1e-13)


@pytest.mark.parametrize("layout", ["C", "F", "strided"])
@pytest.mark.parametrize("axis", [0, 1, 2])
def test_numba_join_of_any_layout(layout, axis):
    """The Numba Join copies C-contiguous inputs block by block and any other layout
    element by element; both give numpy's result."""
    xs = [T.dtensor3() for _ in range(3)]
    f = theano.function(xs, T.join(axis, *xs), mode="numba")
    vals = []
    for k in range(3):
        shape = [2 + k if d == axis else 3 for d in range(3)]
        v = rng.standard_normal(shape)
        if layout == "F":
            v = np.asfortranarray(v)
        elif layout == "strided":
            v = np.repeat(v, 2, axis=2)[:, :, ::2]
        vals.append(v)
    np.testing.assert_array_equal(f(*vals), np.concatenate(vals, axis))
