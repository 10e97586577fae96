"""2-D convolution ops: ``Conv2d`` and the two ops of its gradient.

Two user functions, as in Theano:

- ``symgraph.tensor.nnet.conv2d(input, filters, input_shape=None, filter_shape=None,
  border_mode='valid', subsample=(1, 1), filter_flip=True)`` (Theano's
  ``theano.tensor.nnet.conv2d``);
- ``symgraph.tensor.nnet.conv.conv2d(input, filters, image_shape=None, filter_shape=None,
  border_mode='valid', subsample=(1, 1))`` (the older ``theano.tensor.nnet.conv.conv2d``,
  'valid' and 'full' only).

Layouts are NCHW: ``input`` (batch, channels, rows, cols), ``filters`` (out channels,
in channels, rows, cols). ``filter_flip=True`` (the default) is a true convolution
(filters rotated 180 degrees), ``False`` a cross-correlation. ``border_mode``:
'valid' (no padding), 'full' (pad by filter size - 1), 'half' (pad by filter size // 2),
an int or a pair of ints (symmetric zero padding). ``subsample`` is the stride.

Shape hints (``input_shape``/``filter_shape``, entries may be None) are checked against
the real shapes at run time and used for static shape inference.

Example::

    >>> import symgraph.tensor as T
    >>> x = T.tensor4('x'); w = T.tensor4('w')
    >>> y = T.nnet.conv2d(x, w, border_mode='half', subsample=(2, 2))
"""
from __future__ import annotations

import numbers
import warnings

import numpy as np

from symgraph.graph.basic import Apply, Constant, Variable
from symgraph.graph.op import Op
from symgraph.tensor import math as tm
from symgraph.tensor.basic import as_tensor_variable
from symgraph.tensor.type import FLOAT_DTYPES, TensorType, upgrade_to_float

__all__ = ["conv2d", "abstract_conv2d", "Conv2d", "Conv2dGradInputs", "Conv2dGradWeights",
           "conv2d_grad_wrt_inputs", "conv2d_grad_wrt_weights", "get_conv_output_shape"]


# --------------------------------------------------------------------------- params

def _norm_border_mode(border_mode):
    """'valid' -> (0, 0); ints -> (p, p); 'full'/'half' stay strings (they depend on the
    filter size, known only at run time)."""
    if isinstance(border_mode, str):
        if border_mode == "valid":
            return (0, 0)
        if border_mode in ("full", "half"):
            return border_mode
        if border_mode == "same":
            return "half"
        raise ValueError(f"conv2d: border_mode must be 'valid', 'full', 'half', an int or a pair "
                         f"of ints, got {border_mode!r}")
    if isinstance(border_mode, numbers.Integral) and not isinstance(border_mode, bool):
        border_mode = (int(border_mode), int(border_mode))
    if isinstance(border_mode, (tuple, list)) and len(border_mode) == 2 and all(
            isinstance(p, numbers.Integral) and not isinstance(p, bool) for p in border_mode):
        pads = tuple(int(p) for p in border_mode)
        if min(pads) < 0:
            raise ValueError(f"conv2d: padding must be >= 0, got border_mode={border_mode!r}")
        return pads
    raise ValueError(f"conv2d: border_mode must be 'valid', 'full', 'half', an int or a pair of "
                     f"non-negative ints (asymmetric and symbolic padding are not supported), "
                     f"got {border_mode!r}")


def _norm_pair(v, what, minimum=1):
    if isinstance(v, numbers.Integral) and not isinstance(v, bool):
        v = (v, v)
    if not (isinstance(v, (tuple, list)) and len(v) == 2
            and all(isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in v)):
        raise ValueError(f"conv2d: {what} must be a pair of ints, got {v!r}")
    v = tuple(int(s) for s in v)
    if min(v) < minimum:
        raise ValueError(f"conv2d: {what} must be >= {minimum}, got {v!r}")
    return v


def _norm_hint(shape, what):
    if shape is None:
        return None
    if isinstance(shape, Variable):
        raise TypeError(f"conv2d: {what} must be a tuple of 4 ints or None, not a symbolic "
                        f"variable ({shape})")
    shape = tuple(shape)
    if len(shape) != 4:
        raise ValueError(f"conv2d: {what} must have 4 entries (or be None), got {shape!r}")
    out = []
    for s in shape:
        if s is None:
            out.append(None)
        elif isinstance(s, Constant) and np.asarray(s.data).ndim == 0:
            out.append(int(s.data))
        elif isinstance(s, (numbers.Integral, np.integer)) and not isinstance(s, bool):
            if s < 0:
                raise ValueError(f"conv2d: {what} has a negative entry: {shape!r}")
            out.append(int(s))
        else:
            raise TypeError(f"conv2d: entries of {what} must be ints or None, got {s!r}")
    return tuple(out)


