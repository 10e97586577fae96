"""Activations, softmax family and cross-entropies (Theano's ``theano.tensor.nnet``).

Ops defined here (each with a numpy ``perform``, ``infer_shape``, a gradient built from
other ops, and a Numba generator in ``symgraph/link/numba/impl/nnet.py``):

- ``Softmax`` / ``LogSoftmax`` (row-wise over 2-D inputs) and their gradients
  ``SoftmaxGrad`` / ``LogSoftmaxGrad``;
- ``CrossentropyCategorical1Hot`` (``-log(p[i, y[i]])``) and its gradient;
- ``SoftmaxNLL``: softmax + negative log-likelihood of integer labels in one stable op,
  returning ``(nll, softmax)``, and its gradient ``SoftmaxNLLGrad``.

Elementwise activations (``relu``, ``elu``, ``hard_sigmoid``...) are plain compositions of
elementwise ops (they fuse); ``sigmoid`` and ``softplus`` are the ones of
``symgraph.tensor.math``.

Example::

    >>> import symgraph.tensor as T
    >>> x = T.matrix('x'); y = T.lvector('y')
    >>> p = T.nnet.softmax(x)
    >>> cost = T.nnet.categorical_crossentropy(p, y).mean()
"""
from __future__ import annotations

import numpy as np

from symgraph.graph.basic import Apply, Constant
from symgraph.graph.op import Op
from symgraph.tensor import math as tm
from symgraph.tensor import scalar_ops as ts
from symgraph.tensor.basic import as_tensor_args, as_tensor_variable, constant
from symgraph.tensor.elemwise import DimShuffle, Elemwise
from symgraph.tensor.math import sigmoid, softplus
from symgraph.tensor.type import FLOAT_DTYPES, INT_DTYPES, TensorType

__all__ = [
    "sigmoid", "softplus", "hard_sigmoid", "ultra_fast_sigmoid", "softsign", "relu", "elu",
    "selu", "softmax", "softmax_op", "log_softmax", "logsoftmax", "logsoftmax_op",
    "softmax_graph", "softmax_with_bias", "softmax_grad",
    "categorical_crossentropy", "binary_crossentropy", "sigmoid_binary_crossentropy",
    "crossentropy_categorical_1hot", "crossentropy_categorical_1hot_grad",
    "crossentropy_softmax_1hot", "crossentropy_softmax_1hot_with_bias",
    "crossentropy_softmax_argmax_1hot_with_bias", "softmax_nll",
    "Softmax", "LogSoftmax", "SoftmaxGrad", "LogSoftmaxGrad",
    "CrossentropyCategorical1Hot", "CrossentropyCategorical1HotGrad",
    "SoftmaxNLL", "SoftmaxNLLGrad",
]


# ----------------------------------------------------------------------------- helpers

def _float_matrix(op, x, what="x"):
    x = as_tensor_variable(x)
    if x.type.ndim != 2 or x.type.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{op}: {what} must be a 2-D float tensor (matrix of float32/float64), "
                        f"got {x.type}")
    return x


def _label_vector(op, y, what="y_idx"):
    y = as_tensor_variable(y)
    if y.type.ndim != 1 or y.type.dtype not in INT_DTYPES:
        raise TypeError(f"{op}: {what} must be a 1-D integer tensor (e.g. T.lvector/ivector) of "
                        f"class indices, got {y.type}")
    return y


def _same_float(op, *xs):
    """Cast float tensors to their common dtype (float32 + float64 -> float64)."""
    dt = str(np.result_type(*[x.type.dtype for x in xs]))
    return [x if x.type.dtype == dt else tm.cast(x, dt) for x in xs]


def _is_zeros(v) -> bool:
    """True when ``v`` is known to be all zeros (a zero constant or ``zeros_like``)."""
    if isinstance(v, Constant):
        return bool(np.all(np.asarray(v.data) == 0))
    node = v.owner
    if node is not None and isinstance(node.op, Elemwise) and \
            isinstance(node.op.scalar_op, ts.Second):
        return _is_zeros(node.inputs[1])
    if node is not None and isinstance(node.op, DimShuffle):
        return _is_zeros(node.inputs[0])
    return False


