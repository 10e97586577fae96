"""2-D pooling over the last two axes (Theano's ``theano.tensor.signal.pool``).

``pool_2d(input, ws, ignore_border=None, stride=None, pad=(0, 0), mode='max')`` pools
each (rows, cols) image of an input with 2 or more dimensions. Modes: 'max', 'sum',
'average_inc_pad' (divide by the window size, padding included) and 'average_exc_pad'
(divide by the number of real cells). Max and sum ignore the padding.

Output length along an axis of length ``n`` (with ``np = n + 2 * pad``)::

    ignore_border=True : max(0, (np - ws) // stride + 1)
    ignore_border=False: (np - 1) // stride + 1                     if stride >= ws
                         max(0, (np - 1 - ws) // stride + 1) + 1    otherwise

so ``ignore_border=False`` keeps partial windows at the bottom/right borders. Padding
needs ``ignore_border=True`` and must be smaller than the window (as in Theano).

Example::

    >>> import symgraph.tensor as T
    >>> from symgraph.tensor.signal import pool
    >>> x = T.tensor4('x')
    >>> y = pool.pool_2d(x, ws=(2, 2), ignore_border=True)
"""
from __future__ import annotations

import numbers
import warnings

import numpy as np

from symgraph.graph.basic import Apply, Variable
from symgraph.graph.op import Op
from symgraph.tensor import math as tm
from symgraph.tensor.basic import as_tensor_variable
from symgraph.tensor.type import FLOAT_DTYPES, TensorType

__all__ = ["pool_2d", "max_pool_2d", "max_pool_2d_same_size", "Pool", "MaxPoolGrad",
           "AveragePoolGrad", "MaxPoolGradGrad", "pool_out_shape"]

MODES = {"max": 0, "sum": 1, "average_inc_pad": 2, "average_exc_pad": 3}


def _pair(v, what, minimum):
    if isinstance(v, Variable):
        raise TypeError(f"pool_2d: {what} must be a pair of Python ints (symbolic {what} is not "
                        f"supported), got {v}")
    if isinstance(v, (numbers.Integral, np.integer)) and not isinstance(v, bool):
        v = (v, v)
    try:
        v = tuple(v)
    except TypeError:
        raise TypeError(f"pool_2d: {what} must be a pair of ints, got {v!r}") from None
    if len(v) != 2 or not all(isinstance(s, (numbers.Integral, np.integer))
                              and not isinstance(s, bool) for s in v):
        raise TypeError(f"pool_2d: {what} must be a pair of ints, got {v!r}")
    v = tuple(int(s) for s in v)
    if min(v) < minimum:
        raise ValueError(f"pool_2d: {what} entries must be >= {minimum}, got {v!r}")
    return v


def _out_len(n, ws, stride, pad, ignore_border):
    """Output length along one axis; ``n`` may be a Python int or a symbolic int."""
    v = n + 2 * pad
    if ignore_border:
        r = (v - ws) // stride + 1
        return max(0, r) if isinstance(r, int) else tm.maximum(r, 0)
    if stride >= ws:
        return (v - 1) // stride + 1
    r = (v - 1 - ws) // stride + 1
    return (max(0, r) if isinstance(r, int) else tm.maximum(r, 0)) + 1


def pool_out_shape(imgshape, ws, ignore_border=False, stride=None, pad=(0, 0)):
    """Shape of ``pool_2d``'s output for an input of shape ``imgshape`` (ints or symbolic).

    >>> pool_out_shape((10, 3, 5, 5), (2, 2), ignore_border=False)
    (10, 3, 3, 3)
    """
    stride = ws if stride is None else stride
    lead = tuple(imgshape[:-2])
    return lead + (_out_len(imgshape[-2], ws[0], stride[0], pad[0], ignore_border),
                   _out_len(imgshape[-1], ws[1], stride[1], pad[1], ignore_border))


# ----------------------------------------------------------------------- numpy core