def conv_pads(border_mode, kh, kw):
    """The (pad_h, pad_w) of ``border_mode`` for a filter of size (kh, kw) (ints or
    symbolic ints)."""
    if border_mode == "full":
        return kh - 1, kw - 1
    if border_mode == "half":
        return kh // 2, kw // 2
    return border_mode


def _out_len(size, k, pad, stride):
    return (size + 2 * pad - k) // stride + 1


def get_conv_output_shape(image_shape, kernel_shape, border_mode, subsample):
    """Output shape of a 2-D convolution for the given shapes (ints, symbolic ints or None).

    >>> get_conv_output_shape((8, 3, 28, 28), (16, 3, 5, 5), 'valid', (1, 1))
    (8, 16, 24, 24)
    """
    bm = _norm_border_mode(border_mode)
    sub = _norm_pair(subsample, "subsample")
    n, _, h, w = image_shape
    f, _, kh, kw = kernel_shape
    if kh is None or kw is None:
        return (n, f, None, None)
    ph, pw = conv_pads(bm, kh, kw)
    oh = None if h is None else _out_len(h, kh, ph, sub[0])
    ow = None if w is None else _out_len(w, kw, pw, sub[1])
    return (n, f, oh, ow)


def _float_4d(op, v, what):
    v = as_tensor_variable(v)
    if v.type.ndim != 4:
        raise TypeError(f"{op}: {what} must be a 4-D tensor, got {v.type} (ndim {v.type.ndim})")
    return v


def _common_float(*vs):
    dt = str(np.result_type(*[v.type.dtype for v in vs]))
    dt = upgrade_to_float(dt)
    if dt not in FLOAT_DTYPES:
        raise TypeError(f"conv2d: inputs must be real tensors, got dtypes "
                        f"{[v.type.dtype for v in vs]}")
    return [v if v.type.dtype == dt else tm.cast(v, dt) for v in vs]


class _ConvBase(Op):
    def __init__(self, border_mode="valid", subsample=(1, 1), filter_flip=True):
        self.border_mode = _norm_border_mode(border_mode)
        self.subsample = _norm_pair(subsample, "subsample")
        self.filter_flip = bool(filter_flip)

    def pads(self, kh, kw):
        ph, pw = conv_pads(self.border_mode, kh, kw)
        return int(ph), int(pw)

    def _check_grad_shapes(self, x_shape, w_shape, g_shape, mismatch):
        """``(ph, pw)`` if ``g_shape`` is the output shape of conv(x, w), else a ValueError
        that starts with ``mismatch`` (which names the shapes from the gradient op's view)."""
        n, c, h, wd = x_shape
        f, c2, kh, kw = w_shape
        ph, pw = self.pads(kh, kw)
        exp = (n, f, _out_len(h, kh, ph, self.subsample[0]),
               _out_len(wd, kw, pw, self.subsample[1]))
        if c2 != c or tuple(g_shape) != exp:
            raise ValueError(f"{self}: {mismatch} (expected output gradient shape {exp})")
        return ph, pw


# ------------------------------------------------------------------------- numpy core

def _windows(xp, kh, kw, sh, sw, oh, ow):
    """(N, C, OH, OW, KH, KW) strided view of padded xp."""
    v = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))
    return v[:, :, : (oh - 1) * sh + 1: sh, : (ow - 1) * sw + 1: sw]


def _pad(x, ph, pw):
    if ph == 0 and pw == 0:
        return x
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))


def conv2d_np(x, w, ph, pw, sh, sw, flip):
    """Reference convolution in numpy (output in x's dtype)."""
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    oh, ow = _out_len(h, kh, ph, sh), _out_len(wd, kw, pw, sw)
    wk = w[:, :, ::-1, ::-1] if flip else w
    if n == 0 or f == 0 or c == 0:
        return np.zeros((n, f, oh, ow), x.dtype)
    win = _windows(_pad(x, ph, pw), kh, kw, sh, sw, oh, ow)
    out = np.tensordot(win, wk, axes=([1, 4, 5], [1, 2, 3]))  # (N, OH, OW, F)
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2)).astype(x.dtype, copy=False)