def _check_rows(op, x, y_idx):
    x = np.asarray(x)
    y_idx = np.asarray(y_idx)
    if y_idx.shape[0] != x.shape[0]:
        raise ValueError(f"{op}: the number of labels ({y_idx.shape[0]}, y_idx shape "
                         f"{y_idx.shape}) must equal the number of rows of the input "
                         f"(shape {x.shape})")
    if y_idx.size and (y_idx.min() < 0 or y_idx.max() >= x.shape[1]):
        bad = y_idx[(y_idx < 0) | (y_idx >= x.shape[1])][0]
        raise ValueError(f"{op}: label {int(bad)} is out of range [0, {x.shape[1]}) for an input "
                         f"of shape {x.shape}")


def _row_sum(x):
    return tm.sum(x, axis=1, keepdims=True)


def _col(v):
    """A vector as a column (n, 1) with a broadcastable second axis."""
    return DimShuffle(v.type.broadcastable, (0, "x"))(v)


# ----------------------------------------------------------------------------- softmax

def _np_softmax(x):
    m = np.max(x, axis=1, keepdims=True) if x.shape[1] else 0
    e = np.exp(x - m)
    return e / np.sum(e, axis=1, keepdims=True)


def _np_log_softmax(x):
    if x.shape[1] == 0:
        return np.array(x, copy=True)
    z = x - np.max(x, axis=1, keepdims=True)
    return z - np.log(np.sum(np.exp(z), axis=1, keepdims=True))


class _RowwiseOp(Op):
    """A row-wise normalisation of a float matrix (softmax, log-softmax): the output has
    the input's type; the gradient is ``grad_op(gy, output)``."""

    __props__ = ()
    np_fn = None  # numpy reference: matrix -> matrix
    grad_op = None  # the gradient Op class, applied to (gy, output)

    def make_node(self, x):
        x = _float_matrix(self, x)
        return Apply(self, [x], [x.type.make_variable()])

    def perform(self, node, inputs):
        (x,) = inputs
        with np.errstate(all="ignore"):
            r = type(self).np_fn(x)
        return [np.asarray(r, dtype=node.outputs[0].type.dtype)]

    def infer_shape(self, fgraph, node, input_shapes):
        return [input_shapes[0]]

    def L_op(self, inputs, outputs, output_grads):
        (gy,) = output_grads
        return [self.grad_op()(gy, outputs[0])]


class _RowwiseGrad(Op):
    """``(gy, y) -> gx`` for a ``_RowwiseOp`` with output ``y``; both matrices of one
    float dtype and shape."""

    __props__ = ()
    np_fn = None  # numpy reference: (gy, y) -> gx

    def make_node(self, gy, y):
        gy = _float_matrix(self, gy, "gy")
        y = _float_matrix(self, y, "y")
        gy, y = _same_float(self, gy, y)
        return Apply(self, [gy, y], [TensorType(y.type.dtype, y.type.broadcastable)()])

    def perform(self, node, inputs):
        gy, y = inputs
        if gy.shape != y.shape:
            raise ValueError(f"{self}: gy shape {gy.shape} differs from y shape {y.shape}")
        return [np.asarray(type(self).np_fn(gy, y), dtype=node.outputs[0].type.dtype)]

    def infer_shape(self, fgraph, node, input_shapes):
        return [input_shapes[1]]


class SoftmaxGrad(_RowwiseGrad):
    """Gradient of ``Softmax`` wrt its input: ``y * (gy - sum(gy * y, axis=1))``."""

    @staticmethod
    def np_fn(gy, y):
        return y * (gy - np.sum(gy * y, axis=1, keepdims=True))

    def L_op(self, inputs, outputs, output_grads):
        gy, y = inputs
        (u,) = output_grads
        t = _row_sum(u * y)
        s = _row_sum(gy * y)
        g_gy = y * (u - t)
        g_y = gy * (u - t) - s * u
        return [g_gy, g_y]


class Softmax(_RowwiseOp):
    """Row-wise softmax of a matrix: ``exp(x - max) / sum(exp(x - max))`` (stable).

    Use the function ``softmax``; it also accepts a vector (as a (1, n) matrix, like
    Theano).
    """

    np_fn = staticmethod(_np_softmax)
    grad_op = SoftmaxGrad