def _bounds(n_out, size, ws, stride, pad):
    """Per output index: real-cell range [lo, hi) (unpadded) and the inc-pad extent."""
    v = size + 2 * pad
    res = []
    for i in range(n_out):
        s = i * stride
        e = min(s + ws, v)
        res.append((max(s, pad) - pad, min(e, size + pad) - pad, e - s))
    return res


def _as4d(x):
    if x.ndim == 4:
        return x
    h, w = x.shape[-2:]
    lead = x.shape[:-2]
    if x.ndim == 2:
        return x.reshape(1, 1, h, w)
    return x.reshape(int(np.prod(lead[:-1])), lead[-1], h, w)


def _pool_np(op, x):
    x4 = _as4d(x)
    n, c, h, w = x4.shape
    oh = _out_len(h, op.ws[0], op.stride[0], op.pad[0], op.ignore_border)
    ow = _out_len(w, op.ws[1], op.stride[1], op.pad[1], op.ignore_border)
    out = np.empty((n, c, oh, ow), dtype=x.dtype)
    rows = _bounds(oh, h, op.ws[0], op.stride[0], op.pad[0])
    cols = _bounds(ow, w, op.ws[1], op.stride[1], op.pad[1])
    mode = op.mode
    for i, (r0, r1, rext) in enumerate(rows):
        for j, (c0, c1, cext) in enumerate(cols):
            win = x4[:, :, r0:r1, c0:c1]
            if mode == "max":
                out[:, :, i, j] = win.max(axis=(2, 3))
            elif mode == "sum":
                out[:, :, i, j] = win.sum(axis=(2, 3))
            elif mode == "average_inc_pad":
                out[:, :, i, j] = win.sum(axis=(2, 3)) / x.dtype.type(rext * cext)
            else:
                out[:, :, i, j] = win.sum(axis=(2, 3)) / x.dtype.type((r1 - r0) * (c1 - c0))
    return out.reshape(x.shape[:-2] + (oh, ow))


def _unpool_np(op, x, maxout, gz):
    """Gradient of pooling wrt x (max: to every cell equal to its window's max)."""
    x4 = _as4d(x)
    g4 = _as4d(gz)
    m4 = _as4d(maxout) if maxout is not None else None
    n, c, h, w = x4.shape
    oh, ow = g4.shape[2:]
    gx = np.zeros((n, c, h, w), dtype=gz.dtype)
    rows = _bounds(oh, h, op.ws[0], op.stride[0], op.pad[0])
    cols = _bounds(ow, w, op.ws[1], op.stride[1], op.pad[1])
    mode = op.mode
    for i, (r0, r1, rext) in enumerate(rows):
        for j, (c0, c1, cext) in enumerate(cols):
            g = g4[:, :, i, j][:, :, None, None]
            if mode == "max":
                mask = x4[:, :, r0:r1, c0:c1] == m4[:, :, i, j][:, :, None, None]
                gx[:, :, r0:r1, c0:c1] += np.where(mask, g, gz.dtype.type(0))
            elif mode == "sum":
                gx[:, :, r0:r1, c0:c1] += g
            elif mode == "average_inc_pad":
                gx[:, :, r0:r1, c0:c1] += g / gz.dtype.type(rext * cext)
            else:
                gx[:, :, r0:r1, c0:c1] += g / gz.dtype.type((r1 - r0) * (c1 - c0))
    return gx.reshape(x.shape)


def _maxpool_gradgrad_np(op, x, maxout, ggx):
    x4, m4, gg4 = _as4d(x), _as4d(maxout), _as4d(ggx)
    n, c, h, w = x4.shape
    oh, ow = m4.shape[2:]
    out = np.zeros((n, c, oh, ow), dtype=ggx.dtype)
    rows = _bounds(oh, h, op.ws[0], op.stride[0], op.pad[0])
    cols = _bounds(ow, w, op.ws[1], op.stride[1], op.pad[1])
    for i, (r0, r1, _) in enumerate(rows):
        for j, (c0, c1, _) in enumerate(cols):
            mask = x4[:, :, r0:r1, c0:c1] == m4[:, :, i, j][:, :, None, None]
            out[:, :, i, j] = np.where(mask, gg4[:, :, r0:r1, c0:c1], 0).sum(axis=(2, 3))
    return out.reshape(maxout.shape)