def conv2d_grad_input_np(g, w, h, wd, ph, pw, sh, sw, flip):
    n, f, oh, ow = g.shape
    _, c, kh, kw = w.shape
    wk = w[:, :, ::-1, ::-1] if flip else w
    gxp = np.zeros((n, c, h + 2 * ph, wd + 2 * pw), dtype=g.dtype)
    if n and c and f and oh > 0 and ow > 0:
        # cols[n, oh, ow, c, kh, kw] = sum_f g[n, f, oh, ow] * wk[f, c, kh, kw]
        cols = np.tensordot(g, wk, axes=([1], [0])).astype(g.dtype, copy=False)
        for a in range(kh):
            for b in range(kw):
                gxp[:, :, a: a + (oh - 1) * sh + 1: sh, b: b + (ow - 1) * sw + 1: sw] += \
                    cols[:, :, :, :, a, b].transpose(0, 3, 1, 2)
    return np.ascontiguousarray(gxp[:, :, ph: ph + h, pw: pw + wd])


def conv2d_grad_filters_np(x, g, kh, kw, ph, pw, sh, sw, flip):
    n, c, h, wd = x.shape
    _, f, oh, ow = g.shape
    if n == 0 or c == 0 or f == 0 or oh <= 0 or ow <= 0:
        return np.zeros((f, c, kh, kw), x.dtype)
    win = _windows(_pad(x, ph, pw), kh, kw, sh, sw, oh, ow)
    gw = np.tensordot(g, win, axes=([0, 2, 3], [0, 2, 3]))  # (F, C, KH, KW)
    if flip:
        gw = gw[:, :, ::-1, ::-1]
    return np.ascontiguousarray(gw).astype(x.dtype, copy=False)


# ------------------------------------------------------------------------------ ops

class Conv2d(_ConvBase):
    """2-D convolution of ``img`` (N, C, H, W) with ``kern`` (F, C, KH, KW).

    Output (N, F, OH, OW) with ``OH = (H + 2*pad_h - KH) // stride_h + 1``. ``imshp`` and
    ``kshp`` are shape hints (4-tuples with None for unknown entries), checked at run time.
    """

    __props__ = ("border_mode", "subsample", "filter_flip", "imshp", "kshp")

    def __init__(self, border_mode="valid", subsample=(1, 1), filter_flip=True, imshp=None,
                 kshp=None):
        super().__init__(border_mode, subsample, filter_flip)
        self.imshp = _norm_hint(imshp, "input_shape")
        self.kshp = _norm_hint(kshp, "filter_shape")

    def make_node(self, img, kern):
        img = _float_4d(self, img, "input")
        kern = _float_4d(self, kern, "filters")
        img, kern = _common_float(img, kern)
        bcast = (img.type.broadcastable[0], kern.type.broadcastable[0], False, False)
        return Apply(self, [img, kern], [TensorType(img.type.dtype, bcast)()])

    def check_shapes(self, x_shape, w_shape):
        for hint, real, what in ((self.imshp, x_shape, "input_shape"),
                                 (self.kshp, w_shape, "filter_shape")):
            if hint is not None and any(h is not None and h != r for h, r in zip(hint, real)):
                raise ValueError(f"{self}: the {what} hint {hint} does not match the actual "
                                 f"shape {tuple(real)} of the "
                                 f"{'input' if what == 'input_shape' else 'filters'}")
        if x_shape[1] != w_shape[1]:
            raise ValueError(f"{self}: the input has {x_shape[1]} channels (shape "
                             f"{tuple(x_shape)}) but the filters expect {w_shape[1]} (shape "
                             f"{tuple(w_shape)})")
        ph, pw = self.pads(w_shape[2], w_shape[3])
        if x_shape[2] + 2 * ph < w_shape[2] or x_shape[3] + 2 * pw < w_shape[3]:
            raise ValueError(f"{self}: the filters (shape {tuple(w_shape)}) are larger than the "
                             f"padded input (shape {tuple(x_shape)}, padding {(ph, pw)})")
        return ph, pw

    def perform(self, node, inputs):
        x, w = inputs
        ph, pw = self.check_shapes(x.shape, w.shape)
        out = conv2d_np(x, w, ph, pw, *self.subsample, self.filter_flip)
        return [np.asarray(out, dtype=node.outputs[0].type.dtype)]

    def infer_shape(self, fgraph, node, input_shapes):
        xs = list(input_shapes[0])
        ws = list(input_shapes[1])
        if self.imshp is not None:
            xs = [h if h is not None else s for h, s in zip(self.imshp, xs)]
        if self.kshp is not None:
            ws = [h if h is not None else s for h, s in zip(self.kshp, ws)]
        return [get_conv_output_shape(xs, ws, self.border_mode, self.subsample)]

    def L_op(self, inputs, outputs, output_grads):
        x, w = inputs
        (gz,) = output_grads
        args = (self.border_mode, self.subsample, self.filter_flip)
        gx = Conv2dGradInputs(*args)(w, gz, x)
        gw = Conv2dGradWeights(*args)(x, gz, w)
        return [_match(gx, x), _match(gw, w)]