class LogSoftmaxGrad(_RowwiseGrad):
    """Gradient of ``LogSoftmax``: ``gy - exp(y) * sum(gy, axis=1)``."""

    @staticmethod
    def np_fn(gy, y):
        return gy - np.exp(y) * np.sum(gy, axis=1, keepdims=True)

    def L_op(self, inputs, outputs, output_grads):
        gy, y = inputs
        (u,) = output_grads
        ey = tm.exp(y)
        t = _row_sum(u * ey)
        s = _row_sum(gy)
        return [u - t, -(s * u * ey)]


class LogSoftmax(_RowwiseOp):
    """Row-wise log-softmax of a matrix: ``x - max - log(sum(exp(x - max)))`` (stable)."""

    np_fn = staticmethod(_np_log_softmax)
    grad_op = LogSoftmaxGrad


softmax_op = Softmax()
logsoftmax_op = LogSoftmax()


def _as_matrix(c, fname):
    c = as_tensor_variable(c)
    if c.type.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{fname}: expected a float vector or matrix, got {c.type}")
    if c.type.ndim == 1:
        # Theano pads a vector to a (1, n) matrix
        c = DimShuffle(c.type.broadcastable, ("x", 0))(c)
    if c.type.ndim != 2:
        raise TypeError(f"{fname}: expected a float vector or matrix (softmax is taken over the "
                        f"last axis of each row), got {c.type} with ndim {c.type.ndim}")
    return c


def softmax(c):
    """Row-wise softmax ``exp(c) / exp(c).sum(axis=1)``, computed stably.

    ``c`` is a matrix (one distribution per row). A vector is treated as a (1, n)
    matrix, as in Theano (the result is then a (1, n) matrix).

    Example: ``p_y_given_x = T.nnet.softmax(T.dot(x, W) + b)``.
    """
    return softmax_op(_as_matrix(c, "softmax"))


def log_softmax(c):
    """Row-wise ``log(softmax(c))`` computed stably (no overflow, no log(0)).

    Example: ``T.nnet.logsoftmax(x)``; also reached by the optimizer from
    ``T.log(T.nnet.softmax(x))``.
    """
    return logsoftmax_op(_as_matrix(c, "log_softmax"))


logsoftmax = log_softmax


def softmax_graph(c):
    """Softmax as elementwise ops over the last axis: ``exp(c) / exp(c).sum(-1)`` (unstable
    for large inputs; ``softmax`` is the stable op)."""
    c = as_tensor_variable(c)
    e = tm.exp(c)
    return e / tm.sum(e, axis=-1, keepdims=True)


def softmax_with_bias(x, b):
    """``softmax(x + b)`` with ``b`` a vector added to every row."""
    x = as_tensor_variable(x)
    b = as_tensor_variable(b)
    return softmax(x + b)


def softmax_grad(gy, y):
    """Gradient of softmax wrt its input given the output ``y`` and output gradient ``gy``."""
    return SoftmaxGrad()(gy, y)


# -------------------------------------------------------------------- cross-entropies

class CrossentropyCategorical1Hot(Op):
    """``y[i] = -log(coding_dist[i, true_one_of_n[i]])`` for a matrix of probabilities and
    a vector of integer labels. Labels out of range raise ValueError."""

    __props__ = ()

    def make_node(self, coding_dist, true_one_of_n):
        c = _float_matrix(self, coding_dist, "coding_dist")
        t = _label_vector(self, true_one_of_n, "true_one_of_n")
        out = TensorType(c.type.dtype, (c.type.broadcastable[0],))()
        return Apply(self, [c, t], [out])

    def perform(self, node, inputs):
        c, t = inputs
        _check_rows(self, c, t)
        with np.errstate(all="ignore"):
            r = -np.log(c[np.arange(c.shape[0]), t])
        return [np.asarray(r, dtype=node.outputs[0].type.dtype)]

    def infer_shape(self, fgraph, node, input_shapes):
        return [(input_shapes[0][0],)]

    def L_op(self, inputs, outputs, output_grads):
        c, t = inputs
        (gy,) = output_grads
        return [CrossentropyCategorical1HotGrad()(gy, c, t), None]


