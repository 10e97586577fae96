"""Scan rewrites: merging scans over one sequence, dropping unused outputs, keeping only
the last state for ``[-1]`` reads, pushing loop-invariant work out of the step; results
must equal the unoptimized graph's."""
from __future__ import annotations

import numpy as np

import symgraph as theano
import symgraph.tensor as T
from symgraph.compile.mode import Mode
from symgraph.gradient import verify_grad
from symgraph.graph.basic import ancestors, toposort
from symgraph.scan_module import Scan


def _scans(f):
    return [n.op for n in f.maker.fgraph.toposort() if isinstance(n.op, Scan)]


def test_merge_remove_save_mem_push_out():
    x = T.dvector("x")
    W = T.dmatrix("W")
    r1, _ = theano.scan(lambda v, acc: acc + v, sequences=x, outputs_info=T.constant(0.))
    r2, _ = theano.scan(lambda v, acc, W: acc * 2 + v + T.exp(W).sum(), sequences=x,
                        outputs_info=T.constant(0.), non_sequences=W)
    (a, b), _ = theano.scan(lambda v: [v * 2, v * 3], sequences=x)
    outs = [r1[-1], r2[-1], a]
    f = theano.function([x, W], outs, mode="py")
    ref = theano.function([x, W], outs, mode=Mode("py", optimizer=None))
    args = ([1., 2., 3.], np.full((2, 2), 0.5))
    for u, v in zip(f(*args), ref(*args)):
        np.testing.assert_allclose(u, v)
    (op,) = _scans(f)                      # three scans over x merged into one
    assert op.store_last == (True, True)   # only [-1] of both states is read
    assert op.n_nitsot == 1                # b is never used
    inner_ops = {type(n.op).__name__ for n in toposort(op.inner_outputs, op.inner_inputs)}
    assert "Reduce" not in inner_ops, "exp(W).sum() must be computed once, before the loop"
    assert op.optimized


def test_full_history_kept_when_read():
    x = T.dvector("x")
    r, _ = theano.scan(lambda v, acc: acc + v, sequences=x, outputs_info=T.constant(0.))
    f = theano.function([x], [r, r[-1]], mode="py")
    assert _scans(f)[0].store_last == (False,)
    out = f([1., 2.])
    np.testing.assert_allclose(out[0], [1., 3.])
    assert float(out[1]) == 3.


def _inner_ops(op):
    return [type(n.op).__name__ for n in toposort(op.inner_outputs, op.inner_inputs)]


def test_push_out_seq_moves_row_products_and_elementwise_out():
    """``dot(x_t, W)`` and elementwise work on sequence rows run for all steps at once
    before the loop (one product, whole-array elementwise); the step keeps only what
    depends on the state. Values equal the unoptimized graph's."""
    x = T.dtensor3("x")
    W, U = T.dmatrix("W"), T.dmatrix("U")
    h0 = T.dmatrix("h0")
    hs, _ = theano.scan(lambda xt, h, W, U: T.tanh(T.dot(T.exp(xt) * 2, W) + T.dot(h, U)),
                        sequences=x, outputs_info=h0, non_sequences=[W, U])
    f = theano.function([x, W, U, h0], hs, mode="py")
    ref = theano.function([x, W, U, h0], hs, mode=Mode("py", optimizer=None))
    rng = np.random.default_rng(0)
    args = (rng.normal(size=(5, 2, 3)), rng.normal(size=(3, 4)), rng.normal(size=(4, 4)) * .3,
            rng.normal(size=(2, 4)))
    np.testing.assert_allclose(f(*args), ref(*args), rtol=1e-12)
    (op,) = _scans(f)
    ops = _inner_ops(op)
    assert ops.count("Dot") + ops.count("Gemm") == 1, ops   # only h @ U stays inside
    assert not any("exp" in str(n.op) for n in toposort(op.inner_outputs, op.inner_inputs))