def _match(g, x):
    if g.type.dtype != x.type.dtype:
        g = tm.cast(g, x.type.dtype)
    if g.type.broadcastable != x.type.broadcastable:
        from symgraph.tensor.elemwise import unbroadcast_grad

        g = unbroadcast_grad(g, x)
    return g


class Conv2dGradInputs(_ConvBase):
    """Gradient of ``Conv2d`` wrt its input: ``(kern, topgrad, img_like) -> gimg``.

    ``img_like`` is only used for its shape (the input's H and W cannot be recovered from
    the output's shape when strides are > 1); it gets no gradient.
    """

    __props__ = ("border_mode", "subsample", "filter_flip")

    def make_node(self, kern, topgrad, img_like):
        kern = _float_4d(self, kern, "filters")
        topgrad = _float_4d(self, topgrad, "output gradient")
        img_like = _float_4d(self, img_like, "input (shape)")
        kern, topgrad = _common_float(kern, topgrad)
        bcast = (topgrad.type.broadcastable[0], kern.type.broadcastable[1], False, False)
        return Apply(self, [kern, topgrad, img_like], [TensorType(topgrad.type.dtype, bcast)()])

    def _check(self, w_shape, g_shape, x_shape):
        return self._check_grad_shapes(
            x_shape, w_shape, g_shape,
            f"output gradient shape {tuple(g_shape)} and filters shape {tuple(w_shape)} do "
            f"not match an input of shape {tuple(x_shape)}")

    def perform(self, node, inputs):
        w, g, x = inputs
        ph, pw = self._check(w.shape, g.shape, x.shape)
        gx = conv2d_grad_input_np(g, w, x.shape[2], x.shape[3], ph, pw, *self.subsample,
                                  self.filter_flip)
        return [np.asarray(gx, dtype=node.outputs[0].type.dtype)]

    def infer_shape(self, fgraph, node, input_shapes):
        ws, gs, xs = input_shapes
        return [(gs[0], ws[1], xs[2], xs[3])]

    def L_op(self, inputs, outputs, output_grads):
        w, g, x = inputs
        (u,) = output_grads
        args = (self.border_mode, self.subsample, self.filter_flip)
        # out = A_w^T g (linear in w and g): d<out,u>/dg = conv(u, w), d/dw = gradW(u, g)
        g_w = Conv2dGradWeights(*args)(u, g, w)
        g_g = Conv2d(*args)(u, w)
        return [_match(g_w, w), _match(g_g, g), None]


class Conv2dGradWeights(_ConvBase):
    """Gradient of ``Conv2d`` wrt its filters: ``(img, topgrad, kern_like) -> gkern``.

    ``kern_like`` is only used for its shape; it gets no gradient.
    """

    __props__ = ("border_mode", "subsample", "filter_flip")

    def make_node(self, img, topgrad, kern_like):
        img = _float_4d(self, img, "input")
        topgrad = _float_4d(self, topgrad, "output gradient")
        kern_like = _float_4d(self, kern_like, "filters (shape)")
        img, topgrad = _common_float(img, topgrad)
        bcast = (topgrad.type.broadcastable[1], img.type.broadcastable[1], False, False)
        return Apply(self, [img, topgrad, kern_like], [TensorType(img.type.dtype, bcast)()])

    def _check(self, x_shape, g_shape, w_shape):
        return self._check_grad_shapes(
            x_shape, w_shape, g_shape,
            f"output gradient shape {tuple(g_shape)} and input shape {tuple(x_shape)} do "
            f"not match filters of shape {tuple(w_shape)}")

    def perform(self, node, inputs):
        x, g, w = inputs
        ph, pw = self._check(x.shape, g.shape, w.shape)
        gw = conv2d_grad_filters_np(x, g, w.shape[2], w.shape[3], ph, pw, *self.subsample,
                                    self.filter_flip)
        return [np.asarray(gw, dtype=node.outputs[0].type.dtype)]

    def infer_shape(self, fgraph, node, input_shapes):
        xs, gs, ws = input_shapes
        return [(gs[1], xs[1], ws[2], ws[3])]

    def L_op(self, inputs, outputs, output_grads):
        x, g, w = inputs
        (v,) = output_grads
        args = (self.border_mode, self.subsample, self.filter_flip)
        g_x = Conv2dGradInputs(*args)(v, g, x)
        g_g = Conv2d(*args)(x, v)
        return [_match(g_x, x), _match(g_g, g), None]


