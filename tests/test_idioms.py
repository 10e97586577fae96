"""Theano idioms that existing code relies on (issue 21, item 1), each as Theano 1.0
documents or implements it."""
import warnings

import numpy as np
import pytest

import symgraph as theano
import symgraph.tensor as T
from symgraph.gradient import DisconnectedInputError
from symgraph.graph.basic import Variable


# -- truthiness ------------------------------------------------------------------------

def test_every_variable_is_truthy_but_comparisons():
    W = T.matrix("W")
    assert bool(W) and bool(W + 1) and bool(T.constant(0)) and bool(theano.shared(0.0))
    b = None
    b = b if b else T.vector("b")          # the optional-parameter idiom
    assert b.name == "b"
    for cmp in (W < 1, W <= 1, W > 1, W >= 1):
        with pytest.raises(TypeError, match="no truth value"):
            bool(cmp)
    a, c = T.scalars("ac")
    with pytest.raises(TypeError):
        a < W < c                            # (a < W) and (W < c)
    assert bool(T.lt(W, 1))                  # Theano: only the operators mark results


# -- symbolic shapes unpack -------------------------------------------------------------

def test_shape_unpacks_when_ndim_known():
    x = T.tensor3("x")
    seq_len, batch, _ = x.shape
    f = theano.function([x], [seq_len, batch], mode="py")
    assert [int(v) for v in f(np.zeros((4, 2, 3)))] == [4, 2]
    assert len(list(T.constant(np.arange(5)))) == 5
    assert len(list(T.stack([seq_len, batch]))) == 2
    with pytest.raises(TypeError, match="cannot be iterated"):
        iter(T.vector("v"))                  # length unknown when the graph is built
    with pytest.raises(TypeError, match="cannot be iterated"):
        a, b = T.matrix("m")


# -- _multi naming rules ----------------------------------------------------------------

def test_plural_constructors_follow_theano_multi():
    p, t = T.matrices("pt")                  # one string: one variable per character
    assert (p.name, t.name, p.ndim) == ("p", "t", 2)
    x = T.matrices("x")                      # a single name: the variable, not a list
    assert not isinstance(x, list) and x.name == "x"
    a, b = T.dscalars("a", "b")
    assert (a.name, b.name, a.dtype) == ("a", "b", "float64")
    vs = T.fvectors(3)                       # a count: that many unnamed variables
    assert len(vs) == 3 and all(v.name is None and v.dtype == "float32" for v in vs)
    assert len(T.fvectors(1)) == 1           # a list even for one
    assert [v.name for v in T.imatrices(["ab", "c"])] == ["ab", "c"]
    assert [v.name for v in T.lvectors("xy", "z")] == ["xy", "z"]
    assert T.matrices() == []
    with pytest.raises(TypeError):
        T.matrices(3.5)


# -- shape hints, indexing, TensorType --------------------------------------------------

def test_conv_shape_hints_accept_numpy_integers():
    from symgraph.tensor.nnet import conv

    out = conv.conv2d(T.tensor4("x"), T.tensor4("w"), input_shape=(np.int64(2), 1, 5, 5),
                      filter_shape=(np.int32(3), np.int64(1), 2, 2))
    assert out.owner.op.imshp == (2, 1, 5, 5) and out.owner.op.kshp == (3, 1, 2, 2)
    with pytest.raises(ValueError, match="negative"):
        conv.conv2d(T.tensor4(), T.tensor4(), input_shape=(np.int64(-2), 1, 5, 5))


def test_list_of_slices_indexes_like_a_tuple():
    m = T.dmatrix("m")
    a = np.arange(12.0).reshape(3, 4)
    f = theano.function([m], [m[[slice(None), 0]], m[[slice(1, None), slice(None, 2)]]],
                        mode="py")
    r0, r1 = f(a)
    np.testing.assert_array_equal(r0, a[:, 0])
    np.testing.assert_array_equal(r1, a[1:, :2])
    # a list of ints stays advanced indexing
    np.testing.assert_array_equal(theano.function([m], m[[0, 2]], mode="py")(a), a[[0, 2]])


def test_tensortype_takes_a_name():
    tt = T.TensorType("float32", (False, True), name="fcol_t")
    assert str(tt) == "fcol_t"
    assert tt == T.TensorType("float32", (False, True))    # the name is not part of equality
    v = tt("v")
    assert v.type.broadcastable == (False, True) and v.name == "v"


# -- numpy defers to variables ----------------------------------------------------------

