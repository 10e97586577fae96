"""``theano.tensor.nnet.abstract_conv``: Theano 1.0's convolution interface under its own
module name, and its bilinear upsampling.

``conv2d`` here is the current interface (``input_shape``, ``filter_flip``,
``filter_dilation``, ``num_groups``), not ``theano.tensor.nnet.conv``'s older one
(``image_shape``): code importing from this module gets what it imported in Theano.
``bilinear_upsampling`` is Theano's construction, a transposed convolution of the
edge-padded input with a bilinear kernel, built from the ops above (so it has their
gradient and runs on every backend).

Example::

    >>> import symgraph.tensor as T
    >>> from symgraph.tensor.nnet.abstract_conv import bilinear_upsampling
    >>> up = bilinear_upsampling(T.tensor4('x'), ratio=2)   # (b, c, 2 h, 2 w)
"""
from __future__ import annotations

import numpy as np

from symgraph.tensor.basic import as_tensor_variable
from symgraph.tensor.nnet.conv import (  # noqa: F401
    conv2d_grad_wrt_inputs,
    conv2d_grad_wrt_weights,
    conv2d_transpose,
    get_conv_output_shape,
)
from symgraph.tensor.nnet.conv_ext import (  # noqa: F401
    _T,
    AbstractConv2d,
    AbstractConv2d_gradInputs,
    AbstractConv2d_gradWeights,
    conv2d,
    conv3d,
)

__all__ = ["conv2d", "conv3d", "conv2d_grad_wrt_inputs", "conv2d_grad_wrt_weights",
           "conv2d_transpose", "get_conv_output_shape", "AbstractConv2d",
           "AbstractConv2d_gradInputs", "AbstractConv2d_gradWeights", "bilinear_kernel_1D",
           "bilinear_kernel_2D", "bilinear_upsampling"]


def _ratio(ratio) -> int:
    if isinstance(ratio, bool) or not isinstance(ratio, (int, np.integer)) or ratio < 1:
        raise ValueError(f"bilinear_upsampling: ratio must be an int >= 1, got {ratio!r}")
    return int(ratio)


def bilinear_kernel_1D(ratio, normalize=True):
    """The 1-D bilinear kernel of an upsampling by ``ratio``: ``1, 2, ..., ratio, ...,
    2, 1`` (divided by ``ratio`` when ``normalize``), in ``config.floatX``."""
    from symgraph.config import config

    r = _ratio(ratio)
    half = np.arange(1, r + 1, dtype=config.floatX)
    kern = np.concatenate([half, half[-2::-1]])
    if normalize:
        kern = kern / np.asarray(r, dtype=config.floatX)
    return _T().constant(kern.astype(config.floatX))


def bilinear_kernel_2D(ratio, normalize=True):
    """The 2-D bilinear kernel: the outer product of :func:`bilinear_kernel_1D` with
    itself."""
    k = bilinear_kernel_1D(ratio, normalize)
    return k.dimshuffle(0, "x") * k.dimshuffle("x", 0)


def bilinear_upsampling(input, ratio=None, frac_ratio=None, batch_size=None,
                        num_input_channels=None, use_1D_kernel=True):
    """Upsample a batch of images ``(batch, channels, rows, cols)`` by the integer
    ``ratio`` with bilinear interpolation (Theano 1.0's ``bilinear_upsampling``): the
    border rows and columns are repeated once, then each axis goes through a transposed
    convolution with stride ``ratio`` and the bilinear kernel (two 1-D passes, or one 2-D
    pass with ``use_1D_kernel=False``: the same values up to rounding).
    ``batch_size``/``num_input_channels`` are shape hints Theano used; they are not
    needed here. Fractional ratios (``frac_ratio``) are not supported."""
    if frac_ratio is not None:
        raise NotImplementedError("bilinear_upsampling: frac_ratio is not supported; give "
                                  "an integer ratio")
    if ratio is None:
        raise ValueError("bilinear_upsampling: give ratio")
    r = _ratio(ratio)
    T = _T()
    input = as_tensor_variable(input)
    if input.type.ndim != 4:
        raise TypeError(f"bilinear_upsampling: the input must be 4-D (batch, channels, rows, "
                        f"cols), got {input.type}")
    rows, cols = input.shape[2], input.shape[3]
    up = input.reshape((-1, 1, rows, cols))
    up = T.concatenate([up[:, :, :1, :], up, up[:, :, -1:, :]], axis=2)
    up = T.concatenate([up[:, :, :, :1], up, up[:, :, :, -1:]], axis=3)
    pad = 2 * r - (r - 1) // 2 - 1
    if use_1D_kernel:
        kern = bilinear_kernel_1D(r).astype(input.type.dtype)
        by_rows = AbstractConv2d_gradInputs(border_mode=(pad, 0), subsample=(r, 1))(
            kern.dimshuffle("x", "x", 0, "x"), up, (rows * r, cols + 2))
        out = AbstractConv2d_gradInputs(border_mode=(0, pad), subsample=(1, r))(
            kern.dimshuffle("x", "x", "x", 0), by_rows, (rows * r, cols * r))
    else:
        kern = bilinear_kernel_2D(r).astype(input.type.dtype)
        out = AbstractConv2d_gradInputs(border_mode=(pad, pad), subsample=(r, r))(
            kern.dimshuffle("x", "x", 0, 1), up, (rows * r, cols * r))
    return out.reshape((input.shape[0], input.shape[1], rows * r, cols * r))
