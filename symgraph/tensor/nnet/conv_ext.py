"""The parts of Theano's ``abstract_conv`` interface beyond the plain 2-D convolution:
``conv2d`` with ``filter_dilation`` and ``num_groups``, ``conv3d``, and the gradient ops
under their Theano names (``AbstractConv2d``, ``AbstractConv2d_gradInputs``,
``AbstractConv2d_gradWeights``).

Why graphs over the existing ``Conv2d`` op: a dilated filter is the filter with zeros
between its taps, a grouped convolution is one convolution per group concatenated, and a
3-D convolution is a sum over filter depth of 2-D convolutions with the depth folded into
the batch. Each is exact, differentiable through the existing ops and runs on every
backend; they cost more arithmetic than dedicated kernels would (zeros are multiplied),
which matters only for large dilations.

Example::

    >>> import symgraph.tensor as T
    >>> x = T.tensor4('x'); w = T.tensor4('w')
    >>> y = T.nnet.conv2d(x, w, filter_dilation=(2, 2), num_groups=2, border_mode='half')
"""
from __future__ import annotations

import numpy as np

from symgraph.graph.basic import Variable
from symgraph.tensor.basic import as_tensor_variable
from symgraph.tensor.nnet.conv import (Conv2d, Conv2dGradInputs, Conv2dGradWeights,
                                       _norm_hint, _norm_pair, abstract_conv2d)

__all__ = ["conv2d", "conv3d", "AbstractConv2d", "AbstractConv2d_gradInputs",
           "AbstractConv2d_gradWeights", "dilate_filters"]


def _T():
    import symgraph.tensor as T

    return T


def _ints(v, n, what):
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        v = (int(v),) * n
    v = tuple(v)
    if len(v) != n or not all(isinstance(i, (int, np.integer)) and i >= 1 for i in v):
        raise ValueError(f"{what} must be {n} ints >= 1, got {v!r}")
    return tuple(int(i) for i in v)


def dilate_filters(filters, dilation):
    """Filters with ``dilation[i] - 1`` zeros between their taps along the trailing axes."""
    from symgraph.tensor.subtensor import set_subtensor

    T = _T()
    if all(d == 1 for d in dilation):
        return filters
    nd = filters.type.ndim
    k = len(dilation)
    shape = [filters.shape[i] for i in range(nd - k)]
    shape += [(filters.shape[nd - k + j] - 1) * d + 1 for j, d in enumerate(dilation)]
    z = T.zeros(shape, dtype=filters.type.dtype)
    idx = (slice(None),) * (nd - k) + tuple(slice(None, None, d) for d in dilation)
    return set_subtensor(z[idx], filters)


def _dilated_hint(filter_shape, dilation):
    hint = _norm_hint(filter_shape, "filter_shape")
    if hint is None:
        return None
    k = len(dilation)
    head, tail = list(hint[:-k]), list(hint[-k:])
    return tuple(head + [None if s is None else (s - 1) * d + 1 for s, d in zip(tail, dilation)])


