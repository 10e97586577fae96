"""Ops written as Theano's "Creating a new Op" tutorial writes them: ``perform(self, node,
inputs, output_storage[, params])`` storing outputs, ``infer_shape(self, node, shapes)``,
and ``theano.compile.ops.as_op``. They run on every backend: the Numba backend, which
has no code for them, runs a function holding one on the py backend, with one warning
naming the op and the user's line."""
import warnings

import numpy as np
import pytest

import symgraph as theano
import symgraph.tensor as T
from symgraph.compile.ops import as_op


class DoubleOp(theano.Op):
    __props__ = ()

    def make_node(self, x):
        x = T.as_tensor_variable(x)
        return theano.Apply(self, [x], [x.type()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = inputs[0] * 2

    def infer_shape(self, node, i0_shapes):
        return i0_shapes

    def grad(self, inputs, output_grads):
        return [output_grads[0] * 2]


class AXPB(theano.Op):
    """A parameterised op whose ``perform`` takes Theano's ``params`` argument."""
    __props__ = ("a", "b")

    def __init__(self, a, b):
        self.a, self.b = a, b

    def get_params(self, node):
        return (self.a, self.b)

    def make_node(self, x):
        x = T.as_tensor_variable(x)
        return theano.Apply(self, [x], [x.type()])

    def perform(self, node, inputs, output_storage, params):
        a, b = params
        output_storage[0][0] = a * inputs[0] + b

    def grad(self, inputs, output_grads):
        return [self.a * output_grads[0]]


class Forgetful(DoubleOp):
    def perform(self, node, inputs, output_storage):
        pass


@pytest.mark.parametrize("mode", ["py", None])
def test_the_tutorials_op_runs_differentiates_and_infers_shapes(mode):
    x = T.dmatrix("x")
    v = np.arange(6.0).reshape(2, 3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        f = theano.function([x], [DoubleOp()(x), T.grad((DoubleOp()(x) * 3).sum(), x)],
                            mode=mode)
    out, g = f(v)
    np.testing.assert_array_equal(out, 2 * v)
    np.testing.assert_array_equal(g, np.full_like(v, 6.0))
    shape = theano.function([x], DoubleOp()(x).shape, mode="py")   # through infer_shape
    np.testing.assert_array_equal(shape(v), [2, 3])
    assert DoubleOp().infer_shape(None, ((2, 3),)) == ((2, 3),)   # Theano's own call
    fell_back = [w for w in caught if "has no Numba implementation" in str(w.message)]
    if mode is None:
        assert fell_back and all(w.filename == __file__ for w in fell_back)
    else:
        assert not fell_back


def test_params_argument_and_direct_storage_calls():
    x = T.dvector("x")
    op = AXPB(4.0, 5.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        f = theano.function([x], [op(x), T.grad(op(x).sum(), x)])
    out, g = f(np.array([1.0, 2.0]))
    np.testing.assert_array_equal(out, [9.0, 13.0])
    np.testing.assert_array_equal(g, [4.0, 4.0])
    node = op.make_node(x)
    storage = [[None]]
    op.perform(node, [np.array([1.0])], storage, (2.0, 1.0))   # Theano's calling style
    np.testing.assert_array_equal(storage[0][0], [3.0])


def test_as_op_and_an_op_inside_scan():
    @as_op(itypes=[T.fmatrix, T.fmatrix], otypes=[T.fmatrix],
           infer_shape=lambda node, shapes: [shapes[0][:-1] + shapes[1][-1:]])
    def numpy_dot(a, b):
        return np.dot(a, b)

    a, b = T.fmatrix("a"), T.fmatrix("b")
    A = np.arange(6, dtype="float32").reshape(2, 3)
    B = np.ones((3, 2), dtype="float32")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        f = theano.function([a, b], [numpy_dot(a, b), numpy_dot(a, b).shape])
        out, shape = f(A, B)
        np.testing.assert_array_equal(out, A @ B)
        np.testing.assert_array_equal(shape, [2, 2])
        xs = T.dmatrix("xs")
        ys, _ = theano.scan(lambda r: DoubleOp()(r) + 1, sequences=xs)
        np.testing.assert_array_equal(theano.function([xs], ys)(np.ones((3, 2))),
                                      np.full((3, 2), 3.0))
    with pytest.raises(TypeError, match="input 1 has type"):
        numpy_dot(a, T.dmatrix())


def test_a_perform_that_stores_nothing_is_named():
    x = T.dvector("x")
    f = theano.function([x], Forgetful()(x), mode="py")
    with pytest.raises(ValueError, match="Forgetful.perform stored no value"):
        f(np.ones(2))