def test_numpy_array_op_variable_is_symbolic():
    x = T.dvector("x")
    a = np.array([1.0, 2.0, 3.0])
    for expr, ref in ((a + x, a + 1), (a * x, a * 1), (a - x, a - 1), (a / x, a / 1),
                      (np.float64(2.0) * x, 2.0 * np.ones(3)), (a ** x, a ** 1)):
        assert isinstance(expr, Variable), type(expr)
        np.testing.assert_allclose(theano.function([x], expr, mode="py")(np.ones(3)), ref)
    assert isinstance(a < x, Variable)
    with pytest.raises(TypeError):
        np.add(a, x)                         # ufuncs refuse: no object array of variables


# -- gradient wrt an integer shared variable --------------------------------------------

def test_grad_wrt_integer_shared_variable():
    x = T.dvector("x")
    step = theano.shared(np.int64(3), name="step")
    w = theano.shared(np.ones(2), name="w")
    cost = (x * step).sum() + (w * x).sum()
    g_step, g_w = T.grad(cost, [step, w])     # connected integer: zeros of floatX
    assert g_step.dtype == theano.config.floatX and g_step.ndim == 0
    gs, gw = theano.function([x], [g_step, g_w], mode="py")(np.array([1.0, 2.0]))
    assert float(gs) == 0.0
    np.testing.assert_allclose(gw, [1.0, 2.0])
    with pytest.raises(DisconnectedInputError):
        T.grad(x.sum(), step)                 # disconnected: disconnected_inputs decides
    with pytest.warns(UserWarning, match="disconnected"):
        T.grad(x.sum(), step, disconnected_inputs="warn")
    assert float(T.grad(x.sum(), step, disconnected_inputs="ignore").eval()) == 0.0


# -- jacobian in the default (Numba) mode -----------------------------------------------

@pytest.mark.slow  # compiles the jacobian's inner graph as its own Numba module (~20 s cold)
def test_jacobian_in_default_mode():
    x = T.dvector("x")
    # the inner graph of this jacobian holds array constants after rewriting
    J = T.jacobian(x ** 2 + T.constant(np.array([1.0, 2.0, 3.0])) * x, x)
    f = theano.function([x], J)
    assert f.maker.mode.linker == "numba"
    v = np.array([1.0, -2.0, 0.5])
    np.testing.assert_allclose(f(v), np.diag(2 * v + [1.0, 2.0, 3.0]))


def test_small_theano_names():
    """Names Theano programs use that symgraph lacked: ``T.stacklists``, the
    ``advanced_*_subtensor1`` functions in ``T``'s namespace, ``x.nonzero()``,
    ``theano.printing.pprint``."""
    a, b, c, d = T.dscalars("a", "b", "c", "d")
    m = T.stacklists([[a, b], [c, d]])
    assert m.ndim == 2
    np.testing.assert_array_equal(theano.function([a, b, c, d], m)(1, 2, 3, 4),
                                  [[1.0, 2.0], [3.0, 4.0]])
    x, i = T.dmatrix("x"), T.lvector("i")
    f = theano.function([x, i], [T.advanced_inc_subtensor1(x, T.ones_like(x[i]), i),
                                 T.advanced_set_subtensor1(x, T.zeros_like(x[i]), i),
                                 *x.nonzero()])
    v = np.arange(6.0).reshape(2, 3)
    inc, put, rows, cols = f(v, np.array([1, 1]))
    np.testing.assert_array_equal(inc, [[0, 1, 2], [5, 6, 7]])
    np.testing.assert_array_equal(put, [[0, 1, 2], [0, 0, 0]])
    np.testing.assert_array_equal(rows, np.nonzero(v)[0])
    np.testing.assert_array_equal(cols, np.nonzero(v)[1])
    assert theano.printing.pprint(T.tanh(x) + 1) == theano.pp(T.tanh(x) + 1)


def test_theano_package_names_layer_libraries_use():
    """``theano.gof`` without importing it, the IR classes at the package's top level and
    ``theano.scan_module.scan_utils.equal_computations`` (Lasagne 0.1's library and test
    suite use all three; 48 of its tests failed on the first)."""
    from symgraph.scan_module.scan_utils import equal_computations

    x = T.dvector("x")
    assert isinstance(x, theano.gof.Variable) and theano.Variable is theano.gof.Variable
    assert theano.Apply is theano.gof.Apply and theano.Op is theano.gof.Op
    assert isinstance(theano.gof.graph.inputs([x * 2])[0], theano.Variable)
    assert equal_computations([T.exp(x) + 1], [T.exp(x) + 1])
    assert not equal_computations([T.exp(x) + 1], [T.exp(x) + 2])