def _lstm(nh):
    """An LSTM over ``lx`` (steps x batch x 3), float64: ``([lx, W, U, b], hs)``."""
    lx, lW, lU, lb = T.tensor3("lx", dtype="float64"), T.dmatrix("W"), T.dmatrix("U"), \
        T.dvector("b")

    def step(xt, h, c, W, U, b):
        z = T.dot(xt, W) + T.dot(h, U) + b
        i, f = T.nnet.sigmoid(z[:, :nh]), T.nnet.sigmoid(z[:, nh:2 * nh])
        c = f * c + i * T.tanh(z[:, 3 * nh:])
        return [T.nnet.sigmoid(z[:, 2 * nh:3 * nh]) * T.tanh(c), c]

    h0 = T.zeros((lx.shape[1], nh), dtype="float64")
    (hs, _), _ = theano.scan(step, sequences=lx, outputs_info=[h0, h0],
                             non_sequences=[lW, lU, lb], name="lstm")
    return [lx, lW, lU, lb], hs


def test_lstm_backward_step_does_not_recompute_the_forward():
    """BPTT of an LSTM: the backward step reads the forward's pre-activations and gates as
    sequences computed before its loop (no x_t @ W, h_{t-1} @ U or sigmoid inside), builds
    the gate gradient in one buffer (no zero-filled copies: one Join of the four gate
    blocks, ``rewriting/subtensor.py``) and makes one product per step (dz @ U.T)."""
    nh = 3
    (lx, lW, lU, lb), hs = _lstm(nh)
    h = hs[-1]
    f = theano.function([lx, lW, lU, lb], T.grad((h ** 2).sum(), [lW, lU]), mode="py")
    fwd, bwd = sorted(_scans(f), key=lambda op: op.name.startswith("grad"))
    assert bwd.name.startswith("grad")
    for op, n_dots in ((fwd, 1), (bwd, 1)):
        ops = _inner_ops(op)
        assert ops.count("Dot") + ops.count("Gemm") == n_dots, (op.name, ops)
    nodes = toposort(bwd.inner_outputs, bwd.inner_inputs)
    assert not any("sigmoid" in str(n.op) for n in nodes)
    kinds = [type(n.op).__name__ for n in nodes]
    assert "IncSubtensor" not in kinds and kinds.count("Join") == 1
    assert not any("second" in str(n.op) for n in nodes)   # no zero fill
    rng = np.random.default_rng(3)
    vals = [rng.normal(size=(4, 2, 3)), rng.normal(size=(3, 4 * nh)) * .5,
            rng.normal(size=(nh, 4 * nh)) * .5, rng.normal(size=4 * nh) * .1]
    ref = theano.function([lx, lW, lU, lb], T.grad((h ** 2).sum(), [lW, lU]),
                          mode=Mode("py", optimizer=None))
    for u, v in zip(f(*vals), ref(*vals)):
        np.testing.assert_allclose(u, v, rtol=1e-10)


def test_gradient_of_slices_is_built_in_one_buffer():
    """``inc(zeros, a, i) + inc(zeros, b, j)`` becomes chained increments, in place, in any
    graph; overlapping slices still add up."""
    z = T.dmatrix("z")
    cost = (T.nnet.sigmoid(z[:, :2]) * T.tanh(z[:, 2:4])).sum() + (z[:, 1:5] ** 2).sum()
    g = T.grad(cost, z)
    f = theano.function([z], g, mode="py")
    nodes = f.maker.fgraph.toposort()
    incs = [n for n in nodes if type(n.op).__name__ == "IncSubtensor"]
    assert len(incs) == 3 and all(n.op.inplace for n in incs)  # the fill is fresh too
    assert not any(str(n.op).startswith("Elemwise{add") for n in nodes)
    zv = np.random.default_rng(1).normal(size=(3, 6))
    s = 1 / (1 + np.exp(-zv[:, :2]))
    t = np.tanh(zv[:, 2:4])
    want = np.zeros_like(zv)
    want[:, :2] += s * (1 - s) * t
    want[:, 2:4] += s * (1 - t ** 2)
    want[:, 1:5] += 2 * zv[:, 1:5]
    np.testing.assert_allclose(f(zv), want, rtol=1e-12)


