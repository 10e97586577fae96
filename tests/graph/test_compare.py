"""Theano's graph utilities (``symgraph.graph.compare``): ``gof.graph.inputs``,
``is_same_graph``, ``equal_computations``, ``gof.graph.clone`` and ``theano.clone``
(issue 21 item 2)."""
import numpy as np
import pytest

import symgraph as theano
import symgraph.tensor as T
from symgraph.graph.compare import clone, equal_computations, inputs, is_same_graph


def test_inputs_theano_order():
    x, y, z = T.dscalars("x", "y", "z")
    # Theano's dfs: the last output is expanded first, inputs left to right
    assert [v.name for v in inputs([x * y + z])] == ["x", "y", "z"]
    assert [v.name for v in inputs([z + y, x * 2])] == ["x", None, "z", "y"]
    c = inputs([x + 2])
    assert c[0] is x and isinstance(c[1], theano.graph.basic.Constant)
    m = x * y
    assert inputs([m], blockers=[m]) == []   # Theano lists only owner-less variables


def test_is_same_graph_and_equal_computations():
    x, y, z = T.dscalars("x", "y", "z")
    assert is_same_graph(x + y, x + y)
    assert not is_same_graph(x + y, x + z)
    assert not is_same_graph(x * (y * z), (x * y) * z)
    assert is_same_graph(x + y, x + z, givens={z: y})
    assert is_same_graph(x + 2, x + 2)          # constants compare by value
    assert not is_same_graph(x + 2, x + 3)
    a, b = T.dscalars("a", "b")
    assert equal_computations([T.exp(x) + y], [T.exp(a) + b], [x, y], [a, b])
    assert not equal_computations([T.exp(x) + y], [T.exp(a) + b], [x, y], [b, a])
    assert not equal_computations([x], [x, y])
    with pytest.raises(TypeError, match="Variable"):
        is_same_graph(x, 3)


def test_gof_clone_copies_nodes():
    x = T.dvector("x")
    out = T.exp(x) * 2
    (x2,), (out2,) = clone([x], [out])
    assert x2 is not x and out2 is not out and out2.owner is not out.owner
    assert equal_computations([out], [out2], [x], [x2])


def test_theano_clone_replace_and_share_inputs():
    x, y = T.dvectors("x", "y")
    w = theano.shared(np.array([1.0, 2.0]), name="w")
    out = T.sum(x * w) + T.sum(y)
    new_x = T.dvector("nx")
    c = theano.clone(out, replace={x: new_x})
    f = theano.function([new_x, y], c)
    np.testing.assert_allclose(f([1, 1], [3, 4]), 3 + 7)
    assert x not in inputs([c]) and y in inputs([c]) and w in inputs([c])
    # a list of pairs works too; a list of outputs gives a list
    c1, c2 = theano.clone([out, x * 2], replace=[(y, x)])
    assert y not in inputs([c1])
    # share_inputs=False: fresh symbolic inputs, shared variables kept
    c3 = theano.clone(out, share_inputs=False)
    ins = inputs([c3])
    assert x not in ins and y not in ins and w in ins
    assert {v.name for v in ins if v is not w} >= {"x", "y"}
    # strict types
    with pytest.raises(TypeError, match="strict"):
        theano.clone(out, replace={x: T.fvector("f")})
    c4 = theano.clone(out, replace={x: T.fvector("f")}, strict=False)
    assert c4.type.dtype == "float64"
    with pytest.raises(TypeError, match="pair"):
        theano.clone(out, replace=[x])