class CrossentropyCategorical1HotGrad(Op):
    """Gradient of ``CrossentropyCategorical1Hot`` wrt ``coding_dist``:
    ``g[i, t[i]] = -gy[i] / coding_dist[i, t[i]]``, zero elsewhere."""

    __props__ = ()

    def make_node(self, gy, coding_dist, true_one_of_n):
        gy = as_tensor_variable(gy)
        if gy.type.ndim != 1 or gy.type.dtype not in FLOAT_DTYPES:
            raise TypeError(f"{self}: gy must be a float vector, got {gy.type}")
        c = _float_matrix(self, coding_dist, "coding_dist")
        t = _label_vector(self, true_one_of_n, "true_one_of_n")
        gy, c = _same_float(self, gy, c)
        return Apply(self, [gy, c, t], [TensorType(c.type.dtype, c.type.broadcastable)()])

    def perform(self, node, inputs):
        gy, c, t = inputs
        _check_rows(self, c, t)
        if gy.shape[0] != c.shape[0]:
            raise ValueError(f"{self}: gy shape {gy.shape} does not match coding_dist shape "
                             f"{c.shape}")
        g = np.zeros(c.shape, dtype=node.outputs[0].type.dtype)
        rows = np.arange(c.shape[0])
        with np.errstate(all="ignore"):
            g[rows, t] = -gy / c[rows, t]
        return [g]

    def infer_shape(self, fgraph, node, input_shapes):
        return [input_shapes[1]]

    def L_op(self, inputs, outputs, output_grads):
        gy, c, t = inputs
        (u,) = output_grads
        op = CrossentropyCategorical1HotGrad()
        # <out, u> = -sum_i gy_i u[i, t_i] / c[i, t_i]
        picked = tm.sum(u * op(tm.ones_like(gy), c, t), axis=1)  # -u[i,t]/c[i,t]
        return [picked, op(gy * picked, c, t), None]


def crossentropy_categorical_1hot(coding_dist, true_one_of_n):
    """``-log(coding_dist[arange(n), true_one_of_n])`` (one value per row)."""
    return CrossentropyCategorical1Hot()(coding_dist, true_one_of_n)


def crossentropy_categorical_1hot_grad(gy, coding_dist, true_one_of_n):
    return CrossentropyCategorical1HotGrad()(gy, coding_dist, true_one_of_n)


def categorical_crossentropy(coding_dist, true_dist):
    """Cross-entropy between a predicted distribution and the true one, per row.

    ``coding_dist``: matrix of probabilities (e.g. the output of ``softmax``).
    ``true_dist``: either a matrix of the same shape (one-hot or soft targets), giving
    ``-sum(true_dist * log(coding_dist), axis=1)``, or an integer vector of class indices,
    giving ``-log(coding_dist[i, true_dist[i]])``. With ``coding_dist = softmax(x)`` the
    optimizer computes the integer-label form with the fused, stable ``SoftmaxNLL`` op.

    Example: ``cost = T.nnet.categorical_crossentropy(T.nnet.softmax(x), y).mean()``.
    """
    coding_dist = as_tensor_variable(coding_dist)
    true_dist = as_tensor_variable(true_dist)
    if true_dist.type.ndim == coding_dist.type.ndim:
        return -tm.sum(true_dist * tm.log(coding_dist), axis=coding_dist.type.ndim - 1)
    if true_dist.type.ndim == coding_dist.type.ndim - 1:
        return crossentropy_categorical_1hot(coding_dist, true_dist)
    raise TypeError(f"categorical_crossentropy: rank mismatch between coding_dist "
                    f"({coding_dist.type}) and true_dist ({true_dist.type}); true_dist must "
                    f"have the same ndim (one-hot/probabilities) or one less (integer labels)")


def binary_crossentropy(output, target):
    """Elementwise ``-(target * log(output) + (1 - target) * log(1 - output))``.

    ``output`` holds probabilities (e.g. ``sigmoid(z)``; the optimizer rewrites
    ``log(sigmoid(z))`` into the stable ``-softplus(-z)``). See also
    ``sigmoid_binary_crossentropy`` which takes ``z`` directly.
    """
    output, target = as_tensor_args(output, target)
    return -(target * tm.log(output) + (1.0 - target) * tm.log(1.0 - output))