def _lstm_grad_graph(nh=3):
    ins, hs = _lstm(nh)
    return ins, T.grad((hs[-1] ** 2).sum(), ins[1:])


def _lstm_vals(nh=3, steps=4, batch=2):
    rng = np.random.default_rng(5)
    return [rng.normal(size=(steps, batch, 3)), rng.normal(size=(3, 4 * nh)) * .5,
            rng.normal(size=(nh, 4 * nh)) * .5, rng.normal(size=4 * nh) * .1]


def test_a_residual_read_only_for_its_shape_is_not_stored():
    """The gradient of ``z[:, a:b]`` needs ``z.shape``: the backward step read the forward's
    pre-activation ``z`` as a sequence only for its row shape. Now that shape comes from
    outside the loop (the forward step's shape inference), so the forward stores one
    output fewer and the backward reads one sequence fewer; the values are bit-identical
    on both backends."""
    ins, grads = _lstm_grad_graph()
    vals = _lstm_vals()
    without = Mode("py", excluding=["scan_sequence_row_shapes"])
    for mode in ("py", "numba"):
        f = theano.function(ins, grads, mode=mode)
        g = theano.function(ins, grads, mode=without if mode == "py" else
                            Mode("numba", excluding=["scan_sequence_row_shapes"]))
        (fwd, bwd), (fwd0, bwd0) = (sorted(_scans(h), key=lambda op: op.name.startswith("grad"))
                                    for h in (f, g))
        assert fwd.n_nitsot == fwd0.n_nitsot - 1, (fwd.n_nitsot, fwd0.n_nitsot)
        assert bwd.n_seqs == bwd0.n_seqs - 1
        assert "Shape_i" not in _inner_ops(bwd)
        for u, v in zip(f(*vals), g(*vals)):
            assert np.array_equal(u, v), mode
    ref = theano.function(ins, grads, mode=Mode("py", optimizer=None))
    for u, v in zip(f(*vals), ref(*vals)):
        np.testing.assert_allclose(u, v, rtol=1e-10)
    # other batch sizes and lengths: the row shape is computed per call, not baked in
    for steps, batch in ((1, 5), (7, 1)):
        vals = _lstm_vals(steps=steps, batch=batch)
        for u, v in zip(f(*vals), ref(*vals)):
            np.testing.assert_allclose(u, v, rtol=1e-10)


def test_a_sequence_not_made_by_a_scan_stays():
    """Only sequences sliced from a scan's outputs are replaced (their values exist only
    to be read back); a graph input read only for its shape stays a sequence: its values
    exist anyway, so there is nothing to save."""
    x = T.dmatrix("x")
    r, _ = theano.scan(lambda row: T.cast(row.shape[0], "float64") * 2., sequences=x)
    f = theano.function([x], r, mode="py")
    (op,) = _scans(f)
    assert op.n_seqs == 1
    np.testing.assert_array_equal(f(np.zeros((3, 4))), [8., 8., 8.])