# -------------------------------------------------------------------------------- ops

class _PoolBase(Op):
    def __init__(self, ws, ignore_border=False, stride=None, pad=(0, 0), mode="max"):
        self.ws = _pair(ws, "ws", 1)
        self.stride = self.ws if stride is None else _pair(stride, "stride", 1)
        self.pad = _pair(pad, "pad", 0)
        self.ignore_border = bool(ignore_border)
        if mode not in MODES:
            raise ValueError(f"pool_2d: mode must be one of {sorted(MODES)}, got {mode!r}")
        self.mode = mode
        if self.pad != (0, 0) and not self.ignore_border:
            raise NotImplementedError("pool_2d: padding works only with ignore_border=True")
        if self.pad[0] >= self.ws[0] or self.pad[1] >= self.ws[1]:
            raise NotImplementedError(f"pool_2d: padding {self.pad} must be smaller than the "
                                      f"window {self.ws}")

    @property
    def mode_code(self) -> int:
        return MODES[self.mode]

    def _input(self, x, what="input"):
        x = as_tensor_variable(x)
        if x.type.ndim < 2:
            raise TypeError(f"{self}: the {what} must have at least 2 dimensions (pooling is "
                            f"over the last two), got {x.type}")
        return x

    def out_shape(self, shape):
        return pool_out_shape(shape, self.ws, self.ignore_border, self.stride, self.pad)

    def _check_grad_shape(self, x, gz):
        exp = self.out_shape(x.shape)
        if tuple(gz.shape) != tuple(exp):
            raise ValueError(f"{self}: the output gradient has shape {gz.shape}, expected "
                             f"{tuple(exp)} for an input of shape {x.shape}")


class Pool(_PoolBase):
    """Pool the last two axes of an input with >= 2 dims (see the module docstring)."""

    __props__ = ("ws", "ignore_border", "stride", "pad", "mode")

    def make_node(self, x):
        x = self._input(x)
        if x.type.dtype not in FLOAT_DTYPES:
            raise TypeError(f"{self}: pooling needs a float32/float64 input, got {x.type} (cast "
                            f"it first)")
        bcast = x.type.broadcastable[:-2] + (False, False)
        return Apply(self, [x], [TensorType(x.type.dtype, bcast)()])

    def perform(self, node, inputs):
        (x,) = inputs
        out = _pool_np(self, np.asarray(x))
        return [np.asarray(out, dtype=node.outputs[0].type.dtype)]

    def infer_shape(self, fgraph, node, input_shapes):
        return [self.out_shape(tuple(input_shapes[0]))]

    def L_op(self, inputs, outputs, output_grads):
        (x,) = inputs
        (gz,) = output_grads
        if x.type.dtype not in FLOAT_DTYPES:
            return [None]
        args = (self.ws, self.ignore_border, self.stride, self.pad)
        if self.mode == "max":
            return [MaxPoolGrad(*args)(x, outputs[0], gz)]
        return [AveragePoolGrad(*args, mode=self.mode)(x, gz)]