# ---------------------------------------------------------------------- functions

def abstract_conv2d(input, filters, input_shape=None, filter_shape=None, border_mode="valid",
                    subsample=(1, 1), filter_flip=True, image_shape=None,
                    filter_dilation=(1, 1), num_groups=1, unshared=False, **kwargs):
    """2-D convolution of a batch of multi-channel images with a bank of filters.

    Theano's ``theano.tensor.nnet.conv2d`` (exported as ``T.nnet.conv2d``):

    - ``input``: 4-D tensor (batch, in channels, rows, cols);
    - ``filters``: 4-D tensor (out channels, in channels, filter rows, filter cols);
    - ``input_shape``/``filter_shape``: optional shape hints (ints or None), checked at run
      time (``image_shape`` is the deprecated name of ``input_shape``);
    - ``border_mode``: 'valid', 'full', 'half', an int or (int, int) of zero padding;
    - ``subsample``: strides (rows, cols);
    - ``filter_flip``: True (default) for convolution, False for cross-correlation.

    Example: ``T.nnet.conv2d(x, W, filter_shape=(20, 1, 5, 5))`` on 28x28 images gives
    24x24 feature maps.
    """
    if kwargs:
        warnings.warn(f"conv2d: arguments {sorted(kwargs)} are not used", stacklevel=2)
    if image_shape is not None:
        if input_shape is not None:
            raise ValueError("conv2d: input_shape and image_shape should not be provided at the "
                             "same time")
        input_shape = image_shape
    if tuple(_norm_pair(filter_dilation, "filter_dilation")) != (1, 1):
        raise NotImplementedError("conv2d: filter_dilation other than (1, 1) is not supported")
    if num_groups != 1 or unshared:
        raise NotImplementedError("conv2d: grouped and unshared convolutions are not supported")
    op = Conv2d(border_mode, subsample, filter_flip, input_shape, filter_shape)
    return op(input, filters)


def conv2d(input, filters, image_shape=None, filter_shape=None, border_mode="valid",
           subsample=(1, 1), **kargs):
    """The older ``theano.tensor.nnet.conv.conv2d``: true 2-D convolution, 'valid' or 'full'.

    ``image_shape``/``filter_shape`` are optional shape hints (``input_shape`` is accepted
    as another name of ``image_shape``). Same layouts as ``T.nnet.conv2d``.

    Example::

        from symgraph.tensor.nnet import conv
        out = conv.conv2d(input=x, filters=W, filter_shape=(20, 1, 5, 5),
                          image_shape=(500, 1, 28, 28))
    """
    if "input_shape" in kargs:
        if image_shape is not None:
            raise ValueError("conv.conv2d: image_shape and input_shape both given")
        image_shape = kargs.pop("input_shape")
    if border_mode not in ("valid", "full"):
        raise ValueError(f"conv.conv2d: border_mode must be 'valid' or 'full', got "
                         f"{border_mode!r} (use T.nnet.conv2d for 'half' or explicit padding)")
    unused = {k for k in kargs if k not in ("verbose", "unroll_batch", "unroll_kern",
                                             "unroll_patch", "openmp", "imshp_logical",
                                             "kshp_logical", "kshp_logical_top_aligned")}
    if unused:
        warnings.warn(f"conv.conv2d: arguments {sorted(unused)} are not used", stacklevel=2)
    op = Conv2d(border_mode, subsample, True, image_shape, filter_shape)
    return op(input, filters)