def test_a_cost_on_the_last_state_starts_the_backward_carry():
    """BPTT with a cost on ``h[-1]`` only: the gradient of the state's output buffer is
    zero but for its last row, so the backward loop does not read a zero-filled buffer
    row by row; that row starts its carry. A state nothing reads outside (``c``) adds no
    sequence either. Costs on other rows keep the general path; all agree with the
    unoptimized graph, with truncated gradients too."""
    from symgraph.tensor.subtensor import IncSubtensor

    x, W, U = T.dtensor3("x"), T.dmatrix("W"), T.dmatrix("U")
    h0 = T.dmatrix("h0")

    def step(xt, h, c, W, U):
        c = T.tanh(T.dot(xt, W) + T.dot(h, U)) + 0.5 * c
        return [T.tanh(c), c]

    rng = np.random.default_rng(2)
    vals = [rng.normal(size=(5, 2, 3)), rng.normal(size=(3, 4)) * .5,
            rng.normal(size=(4, 4)) * .5, rng.normal(size=(2, 4))]
    for trunc in (-1, 2):
        (hs, _), _ = theano.scan(step, sequences=x, outputs_info=[h0, h0],
                                 non_sequences=[W, U], truncate_gradient=trunc)
        for cost, general in (((hs[-1] ** 2).sum(), False), ((hs ** 2).sum(), True),
                              ((hs[-2] ** 2).sum(), True)):
            grads = T.grad(cost, [W, U, h0])
            f = theano.function([x, W, U, h0], grads, mode="py")
            bwd = [n for n in f.maker.fgraph.toposort()
                   if isinstance(n.op, Scan) and n.op.name.startswith("grad")]
            (node,) = bwd
            seqs = node.inputs[1:1 + node.op.n_seqs]
            reads_buffers = any(v.owner is not None and isinstance(v.owner.op, IncSubtensor)
                                for v in ancestors(list(seqs)))
            assert reads_buffers == general, (trunc, str(cost))
            ref = theano.function([x, W, U, h0], grads, mode=Mode("py", optimizer=None))
            for u, v in zip(f(*vals), ref(*vals)):
                np.testing.assert_allclose(u, v, rtol=1e-10, atol=1e-14)


def test_a_while_loop_cost_on_its_last_state():
    """``until``: the last row of the output is the last step that ran (1, 2, 3, 4 or all
    10 here), and that is where the backward's carry starts."""
    from symgraph.scan_module import until

    x0, W, thr = T.dvector("x0"), T.dmatrix("W"), T.dscalar("thr")

    def step(h, W, thr):
        h2 = T.tanh(T.dot(h, W)) + 0.3
        return h2, until(T.sum(h2) > thr)

    hs, _ = theano.scan(step, outputs_info=x0, non_sequences=[W, thr], n_steps=10)
    grads = T.grad((hs[-1] ** 2).sum(), [x0, W])
    f = theano.function([x0, W, thr], grads + [hs.shape[0]], mode="py")
    ref = theano.function([x0, W, thr], grads, mode=Mode("py", optimizer=None))
    rng = np.random.default_rng(0)
    vals = [rng.normal(size=3) * .3, rng.normal(size=(3, 3)) * .5]
    steps = []
    for t in (-100., 0.7, 0.8, 0.86, 100.):
        *got, n = f(*vals, t)
        steps.append(int(n))
        for u, v in zip(got, ref(*vals, t)):
            np.testing.assert_allclose(u, v, rtol=1e-12)
    assert steps == [1, 2, 3, 4, 10]


def test_a_constant_that_types_a_node_stays_in_the_step():
    """The optimized step's array constants become non-sequences, except one a node reads
    to type its output: ``v.reshape((3, 1))`` is broadcastable along its second axis only
    because the 1 is a constant, and ``sum(axis=1)`` relies on it. Moving that shape out
    of the step failed with a TypeError (``DimShuffle{0}: input broadcastable pattern``)."""
    w = np.array([[1.], [2.], [3.]])

    def cost(s, x):
        acc, _ = theano.scan(lambda v, a: T.tanh(a * 2 + (v.reshape((3, 1)) * w).sum(axis=1)),
                             sequences=s, outputs_info=x)
        return acc[-1].sum()

    s, x = T.dmatrix("s"), T.dvector("x")
    outs = [cost(s, x)] + T.grad(cost(s, x), [s, x])
    sv, xv = np.arange(12.).reshape(4, 3) / 10, np.ones(3) / 3
    a = xv
    for v in sv:
        a = np.tanh(a * 2 + v * w[:, 0])
    res = {m: theano.function([s, x], outs, mode=m)(sv, xv) for m in ("py", "numba")}
    for got in res.values():
        np.testing.assert_allclose(got[0], a.sum(), rtol=1e-12)
    for p, n in zip(res["py"], res["numba"]):
        np.testing.assert_allclose(n, p, rtol=1e-12)
    verify_grad(cost, [sv, xv], mode="numba", rng=np.random.default_rng(0))
