"""conv2d with filter_dilation and num_groups, conv3d, pool_3d and the abstract-conv
gradient ops under Theano's names (issue 21 item 2): values against direct numpy loops on
the py and Numba backends, gradients against finite differences, errors."""
import numpy as np
import pytest

import symgraph.tensor as T
from symgraph.gradient import verify_grad
from symgraph.tensor.nnet import (AbstractConv2d_gradInputs, AbstractConv2d_gradWeights,
                                  conv2d, conv3d)
from symgraph.tensor.signal.pool import pool_3d
from symgraph.testing import check_op

RNG = np.random.default_rng(11)


def ref_conv(x, w, pad, stride, dil, groups=1, flip=True):
    """Direct N-d convolution (N = x.ndim - 2) over (batch, channels, *spatial)."""
    nd = x.ndim - 2
    o, cg = w.shape[:2]
    k = w.shape[2:]
    wd = np.zeros((o, cg) + tuple((kk - 1) * d + 1 for kk, d in zip(k, dil)))
    wd[(slice(None), slice(None)) + tuple(slice(None, None, d) for d in dil)] = w
    if flip:
        wd = wd[(slice(None), slice(None)) + (slice(None, None, -1),) * nd]
    xp = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in pad])
    kd = wd.shape[2:]
    out_sp = [(xp.shape[2 + i] - kd[i]) // stride[i] + 1 for i in range(nd)]
    out = np.zeros((x.shape[0], o) + tuple(out_sp))
    og = o // groups
    for idx in np.ndindex(*out_sp):
        win = tuple(slice(i * s, i * s + kk) for i, s, kk in zip(idx, stride, kd))
        for oc in range(o):
            g = oc // og
            patch = xp[(slice(None), slice(g * cg, (g + 1) * cg)) + win]
            out[(slice(None), oc) + idx] = (patch * wd[oc]).reshape(x.shape[0], -1).sum(1)
    return out


def test_conv2d_dilation_and_groups():
    x = RNG.normal(size=(2, 4, 7, 6))
    w = RNG.normal(size=(6, 2, 3, 2))
    check_op(lambda a, b: [conv2d(a, b, filter_dilation=(2, 1), num_groups=2,
                                  border_mode="half"),
                           conv2d(a, b[:, :, :, :1], filter_dilation=2, border_mode="valid",
                                  subsample=(2, 1), num_groups=2, filter_flip=False)],
             [x, w],
             ref=lambda a, b: [ref_conv(a, b, (2, 1), (1, 1), (2, 1), 2),
                               ref_conv(a, b[:, :, :, :1], (0, 0), (2, 1), (2, 2), 2, False)],
             grad=False)
    verify_grad(lambda a, b: conv2d(a, b, filter_dilation=(2, 2), num_groups=2),
                [x[:1, :, :6, :5], w[:4]], mode="py", n_tests=1)


def test_conv3d():
    x = RNG.normal(size=(2, 2, 5, 4, 4))
    w = RNG.normal(size=(3, 2, 2, 3, 2))
    check_op(lambda a, b: [conv3d(a, b, filter_shape=(3, 2, 2, 3, 2)),
                           conv3d(a, b, filter_shape=(3, 2, 2, 3, 2), border_mode="half",
                                  subsample=(2, 1, 2), filter_flip=False),
                           conv3d(a, b, filter_shape=(3, 2, 2, 3, 2), border_mode=(1, 0, 1),
                                  filter_dilation=(2, 1, 1))],
             [x, w],
             ref=lambda a, b: [ref_conv(a, b, (0, 0, 0), (1, 1, 1), (1, 1, 1)),
                               ref_conv(a, b, (1, 1, 1), (2, 1, 2), (1, 1, 1), flip=False),
                               ref_conv(a, b, (1, 0, 1), (1, 1, 1), (2, 1, 1))],
             grad=False)
    verify_grad(lambda a, b: conv3d(a, b, filter_shape=(3, 2, 2, 3, 2), border_mode="full"),
                [x[:1, :, :3], w], mode="py", n_tests=1)
    with pytest.raises(ValueError, match="filter depth"):
        conv3d(T.TensorType("float64", (False,) * 5)(), T.TensorType("float64", (False,) * 5)())


def ref_pool3d(x, ws, stride, pad, mode, ignore_border):
    lead = x.shape[:-3]
    sp = x.shape[-3:]
    xp = np.pad(x, [(0, 0)] * len(lead) + [(p, p) for p in pad], constant_values=np.nan)
    n = []
    for i in range(3):
        size = sp[i] + 2 * pad[i]
        if ignore_border:
            n.append((size - ws[i]) // stride[i] + 1)
        else:
            # Theano's partial-window count (ignore_border=False)
            n.append((size - 1) // stride[i] + 1 if stride[i] >= ws[i]
                     else max(0, (size - 1 - ws[i] + stride[i]) // stride[i]) + 1)
    out = np.zeros(lead + tuple(n))
    for idx in np.ndindex(*n):
        win = tuple(slice(i * s, min(i * s + k, sp[j] + 2 * pad[j]))
                    for j, (i, s, k) in enumerate(zip(idx, stride, ws)))
        patch = xp[(Ellipsis,) + win].reshape(lead + (-1,))
        if mode == "max":
            r = np.nanmax(patch, axis=-1)
        elif mode == "sum":
            r = np.nansum(patch, axis=-1)
        elif mode == "average_exc_pad":
            r = np.nansum(patch, axis=-1) / np.sum(~np.isnan(patch), axis=-1)
        else:
            r = np.nansum(patch, axis=-1) / patch.shape[-1]
        out[(Ellipsis,) + idx] = r
    return out


def test_pool_3d():
    x = RNG.normal(size=(2, 3, 5, 4, 5))
    cases = [((2, 2, 2), None, (0, 0, 0), "max", True),
             ((3, 2, 2), (2, 1, 2), (1, 0, 1), "average_exc_pad", True),
             ((2, 3, 2), None, (1, 1, 0), "average_inc_pad", True),
             ((2, 2, 3), (1, 2, 2), (0, 0, 0), "sum", True),
             ((2, 3, 2), None, (0, 0, 0), "max", False)]
    check_op(lambda a: [pool_3d(a, ws=ws, stride=st, pad=pd, mode=m, ignore_border=ib)
                        for ws, st, pd, m, ib in cases], [x],
             ref=lambda a: [ref_pool3d(a, ws, st or ws, pd, m, ib)
                            for ws, st, pd, m, ib in cases], grad=False)
    verify_grad(lambda a: pool_3d(a, ws=(2, 2, 2), ignore_border=True, mode="average_exc_pad",
                                  pad=(1, 0, 1)), [x[:1, :1]], mode="py", n_tests=1)
    with pytest.raises(ValueError, match="3 ints"):
        pool_3d(T.dtensor4(), ws=(2, 2), ignore_border=True)


def test_abstract_conv_grad_ops_theano_names():
    x = RNG.normal(size=(2, 3, 6, 5))
    w = RNG.normal(size=(4, 3, 3, 2))
    g = RNG.normal(size=(2, 4, 4, 4))

    def grads(a, b, gz):
        out = conv2d(a, b)
        gx, gw = T.grad(T.sum(out * gz), [a, b])
        gi = AbstractConv2d_gradInputs(border_mode="valid")(b, gz, a.shape[2:])
        gww = AbstractConv2d_gradWeights(border_mode="valid")(a, gz, b.shape[2:])
        return [gi - gx, gww - gw, gi]

    res = check_op(grads, [x, w, g], grad=False, check_shape=False)
    np.testing.assert_allclose(res["py"][0], 0, atol=1e-12)
    np.testing.assert_allclose(res["py"][1], 0, atol=1e-12)


@pytest.mark.parametrize("mode", ["py", None])
@pytest.mark.parametrize("border,stride,dil", [("valid", (1, 1), (1, 1)),
                                               ("half", (2, 2), (1, 1)),
                                               ("full", (1, 2), (2, 1)),
                                               ((1, 2), (2, 1), (2, 2))])
def test_conv2d_transpose_is_the_gradient_of_conv2d(mode, border, stride, dil):
    """``T.nnet.conv2d_transpose`` (Theano 1.0's 'deconvolution'): the gradient of
    ``conv2d`` wrt its input, ``input_dilation`` being the forward's subsample; with
    ``filter_dilation`` the dilated convolution's, which ``conv2d_grad_wrt_inputs`` and
    ``conv2d_grad_wrt_weights`` used to accept and ignore (keyword arguments)."""
    import symgraph

    shape = (2, 3, 9, 8)
    w = RNG.normal(size=(4, 3, 3, 2))
    x = RNG.normal(size=shape)
    xs, ws = T.dtensor4("x"), T.dtensor4("w")
    y = conv2d(xs, ws, border_mode=border, subsample=stride, filter_dilation=dil)
    g = RNG.normal(size=symgraph.function([xs, ws], y, mode="py")(x, w).shape)
    gs = T.dtensor4("g")
    want_x, want_w = T.grad((y * gs).sum(), [xs, ws])
    got_x = T.nnet.conv2d_transpose(gs, ws, output_shape=shape, filter_shape=w.shape,
                                    border_mode=border, input_dilation=stride,
                                    filter_dilation=dil)
    got_w = T.nnet.conv2d_grad_wrt_weights(xs, gs, filter_shape=w.shape, input_shape=shape,
                                           border_mode=border, subsample=stride,
                                           filter_dilation=dil)
    f = symgraph.function([xs, ws, gs], [got_x, want_x, got_w, want_w], mode=mode)
    gx, wx, gw, ww = f(x, w, g)
    assert gx.shape == shape and gw.shape == w.shape
    np.testing.assert_allclose(gx, wx, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gw, ww, rtol=1e-12, atol=1e-12)


def test_conv2d_transpose_gradient_and_errors():
    w = RNG.normal(size=(2, 3, 3, 3))
    verify_grad(lambda a, b: T.nnet.conv2d_transpose(a, b, output_shape=(1, 3, 7, 7),
                                                     border_mode="half",
                                                     input_dilation=(2, 2)),
                [RNG.normal(size=(1, 2, 4, 4)), w], mode="py", n_tests=1)
    x = T.dtensor4("x")
    with pytest.raises(NotImplementedError, match="grouped"):
        T.nnet.conv2d_transpose(x, x, output_shape=(1, 4, 5, 5), num_groups=2)


def _bilinear_reference(img, r):
    """Bilinear interpolation of a 2-D image at rows/cols ``(i + s) / r - 0.5`` clamped to
    the image, ``s`` = 0.5 for an odd ratio (pixel centres) and 1 for an even one: Theano's
    note, "when the upsampling ratio is even, the last row and column is repeated one
    extra time compared to the first row and column"."""
    s = 0.5 if r % 2 else 1.0

    def coords(n):
        c = np.clip((np.arange(n * r) + s) / r - 0.5, 0, n - 1)
        lo = np.floor(c).astype(int)
        return lo, np.minimum(lo + 1, n - 1), c - lo

    (rl, rh, rt), (cl, ch, ct) = coords(img.shape[0]), coords(img.shape[1])
    top = img[rl][:, cl] * (1 - ct) + img[rl][:, ch] * ct
    bottom = img[rh][:, cl] * (1 - ct) + img[rh][:, ch] * ct
    return top * (1 - rt)[:, None] + bottom * rt[:, None]


@pytest.mark.parametrize("mode", ["py", None])
def test_bilinear_upsampling(mode):
    """``abstract_conv.bilinear_upsampling`` (Theano 1.0): 1-D and 2-D kernels agree,
    values are bilinear interpolation with the edges repeated (and Theano's asymmetry for
    even ratios), gradients match finite differences; ``T.nnet.abstract_conv`` is the
    module Theano code imports (its ``conv2d`` the current interface)."""
    import symgraph
    from symgraph.tensor.nnet import abstract_conv

    assert T.nnet.abstract_conv is abstract_conv and abstract_conv.conv2d is conv2d
    x = T.dtensor4("x")
    a = RNG.normal(size=(2, 3, 4, 5))
    for r in (1, 2, 3, 4):
        f = symgraph.function([x], [abstract_conv.bilinear_upsampling(x, r),
                                    abstract_conv.bilinear_upsampling(
                                        x, ratio=r, use_1D_kernel=False)], mode=mode)
        one_d, two_d = f(a)
        want = np.array([[_bilinear_reference(a[i, j], r) for j in range(3)]
                         for i in range(2)])
        assert one_d.shape == (2, 3, 4 * r, 5 * r)
        np.testing.assert_allclose(one_d, want, rtol=0, atol=1e-13)
        np.testing.assert_allclose(two_d, want, rtol=0, atol=1e-13)
    np.testing.assert_array_equal(
        symgraph.function([x], abstract_conv.bilinear_upsampling(x, 2), mode=mode)(
            np.array([[[[1.0, 2.0], [3.0, 4.0]]]]))[0, 0, 0], [1.0, 1.5, 2.0, 2.0])
    verify_grad(lambda v: abstract_conv.bilinear_upsampling(v, 3), [a[:1, :2, :3, :3]],
                mode="py", n_tests=1)
    with pytest.raises(NotImplementedError, match="frac_ratio"):
        abstract_conv.bilinear_upsampling(x, frac_ratio=((3, 2), (3, 2)))
    with pytest.raises(ValueError, match="ratio"):
        abstract_conv.bilinear_upsampling(x, 1.5)