def sigmoid_binary_crossentropy(output, target):
    """``binary_crossentropy(sigmoid(output), target)`` computed stably from the
    pre-sigmoid ``output``: ``softplus(-|output|) + output * ((output > 0) - target)``."""
    output, target = as_tensor_args(output, target)
    pos = tm.cast(tm.gt(output, 0), output.type.dtype)
    return softplus(-tm.abs(output)) + output * (pos - target)


# -------------------------------------------------------------- softmax + NLL fused

class SoftmaxNLL(Op):
    """Softmax and negative log-likelihood of integer labels in one stable op.

    ``SoftmaxNLL()(x, y_idx) -> (nll, sm)`` with ``sm = softmax(x)`` and
    ``nll[i] = -log(sm[i, y_idx[i]]) = logsumexp(x[i]) - x[i, y_idx[i]]`` computed without
    overflow or ``log(0)``. The gradient wrt ``x`` is ``gnll[:, None] * (sm - onehot)``.
    Theano calls it ``CrossentropySoftmaxArgmax1HotWithBias``; the optimizer substitutes it
    for ``categorical_crossentropy(softmax(x), y)``.
    """

    __props__ = ()

    def make_node(self, x, y_idx):
        x = _float_matrix(self, x)
        y_idx = _label_vector(self, y_idx)
        nll = TensorType(x.type.dtype, (x.type.broadcastable[0],))()
        return Apply(self, [x, y_idx], [nll, x.type.make_variable()])

    def perform(self, node, inputs):
        x, y = inputs
        _check_rows(self, x, y)
        dt = node.outputs[0].type.dtype
        if x.shape[1] == 0:
            return [np.zeros(x.shape[0], dt), np.array(x, dtype=dt, copy=True)]
        with np.errstate(all="ignore"):
            m = np.max(x, axis=1, keepdims=True)
            e = np.exp(x - m)
            s = np.sum(e, axis=1, keepdims=True)
            sm = e / s
            rows = np.arange(x.shape[0])
            nll = np.log(s[:, 0]) - (x[rows, y] - m[:, 0])
        return [np.asarray(nll, dtype=dt), np.asarray(sm, dtype=dt)]

    def infer_shape(self, fgraph, node, input_shapes):
        return [(input_shapes[0][0],), input_shapes[0]]

    def L_op(self, inputs, outputs, output_grads):
        x, y = inputs
        gnll, gsm = output_grads
        sm = outputs[1]
        g = None
        if not _is_zeros(gnll):
            g = SoftmaxNLLGrad()(gnll, sm, y)
        if not _is_zeros(gsm):
            gs = SoftmaxGrad()(gsm, sm)
            g = gs if g is None else g + gs
        if g is None:
            g = tm.zeros_like(x)
        return [g, None]


class SoftmaxNLLGrad(Op):
    """Gradient of ``SoftmaxNLL``'s nll wrt x: ``gnll[:, None] * (sm - onehot(y_idx))``.

    Theano calls it ``CrossentropySoftmax1HotWithBiasDx``.
    """

    __props__ = ()

    def make_node(self, gnll, sm, y_idx):
        gnll = as_tensor_variable(gnll)
        if gnll.type.ndim != 1 or gnll.type.dtype not in FLOAT_DTYPES:
            raise TypeError(f"{self}: gnll must be a float vector, got {gnll.type}")
        sm = _float_matrix(self, sm, "sm")
        y_idx = _label_vector(self, y_idx)
        gnll, sm = _same_float(self, gnll, sm)
        return Apply(self, [gnll, sm, y_idx], [TensorType(sm.type.dtype, sm.type.broadcastable)()])

    def perform(self, node, inputs):
        gnll, sm, y = inputs
        _check_rows(self, sm, y)
        if gnll.shape[0] != sm.shape[0]:
            raise ValueError(f"{self}: gnll shape {gnll.shape} does not match sm shape {sm.shape}")
        g = gnll[:, None] * sm
        g[np.arange(sm.shape[0]), y] -= gnll
        return [np.asarray(g, dtype=node.outputs[0].type.dtype)]

    def infer_shape(self, fgraph, node, input_shapes):
        return [input_shapes[1]]

    def L_op(self, inputs, outputs, output_grads):
        gnll, sm, y = inputs
        (u,) = output_grads
        d = SoftmaxNLLGrad()(tm.ones_like(gnll), sm, y)  # sm - onehot
        return [tm.sum(u * d, axis=1), _col(gnll) * u, None]