def conv2d(input, filters, input_shape=None, filter_shape=None, border_mode="valid",
           subsample=(1, 1), filter_flip=True, image_shape=None, filter_dilation=(1, 1),
           num_groups=1, unshared=False, **kwargs):
    """Theano's ``T.nnet.conv2d`` (see ``conv.abstract_conv2d``) with ``filter_dilation``
    (rows, cols) and ``num_groups``: the input's channels and the filters split into
    ``num_groups`` groups, group ``i`` of filters (shape ``(out/groups, in/groups, r, c)``)
    convolving group ``i`` of channels, the outputs concatenated along the channels."""
    T = _T()
    dil = _ints(filter_dilation, 2, "conv2d: filter_dilation")
    if unshared:
        raise NotImplementedError("conv2d: unshared convolutions are not supported")
    if isinstance(num_groups, bool) or not isinstance(num_groups, (int, np.integer)) or \
            num_groups < 1:
        raise ValueError(f"conv2d: num_groups must be an int >= 1, got {num_groups!r}")
    g = int(num_groups)
    if image_shape is not None:
        if input_shape is not None:
            raise ValueError("conv2d: input_shape and image_shape should not be provided at the "
                             "same time")
        input_shape, image_shape = image_shape, None
    input = as_tensor_variable(input)
    filters = as_tensor_variable(filters)
    if dil == (1, 1) and g == 1:
        return abstract_conv2d(input, filters, input_shape, filter_shape, border_mode,
                               subsample, filter_flip, **kwargs)
    fshape = _dilated_hint(filter_shape, dil)
    filters = dilate_filters(filters, dil)
    if g == 1:
        return abstract_conv2d(input, filters, input_shape, fshape, border_mode, subsample,
                               filter_flip, **kwargs)
    ishape = _norm_hint(input_shape, "input_shape")
    if ishape is not None and ishape[1] is not None and ishape[1] % g:
        raise ValueError(f"conv2d: {ishape[1]} input channels do not split into {g} groups")
    if fshape is not None and fshape[0] is not None and fshape[0] % g:
        raise ValueError(f"conv2d: {fshape[0]} filters do not split into {g} groups")
    gi = None if ishape is None else (ishape[0], None if ishape[1] is None else ishape[1] // g,
                                      ishape[2], ishape[3])
    gf = None if fshape is None else (None if fshape[0] is None else fshape[0] // g,
                                      *fshape[1:])
    # reshaping into groups fails loudly (Reshape's size check) when the channels or the
    # filters do not split into g equal groups
    b, c, h, w = (input.shape[i] for i in range(4))
    xg = T.reshape(input, T.stack([b, T.constant(g, dtype="int64"), c // g, h, w]), ndim=5)
    o, ci, kh, kw = (filters.shape[i] for i in range(4))
    wg = T.reshape(filters, T.stack([T.constant(g, dtype="int64"), o // g, ci, kh, kw]),
                   ndim=5)
    outs = [abstract_conv2d(xg[:, i], wg[i], gi, gf, border_mode, subsample, filter_flip,
                            **kwargs) for i in range(g)]
    return T.concatenate(outs, axis=1)


def _hint5(shape, what):
    """A 5-entry shape hint (ints or None) as a tuple, or None."""
    if shape is None:
        return None
    if isinstance(shape, Variable) or len(tuple(shape)) != 5:
        raise ValueError(f"conv3d: {what} must be a tuple of 5 ints or None, got {shape!r}")
    out = []
    for v in shape:
        if v is None:
            out.append(None)
        elif isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 0:
            out.append(int(v))
        else:
            raise ValueError(f"conv3d: entries of {what} must be ints >= 0 or None, got {v!r}")
    return tuple(out)


def _pads3(border_mode):
    if isinstance(border_mode, (int, np.integer)) and not isinstance(border_mode, bool):
        border_mode = (int(border_mode),) * 3
    pads = tuple(border_mode)
    if len(pads) != 3 or not all(isinstance(p, (int, np.integer)) and p >= 0 for p in pads):
        raise ValueError(f"conv3d: border_mode must be 'valid', 'full', 'half', an int or 3 "
                         f"ints >= 0, got {border_mode!r}")
    return tuple(int(p) for p in pads)


def conv3d(input, filters, input_shape=None, filter_shape=None, border_mode="valid",
           subsample=(1, 1, 1), filter_flip=True, filter_dilation=(1, 1, 1), num_groups=1,
           **kwargs):
    """Theano's ``T.nnet.conv3d``: 3-D convolution of ``input`` (batch, channels, depth,
    rows, cols) with ``filters`` (out, in, depth, rows, cols). ``border_mode``: 'valid',
    'full', 'half', an int or 3 ints; ``subsample``: 3 strides; ``filter_flip``: True for
    convolution (all three axes flipped), False for cross-correlation."""
    T = _T()
    if num_groups != 1:
        raise NotImplementedError("conv3d: num_groups other than 1 is not supported")
    input = as_tensor_variable(input)
    filters = as_tensor_variable(filters)
    if input.type.ndim != 5 or filters.type.ndim != 5:
        raise TypeError(f"conv3d: input and filters must be 5-D, got {input.type} and "
                        f"{filters.type}")
    stride = _ints(subsample, 3, "conv3d: subsample")
    dil = _ints(filter_dilation, 3, "conv3d: filter_dilation")
    fhint = _hint5(filter_shape, "filter_shape")
    from symgraph.tensor.shape_inference import static_shape

    k0 = fhint[2] if fhint is not None and fhint[2] is not None else static_shape(filters)[2]
    if k0 is None:
        raise ValueError("conv3d: the filter depth must be known when the graph is built; "
                         "pass filter_shape=(out, in, depth, rows, cols)")
    if fhint is not None and fhint[2] is not None:
        filters = _T().specify_shape(filters, [filters.shape[0], filters.shape[1], k0,
                                               filters.shape[3], filters.shape[4]])
    filters = dilate_filters(filters, dil)
    kd = (int(k0) - 1) * dil[0] + 1
    if isinstance(border_mode, str):
        if border_mode not in ("valid", "full", "half"):
            raise ValueError(f"conv3d: border_mode must be 'valid', 'full', 'half', an int or "
                             f"3 ints, got {border_mode!r}")
        pd = {"valid": 0, "full": kd - 1, "half": kd // 2}[border_mode]
        mode2d = border_mode
    else:
        pads = _pads3(border_mode)
        pd, mode2d = pads[0], (pads[1], pads[2])
    if pd:
        zeros = T.zeros((input.shape[0], input.shape[1], pd, input.shape[3], input.shape[4]),
                        dtype=input.type.dtype)
        input = T.concatenate([zeros, input, zeros], axis=2)
    d_out = (input.shape[2] - kd) // stride[0] + 1
    b, c = input.shape[0], input.shape[1]
    total = None
    for k in range(kd):
        wk = filters[:, :, kd - 1 - k] if filter_flip else filters[:, :, k]
        xs = input[:, :, k:k + (d_out - 1) * stride[0] + 1:stride[0]]
        x2 = T.reshape(xs.dimshuffle(0, 2, 1, 3, 4),
                       T.stack([b * d_out, c, input.shape[3], input.shape[4]]), ndim=4)
        y = abstract_conv2d(x2, wk, border_mode=mode2d, subsample=stride[1:],
                            filter_flip=filter_flip)
        total = y if total is None else total + y
    y5 = T.reshape(total, T.stack([b, d_out, total.shape[1], total.shape[2], total.shape[3]]),
                   ndim=5)
    return y5.dimshuffle(0, 2, 1, 3, 4)


# ------------------------------------------------------------------ Theano's op names

AbstractConv2d = Conv2d


def _spatial_like(shape, batch, channels, dtype):
    T = _T()
    shape = as_tensor_variable(shape) if not isinstance(shape, Variable) else shape
    return T.zeros(T.stack([T.cast(batch, "int64"), T.cast(channels, "int64"),
                            T.cast(shape[0], "int64"), T.cast(shape[1], "int64")]),
                   dtype=dtype)


class AbstractConv2d_gradInputs:
    """Theano's ``AbstractConv2d_gradInputs(imshp, kshp, border_mode, subsample,
    filter_flip)``: ``op(kern, topgrad, shape)`` is the gradient of ``conv2d`` wrt its input,
    whose spatial ``shape`` (rows, cols) is given (built on ``Conv2dGradInputs``)."""

    def __init__(self, imshp=None, kshp=None, border_mode="valid", subsample=(1, 1),
                 filter_flip=True, filter_dilation=(1, 1), num_groups=1, unshared=False):
        if tuple(_norm_pair(filter_dilation, "filter_dilation")) != (1, 1) or num_groups != 1:
            raise NotImplementedError("AbstractConv2d_gradInputs: dilation and groups are "
                                      "not supported (differentiate conv2d instead)")
        self.op = Conv2dGradInputs(border_mode, subsample, filter_flip)

    def __call__(self, kern, topgrad, shape):
        kern = as_tensor_variable(kern)
        topgrad = as_tensor_variable(topgrad)
        like = _spatial_like(shape, topgrad.shape[0], kern.shape[1], topgrad.type.dtype)
        return self.op(kern, topgrad, like)


class AbstractConv2d_gradWeights:
    """Theano's ``AbstractConv2d_gradWeights(imshp, kshp, border_mode, subsample,
    filter_flip)``: ``op(img, topgrad, shape)`` is the gradient of ``conv2d`` wrt its
    filters, whose spatial ``shape`` (rows, cols) is given (built on
    ``Conv2dGradWeights``)."""

    def __init__(self, imshp=None, kshp=None, border_mode="valid", subsample=(1, 1),
                 filter_flip=True, filter_dilation=(1, 1), num_groups=1, unshared=False):
        if tuple(_norm_pair(filter_dilation, "filter_dilation")) != (1, 1) or num_groups != 1:
            raise NotImplementedError("AbstractConv2d_gradWeights: dilation and groups are "
                                      "not supported (differentiate conv2d instead)")
        self.op = Conv2dGradWeights(border_mode, subsample, filter_flip)

    def __call__(self, img, topgrad, shape):
        img = as_tensor_variable(img)
        topgrad = as_tensor_variable(topgrad)
        like = _spatial_like(shape, topgrad.shape[1], img.shape[1], topgrad.type.dtype)
        return self.op(img, topgrad, like)