def conv2d_grad_wrt_inputs(output_grad, filters, input_shape, filter_shape=None,
                           border_mode="valid", subsample=(1, 1), filter_flip=True,
                           filter_dilation=(1, 1), num_groups=1, unshared=False, **kwargs):
    """Gradient of ``conv2d`` wrt its input (a 'transposed convolution').

    ``input_shape`` is the shape of the input: a tuple of 4 ints (or a 4-D tensor whose
    shape it is). ``filter_dilation``: the gradient of the dilated convolution (its
    filters spread out with zeros, as ``conv2d`` does).
    """
    _no_groups(num_groups, unshared, "conv2d_grad_wrt_inputs")
    filters, filter_shape = _dilated(filters, filter_shape, filter_dilation)
    like = input_shape if isinstance(input_shape, Variable) else _zeros_like_shape(
        input_shape, output_grad)
    return Conv2dGradInputs(border_mode, subsample, filter_flip)(filters, output_grad, like)


def conv2d_grad_wrt_weights(input, output_grad, filter_shape, input_shape=None,
                            border_mode="valid", subsample=(1, 1), filter_flip=True,
                            filter_dilation=(1, 1), num_groups=1, unshared=False, **kwargs):
    """Gradient of ``conv2d`` wrt its filters; ``filter_shape`` is a tuple of 4 ints.
    ``filter_dilation``: the gradient wrt the taps of the dilated filters."""
    from symgraph.tensor.nnet.conv_ext import _dilated_hint, _ints

    _no_groups(num_groups, unshared, "conv2d_grad_wrt_weights")
    dil = _ints(filter_dilation, 2, "conv2d_grad_wrt_weights: filter_dilation")
    if dil != (1, 1):
        if isinstance(filter_shape, Variable):
            raise NotImplementedError("conv2d_grad_wrt_weights: with filter_dilation, give "
                                      "filter_shape as 4 ints")
        grad = conv2d_grad_wrt_weights(input, output_grad, _dilated_hint(filter_shape, dil),
                                       input_shape, border_mode, subsample, filter_flip)
        return grad[:, :, ::dil[0], ::dil[1]]
    like = filter_shape if isinstance(filter_shape, Variable) else _zeros_like_shape(
        filter_shape, input)
    return Conv2dGradWeights(border_mode, subsample, filter_flip)(input, output_grad, like)


def _no_groups(num_groups, unshared, what):
    if num_groups != 1 or unshared:
        raise NotImplementedError(f"{what}: grouped and unshared convolutions are not "
                                  f"supported")


def _dilated(filters, filter_shape, filter_dilation):
    """``(filters, filter_shape)`` of the dilated convolution (unchanged for (1, 1))."""
    from symgraph.tensor.nnet.conv_ext import _dilated_hint, _ints, dilate_filters

    dil = _ints(filter_dilation, 2, "conv2d: filter_dilation")
    if dil == (1, 1):
        return filters, filter_shape
    filters = as_tensor_variable(filters)
    return dilate_filters(filters, dil), _dilated_hint(filter_shape, dil)


def conv2d_transpose(input, filters, output_shape, filter_shape=None, border_mode="valid",
                     input_dilation=(1, 1), filter_flip=True, filter_dilation=(1, 1),
                     num_groups=1, unshared=False):
    """Theano's ``T.nnet.conv2d_transpose``: the transpose of ``conv2d`` (its gradient wrt
    its input), a 'deconvolution' producing ``output_shape`` (4 ints, or a 4-D tensor
    whose shape it is); ``input_dilation`` is the forward convolution's ``subsample``.

    Example::

        >>> x, w = T.tensor4('x'), T.tensor4('w')
        >>> up = T.nnet.conv2d_transpose(x, w, output_shape=(8, 3, 10, 10),
        ...                              input_dilation=(2, 2), border_mode='half')
    """
    return conv2d_grad_wrt_inputs(input, filters, output_shape, filter_shape, border_mode,
                                  input_dilation, filter_flip, filter_dilation, num_groups,
                                  unshared)


def _zeros_like_shape(shape, like):
    shape = _norm_hint(shape, "shape")
    if shape is None or any(s is None for s in shape):
        raise ValueError("conv2d gradient: the shape must be 4 known ints")
    from symgraph.tensor.basic import constant

    like = as_tensor_variable(like)
    dt = like.type.dtype if like.type.dtype in FLOAT_DTYPES else "float64"
    return constant(np.zeros(shape, dtype=dt))