def softmax_nll(x, y_idx):
    """Negative log-likelihood ``-log(softmax(x)[i, y_idx[i]])`` per row, fused and stable.

    Example: ``cost = T.nnet.softmax_nll(T.dot(h, W) + b, y).mean()``.
    """
    return SoftmaxNLL()(x, y_idx)[0]


def crossentropy_softmax_1hot(x, y_idx, **kwargs):
    """``(nll, softmax(x))`` with ``nll[i] = -log(softmax(x)[i, y_idx[i]])`` (one fused op)."""
    nll, sm = SoftmaxNLL()(x, y_idx)
    return nll, sm


def crossentropy_softmax_1hot_with_bias(x, b, y_idx, **kwargs):
    """``crossentropy_softmax_1hot(x + b, y_idx)`` with ``b`` a vector of biases."""
    x = as_tensor_variable(x)
    return crossentropy_softmax_1hot(x + as_tensor_variable(b), y_idx)


def crossentropy_softmax_argmax_1hot_with_bias(x, b, y_idx, **kwargs):
    """``(nll, softmax(x + b), argmax(x + b, axis=1))``."""
    z = as_tensor_variable(x) + as_tensor_variable(b)
    nll, sm = SoftmaxNLL()(z, y_idx)
    return nll, sm, tm.argmax(z, axis=1)


# ---------------------------------------------------------------------- activations

def relu(x, alpha=0):
    """Rectified linear unit ``max(0, x)``; with ``alpha`` the leaky version
    ``x if x > 0 else alpha * x``. ``alpha`` may be a number or a tensor.

    Example: ``h = T.nnet.relu(T.dot(x, W) + b)``.
    """
    x = as_tensor_variable(x)
    if isinstance(alpha, (int, float)) and alpha == 0:
        # Theano's formula: 0.5 * (x + |x|); its gradient at 0 is 0.5
        return 0.5 * (x + tm.abs(x))
    if isinstance(alpha, (int, float)):
        f1 = 0.5 * (1 + alpha)
        f2 = 0.5 * (1 - alpha)
        return f1 * x + f2 * tm.abs(x)
    alpha = as_tensor_variable(alpha)
    f1 = 0.5 * (1 + alpha)
    f2 = 0.5 * (1 - alpha)
    return f1 * x + f2 * tm.abs(x)


def elu(x, alpha=1):
    """Exponential linear unit: ``x if x > 0 else alpha * (exp(x) - 1)``."""
    x = as_tensor_variable(x)
    return tm.switch(tm.gt(x, 0), x, alpha * tm.expm1(x))


def selu(x):
    """Scaled ELU: ``scale * elu(x, alpha)`` with the self-normalizing constants."""
    alpha = 1.6732632423543772848170429916717
    scale = 1.0507009873554804934193349852946
    return scale * elu(x, alpha)


def hard_sigmoid(x):
    """Piecewise-linear sigmoid: ``clip(0.2 * x + 0.5, 0, 1)`` (Theano's constants)."""
    x = as_tensor_variable(x)
    dt = x.type.dtype if x.type.dtype in FLOAT_DTYPES else "float64"
    slope = constant(0.2, dtype=dt)
    shift = constant(0.5, dtype=dt)
    return tm.clip(x * slope + shift, 0, 1)


def ultra_fast_sigmoid(x):
    """Theano's fast approximation of the sigmoid; here the exact ``sigmoid``."""
    return sigmoid(x)


def softsign(x):
    """``x / (1 + |x|)``."""
    x = as_tensor_variable(x)
    return x / (1 + tm.abs(x))