class MaxPoolGrad(_PoolBase):
    """Gradient of max pooling: ``(x, maxout, gz) -> gx``; each window's gradient goes to
    every cell equal to the window's max (Theano's rule)."""

    __props__ = ("ws", "ignore_border", "stride", "pad")

    def __init__(self, ws, ignore_border=False, stride=None, pad=(0, 0)):
        super().__init__(ws, ignore_border, stride, pad, "max")

    def make_node(self, x, maxout, gz):
        x = self._input(x)
        maxout = self._input(maxout, "max output")
        gz = self._input(gz, "output gradient")
        if not (x.type.ndim == maxout.type.ndim == gz.type.ndim):
            raise TypeError(f"{self}: x, maxout and gz must have the same ndim, got {x.type}, "
                            f"{maxout.type}, {gz.type}")
        if gz.type.dtype != x.type.dtype:
            gz = tm.cast(gz, x.type.dtype)
        return Apply(self, [x, maxout, gz], [x.type.make_variable()])

    def perform(self, node, inputs):
        x, maxout, gz = (np.asarray(v) for v in inputs)
        self._check_grad_shape(x, gz)
        if maxout.shape != gz.shape:
            raise ValueError(f"{self}: maxout shape {maxout.shape} differs from the output "
                             f"gradient shape {gz.shape}")
        return [np.asarray(_unpool_np(self, x, maxout, gz), dtype=node.outputs[0].type.dtype)]

    def infer_shape(self, fgraph, node, input_shapes):
        return [input_shapes[0]]

    def L_op(self, inputs, outputs, output_grads):
        x, maxout, gz = inputs
        (ggx,) = output_grads
        args = (self.ws, self.ignore_border, self.stride, self.pad)
        return [tm.zeros_like(x), tm.zeros_like(maxout),
                MaxPoolGradGrad(*args)(x, maxout, ggx)]


class AveragePoolGrad(_PoolBase):
    """Gradient of sum/average pooling: ``(x, gz) -> gx`` (x is used for its shape)."""

    __props__ = ("ws", "ignore_border", "stride", "pad", "mode")

    def __init__(self, ws, ignore_border=False, stride=None, pad=(0, 0), mode="average_inc_pad"):
        super().__init__(ws, ignore_border, stride, pad, mode)
        if mode == "max":
            raise ValueError("AveragePoolGrad: mode 'max' needs MaxPoolGrad")

    def make_node(self, x, gz):
        x = self._input(x)
        gz = self._input(gz, "output gradient")
        if x.type.ndim != gz.type.ndim:
            raise TypeError(f"{self}: x and gz must have the same ndim, got {x.type}, {gz.type}")
        if gz.type.dtype != x.type.dtype:
            gz = tm.cast(gz, x.type.dtype)
        return Apply(self, [x, gz], [x.type.make_variable()])

    def perform(self, node, inputs):
        x, gz = (np.asarray(v) for v in inputs)
        self._check_grad_shape(x, gz)
        return [np.asarray(_unpool_np(self, x, None, gz), dtype=node.outputs[0].type.dtype)]

    def infer_shape(self, fgraph, node, input_shapes):
        return [input_shapes[0]]

    def L_op(self, inputs, outputs, output_grads):
        x, gz = inputs
        (ggx,) = output_grads
        # gx = P^T gz is linear in gz: d<gx, u>/dgz = P u
        return [tm.zeros_like(x),
                Pool(self.ws, self.ignore_border, self.stride, self.pad, self.mode)(ggx)]


class MaxPoolGradGrad(_PoolBase):
    """Gradient of ``MaxPoolGrad`` wrt its output gradient: ``(x, maxout, ggx) -> ggz``,
    the sum of ``ggx`` over the cells of each window equal to the window's max."""

    __props__ = ("ws", "ignore_border", "stride", "pad")

    def __init__(self, ws, ignore_border=False, stride=None, pad=(0, 0)):
        super().__init__(ws, ignore_border, stride, pad, "max")

    def make_node(self, x, maxout, ggx):
        x = self._input(x)
        maxout = self._input(maxout, "max output")
        ggx = self._input(ggx, "input gradient")
        if ggx.type.dtype != maxout.type.dtype:
            ggx = tm.cast(ggx, maxout.type.dtype)
        return Apply(self, [x, maxout, ggx], [maxout.type.make_variable()])

    def perform(self, node, inputs):
        x, maxout, ggx = (np.asarray(v) for v in inputs)
        if ggx.shape != x.shape:
            raise ValueError(f"{self}: the input gradient has shape {ggx.shape}, the input "
                             f"{x.shape}")
        out = _maxpool_gradgrad_np(self, x, maxout, ggx)
        return [np.asarray(out, dtype=node.outputs[0].type.dtype)]

    def infer_shape(self, fgraph, node, input_shapes):
        return [input_shapes[1]]

    def L_op(self, inputs, outputs, output_grads):
        x, maxout, ggx = inputs
        (u,) = output_grads
        args = (self.ws, self.ignore_border, self.stride, self.pad)
        return [tm.zeros_like(x), tm.zeros_like(maxout), MaxPoolGrad(*args)(x, maxout, u)]


