"""Reduce (sum/prod/max/min/all/any over any axes) and Argmax/argmin: cuda vs py.

The reduced values are first negated on the device: a full reduction of a host input
would run on the host (scalar outputs of host values are computed there).
"""
from __future__ import annotations

import numpy as np
import pytest

import symgraph
import symgraph.tensor as T

AXES = [None, 0, 1, 2, (0, 2), (1, 2), (0, 1)]


@pytest.mark.parametrize("axis", AXES)
def test_float_reductions(helpers, axis):
    x = T.tensor3("x")
    xv = np.random.default_rng(3).standard_normal((3, 5, 6))
    xv[1, 2, 3] = xv[0, 0, 0]  # a tie
    def fn(x):
        d = -x
        return [d.sum(axis=axis), d.prod(axis=axis), d.max(axis=axis), d.min(axis=axis),
                (d > 0).all(axis=axis), (d > 0).any(axis=axis), d.mean(axis=axis)]

    f = helpers.compare(fn, [xv], syms=[x])
    assert sum(type(n.op).__name__ == "Reduce" for n in f.maker.fgraph.apply_nodes) >= 4


@pytest.mark.parametrize("axis", [None, 0, 1, 2])
def test_argmax_argmin_with_ties_and_nan(helpers, axis):
    x = T.tensor3("x", dtype="float32")
    xv = np.random.default_rng(4).integers(0, 3, (3, 4, 5)).astype("float32")  # many ties
    xv[2, 1, 3] = np.nan
    helpers.compare(lambda x: [T.argmax(-x, axis=axis), T.argmin(-x, axis=axis),
                               T.max(-x, axis=axis), T.min(-x, axis=axis)], [xv], syms=[x])


def test_integer_and_strided_reductions(helpers):
    a = T.matrix("a", dtype="int8")
    av = np.random.default_rng(5).integers(-100, 100, (7, 9)).astype("int8")
    helpers.compare(lambda a: [(-a).sum(), (-a).sum(axis=0), (-a).T.max(axis=1),
                               T.argmax((-a).T, axis=0), (-a)[::2, 1:].prod(axis=1), (-a).min()],
                    [av], syms=[a])


def test_long_rows_use_the_block_tree(helpers):
    """Rows longer than a block: the shared-memory tree meets partial results."""
    x = T.matrix("x", dtype="float32")
    xv = np.random.default_rng(6).standard_normal((3, 37)).astype("float32")
    helpers.compare(lambda x: [(-x).sum(axis=1), (-x).max(axis=1), T.argmin(-x, axis=1),
                               (-x).sum()], [xv], syms=[x], rtol=1e-5, atol=1e-5)


def test_empty_reductions(helpers):
    x = T.matrix("x")
    helpers.compare(lambda x: [T.exp(x).sum(axis=0), T.exp(x).prod(axis=0)], [np.ones((0, 3))],
                    syms=[x])
    f = symgraph.function([x], T.exp(x).max(axis=0), mode="cuda")
    with pytest.raises(ValueError, match="empty"):
        f(np.ones((0, 3)))


def test_full_reductions_of_bool_and_small_ints(helpers):
    x = T.tensor3("x")
    xv = np.random.default_rng(7).standard_normal((4, 5, 6))
    helpers.compare(lambda x: [(x > 0).max(), (x > 0).min(), T.argmax(x > 0),
                               T.cast(x * 10, "int8").sum(), T.cast(x * 10, "int16").max()],
                    [xv], syms=[x])
