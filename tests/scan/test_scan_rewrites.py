"""Scan rewrites: merging scans over one sequence, dropping unused outputs, keeping only
the last state for ``[-1]`` reads, pushing loop-invariant work out of the step; results
must equal the unoptimized graph's."""
from __future__ import annotations

import numpy as np

import symgraph as theano
import symgraph.tensor as T
from symgraph.compile.mode import Mode
from symgraph.graph.basic import toposort
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