# -------------------------------------------------------------------------- functions

_IB_WARNING = (
    "pool_2d() will have the parameter ignore_border default value changed to True "
    "(currently False). To have consistent behavior with all Theano versions, explicitly "
    "add the parameter ignore_border=True.")


def pool_2d(input, ws=None, ignore_border=None, stride=None, pad=(0, 0), mode="max", ds=None,
            st=None, padding=None):
    """Pool ``input`` (>= 2 dims) over its last two axes, Theano's ``pool_2d``.

    - ``ws``: window (rows, cols) (``ds`` is its old name);
    - ``ignore_border``: True drops partial windows at the borders; None means Theano's
      default, False, with Theano's warning;
    - ``stride``: step between windows (``st``; default ``ws``: no overlap);
    - ``pad``: zero padding (``padding``), needs ``ignore_border=True``;
    - ``mode``: 'max', 'sum', 'average_inc_pad' or 'average_exc_pad'.

    Example: ``pool.pool_2d(conv_out, ws=(2, 2), ignore_border=True)``.
    """
    if ds is not None:
        if ws is not None:
            raise ValueError("pool_2d: ws and ds are the same parameter; give only ws")
        warnings.warn("pool_2d: the 'ds' parameter is deprecated, use 'ws'",
                      DeprecationWarning, stacklevel=2)
        ws = ds
    if ws is None:
        raise ValueError("pool_2d: the window size ws is required")
    if st is not None:
        if stride is not None:
            raise ValueError("pool_2d: stride and st are the same parameter; give only stride")
        warnings.warn("pool_2d: the 'st' parameter is deprecated, use 'stride'",
                      DeprecationWarning, stacklevel=2)
        stride = st
    if padding is not None:
        if tuple(pad) != (0, 0):
            raise ValueError("pool_2d: pad and padding are the same parameter; give only pad")
        warnings.warn("pool_2d: the 'padding' parameter is deprecated, use 'pad'",
                      DeprecationWarning, stacklevel=2)
        pad = padding
    input = as_tensor_variable(input)
    if input.type.ndim < 2:
        raise NotImplementedError(f"pool_2d requires a dimension >= 2, got {input.type}")
    if ignore_border is None:
        warnings.warn(_IB_WARNING, UserWarning, stacklevel=2)
        ignore_border = False
    from symgraph.tensor.signal import pool_dynamic as dyn

    ws, stride, pad = (dyn.static_value(v) for v in (ws, stride, pad))
    if any(dyn.is_symbolic(v) for v in (ws, stride, pad)):  # sizes known at run time
        return dyn.dynamic_pool_2d(input, ws, ignore_border, stride, pad, mode)
    return Pool(ws, ignore_border, stride, pad, mode)(input)


def max_pool_2d(input, ds=None, ignore_border=None, st=None, padding=(0, 0), mode="max",
                ws=None, stride=None, pad=None):
    """The old name of ``pool_2d`` (Theano's ``downsample.max_pool_2d``)."""
    if ws is None:
        ws = ds
    elif ds is not None:
        raise ValueError("max_pool_2d: ws and ds are the same parameter; give only one")
    if stride is None:
        stride = st
    if pad is None:
        pad = padding
    return pool_2d(input, ws=ws, ignore_border=ignore_border, stride=stride, pad=pad, mode=mode)


def max_pool_2d_same_size(input, patch_size):
    """Keep each non-overlapping ``patch_size`` window's max and zero the other cells
    (output shape = input shape)."""
    input = as_tensor_variable(input)
    out = Pool(patch_size, True)(input)
    return MaxPoolGrad(patch_size, True)(input, out, out)


from symgraph.tensor.signal.pool3d import pool_3d  # noqa: E402,F401  (Theano's pool.pool_3d)
