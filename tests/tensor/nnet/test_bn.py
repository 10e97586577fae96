"""T.nnet.bn: batch_normalization, batch_normalization_train/_test against a numpy
transcription of Theano 1.0's reference, on the py and Numba backends, with gradients
(issue 21 item 2)."""
import numpy as np
import pytest

import symgraph.tensor as T
from symgraph.gradient import verify_grad
from symgraph.tensor.nnet import bn
from symgraph.testing import check_op

RNG = np.random.default_rng(5)
X = RNG.normal(size=(4, 3, 2, 2)) * 3 + 1
G = RNG.normal(size=3)
B = RNG.normal(size=3)
RM = RNG.normal(size=3)
RV = RNG.random(3) + 0.5
EPS = 1e-4


def _ref_train(x, g, b, rm, rv, axes, f=0.1):
    """Theano's AbstractBatchNormTrain.perform, with params in the non-axes layout."""
    shape = [1 if i in axes else s for i, s in enumerate(x.shape)]
    g, b, rm, rv = (p.reshape(shape) for p in (g, b, rm, rv))
    mean = x.mean(axes, keepdims=True)
    var = x.var(axes, keepdims=True)
    invstd = 1.0 / np.sqrt(var + EPS)
    out = (x - mean) * (g * invstd) + b
    m = x.size / mean.size
    new_rm = rm * (1 - f) + mean * f
    new_rv = rv * (1 - f) + (m / max(m - 1.0, 1.0)) * var * f
    sq = [i for i in range(x.ndim) if i not in axes]
    return [out] + [r.reshape([r.shape[i] for i in sq]) for r in (mean, invstd, new_rm, new_rv)]


def test_train_spatial_with_running_averages():
    check_op(lambda x, g, b, rm, rv: list(bn.batch_normalization_train(
                 x, g, b, axes="spatial", running_mean=rm, running_var=rv)),
             [X, G, B, RM, RV], ref=lambda *a: _ref_train(*a, axes=(0, 2, 3)), grad=False)


def test_train_per_activation_and_full_ndim_params():
    x2 = X.reshape(4, 12)[:, :3]
    check_op(lambda x, g, b: list(bn.batch_normalization_train(x, g, b)),
             [x2, G, B], ref=lambda x, g, b: _ref_train(x, g, b, G, G, (0,))[:3], grad=False)
    # gamma/beta with the inputs' ndim (broadcastable on the axes): statistics keep it
    g4, b4 = G.reshape(1, 3, 1, 1), B.reshape(1, 3, 1, 1)
    out = bn.batch_normalization_train(T.dtensor4(), T.dtensor4(), T.dtensor4(),
                                       axes=(0, 2, 3))
    assert out[1].type.ndim == 4
    check_op(lambda x, g, b: bn.batch_normalization_train(x, g, b, axes=(0, 2, 3))[0],
             [X, g4, b4], ref=lambda x, g, b: _ref_train(x, G, B, G, G, (0, 2, 3))[0],
             grad=False, broadcastable=[None, (True, False, True, True),
                                        (True, False, True, True)])


def test_gradients():
    # through the output and the returned batch statistics, w.r.t. inputs, gamma and beta
    def f(x, g, b):
        out, mean, invstd = bn.batch_normalization_train(x, g, b, axes="spatial")
        return T.sum(out ** 2 * T.arange(4).dimshuffle(0, "x", "x", "x")) + T.sum(mean * invstd)

    verify_grad(f, [X, G, B], mode="py", n_tests=1)
    verify_grad(lambda x, g, b, m, v: bn.batch_normalization_test(x, g, b, m, v, axes="spatial"),
                [X[:2], G, B, RM, RV], mode="py", n_tests=1)
    verify_grad(lambda x, g, b, m, s: bn.batch_normalization(x, g, b, m, s),
                [X[:, 0, 0], G[:1], B[:1], RM[:1], RV[:1]], mode="py", n_tests=1)
    # the gradient graph runs on both backends alike
    check_op(lambda x, g, b: T.grad(f(x, g, b), [x, g, b]), [X, G, B], grad=False,
             check_shape=False)


def test_test_mode_and_plain():
    shape = (1, 3, 1, 1)
    check_op(lambda x, g, b, m, v: [bn.batch_normalization_test(x, g, b, m, v, axes="spatial"),
                                    T.nnet.batch_normalization(
                                        x, g.dimshuffle("x", 0, "x", "x"),
                                        b.dimshuffle("x", 0, "x", "x"),
                                        m.dimshuffle("x", 0, "x", "x"),
                                        T.sqrt(v.dimshuffle("x", 0, "x", "x") + EPS))],
             [X, G, B, RM, RV],
             ref=lambda x, g, b, m, v: [
                 (x - m.reshape(shape)) * (g.reshape(shape) / np.sqrt(v.reshape(shape) + EPS))
                 + b.reshape(shape)] * 2, grad=False)


def test_errors():
    x = T.dtensor4()
    v = T.dvector()
    with pytest.raises(ValueError, match="epsilon"):
        bn.batch_normalization_train(x, v, v, axes="spatial", epsilon=1e-6)
    with pytest.raises(ValueError, match="dimensions"):
        bn.batch_normalization_train(x, T.dmatrix(), v, axes="spatial")
    with pytest.raises(ValueError, match="together"):
        bn.batch_normalization_train(x, v, v, axes="spatial", running_mean=v)
    with pytest.raises(ValueError, match="axes"):
        bn.batch_normalization_train(x, v, v, axes="bogus")
    with pytest.raises(ValueError, match="mode"):
        bn.batch_normalization(x, v, v, v, v, mode="fast")
