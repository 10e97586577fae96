"""Batch normalization: Theano's ``theano.tensor.nnet.bn`` -- ``batch_normalization``,
``batch_normalization_train`` and ``batch_normalization_test``.

Why graphs and not ops: each is a handful of reductions and elementwise ops (which the
optimizer fuses), so its gradient -- with respect to the inputs, gamma and beta, and
through the batch mean and inverse std it returns -- is exact by construction, and it
runs on every backend. The formulas, shapes, parameter conventions and checks are
Theano 1.0's: the batch variance is the biased one, the running variance is updated with
the unbiased one (``m / (m - 1)``), ``epsilon`` must be at least 1e-5.

Example::

    >>> import symgraph.tensor as T
    >>> from symgraph.tensor.nnet.bn import batch_normalization_train
    >>> x = T.dmatrix('x'); g = T.dvector('g'); b = T.dvector('b')
    >>> out, mean, invstd = batch_normalization_train(x, g, b, axes='per-activation')
"""
from __future__ import annotations

import numpy as np

from symgraph.tensor.basic import as_tensor_variable

__all__ = ["batch_normalization", "batch_normalization_train", "batch_normalization_test"]


def _T():
    import symgraph.tensor as T

    return T


def batch_normalization(inputs, gamma, beta, mean, std, mode="low_mem"):
    """``(inputs - mean) * (gamma / std) + beta``, all broadcasting elementwise (Theano's
    ``T.nnet.batch_normalization``; ``mode`` 'low_mem' or 'high_mem' give the same
    values)."""
    if mode not in ("low_mem", "high_mem"):
        raise ValueError(f"batch_normalization: mode must be 'low_mem' or 'high_mem', got "
                         f"{mode!r}")
    args = [as_tensor_variable(v) for v in (inputs, gamma, beta, mean, std)]
    inputs, gamma, beta, mean, std = args
    return (inputs - mean) * (gamma / std) + beta


def _prepare_axes(axes, ndim):
    if axes == "per-activation":
        axes = (0,)
    elif axes == "spatial":
        axes = (0,) + tuple(range(2, ndim))
    elif isinstance(axes, (tuple, list, np.ndarray)):
        axes = tuple(int(a) for a in axes)
    else:
        raise ValueError(f"batch_normalization: axes must be 'per-activation', 'spatial' or a "
                         f"tuple of ints, got {axes!r}")
    axes = tuple(sorted(set(axes)))
    if not axes or axes[0] < 0 or axes[-1] >= ndim:
        raise ValueError(f"batch_normalization: axes {axes} are invalid for inputs with "
                         f"{ndim} dimensions")
    non_bc = tuple(i for i in range(ndim) if i not in axes)
    return axes, non_bc


def _param_adapter(ndim, axes, non_bc, gamma_ndim, what):
    """A function putting a parameter into the inputs' layout, and params' ndim."""
    T = _T()
    if gamma_ndim == ndim:
        return (lambda p: T.addbroadcast(p, *axes)), ndim
    pattern = ["x"] * ndim
    for i, ax in enumerate(non_bc):
        pattern[ax] = i
    return (lambda p: p.dimshuffle(pattern)), len(non_bc)


def _check_epsilon(epsilon, what):
    from symgraph.config import config

    eps = np.asarray(epsilon, dtype=config.floatX)
    # checked after the cast, as Theano: float32(1e-5) < 1e-5
    if eps < 1e-5:
        raise ValueError(f"{what}: epsilon must be at least 1e-5, got {epsilon}")
    return float(eps)


def batch_normalization_train(inputs, gamma, beta, axes="per-activation", epsilon=1e-4,
                              running_average_factor=0.1, running_mean=None,
                              running_var=None):
    """Normalize ``inputs`` with the mean and variance over ``axes`` of this batch.

    ``axes``: 'per-activation' (``(0,)``), 'spatial' (``(0, 2, 3, ...)``) or a tuple.
    ``gamma``/``beta`` have the inputs' ndim (length 1 on ``axes``) or only the other
    axes. Returns ``(out, mean, invstd)``, plus ``(new_running_mean, new_running_var)``
    when ``running_mean``/``running_var`` are given (``running * (1 - factor) + batch *
    factor``, the variance unbiased); those come back in the parameters' layout.
    """
    T = _T()
    inputs = as_tensor_variable(inputs)
    gamma = as_tensor_variable(gamma)
    beta = as_tensor_variable(beta)
    ndim = inputs.type.ndim
    axes, non_bc = _prepare_axes(axes, ndim)
    adapt, params_ndim = _param_adapter(ndim, axes, non_bc, gamma.type.ndim, "gamma")
    if gamma.type.ndim != params_ndim or beta.type.ndim != params_ndim:
        raise ValueError(
            f"batch_normalization_train: gamma and beta must have {len(non_bc)} dimensions "
            f"(the non-normalized axes) or {ndim} (the inputs'), got {gamma.type.ndim} and "
            f"{beta.type.ndim}")
    if (running_mean is None) != (running_var is None):
        raise ValueError("batch_normalization_train: give running_mean and running_var "
                         "together, or neither")
    eps = _check_epsilon(epsilon, "batch_normalization_train")
    mean = T.mean(inputs, axis=axes, keepdims=True)
    var = T.var(inputs, axis=axes, keepdims=True)
    invstd = T.inv(T.sqrt(var + T.constant(eps, dtype=var.type.dtype)))
    out = (inputs - mean) * (adapt(gamma) * invstd) + adapt(beta)
    results = [out, mean, invstd]
    if running_mean is not None:
        running_mean = as_tensor_variable(running_mean)
        running_var = as_tensor_variable(running_var)
        if running_mean.type.ndim != params_ndim or running_var.type.ndim != params_ndim:
            raise ValueError(f"batch_normalization_train: running_mean and running_var must "
                             f"have {params_ndim} dimensions, like gamma")
        f = running_average_factor
        m = T.cast(inputs.size, var.type.dtype) / T.cast(mean.size, var.type.dtype)
        unbiased = var * (m / T.maximum(m - 1.0, 1.0))
        new_mean = adapt(running_mean) * (1.0 - f) + mean * f
        new_var = adapt(running_var) * (1.0 - f) + unbiased * f
        results += [new_mean, new_var]
    # the statistics go back to the parameters' layout
    if params_ndim != ndim:
        results = [results[0]] + [r.dimshuffle(non_bc) for r in results[1:]]
    else:
        results = [results[0]] + [_like(r, p) for r, p in zip(
            results[1:], [gamma, gamma] + ([running_mean, running_var]
                                           if running_mean is not None else []))]
    return tuple(results)


def _like(r, p):
    """``r`` with ``p``'s broadcastable pattern where the two can differ."""
    T = _T()
    if r.type.broadcastable == p.type.broadcastable:
        return r
    return T.patternbroadcast(r, p.type.broadcastable)


def batch_normalization_test(inputs, gamma, beta, mean, var, axes="per-activation",
                             epsilon=1e-4):
    """Normalize ``inputs`` with given (running) ``mean`` and ``var``:
    ``(inputs - mean) * gamma / sqrt(var + epsilon) + beta``; the parameters' layout rules
    are those of ``batch_normalization_train``."""
    T = _T()
    inputs = as_tensor_variable(inputs)
    params = [as_tensor_variable(v) for v in (gamma, beta, mean, var)]
    ndim = inputs.type.ndim
    axes, non_bc = _prepare_axes(axes, ndim)
    adapt, params_ndim = _param_adapter(ndim, axes, non_bc, params[0].type.ndim, "gamma")
    if any(p.type.ndim != params_ndim for p in params):
        raise ValueError(
            f"batch_normalization_test: gamma, beta, mean and var must all have "
            f"{len(non_bc)} dimensions (the non-normalized axes) or {ndim} (the inputs'), "
            f"got {[p.type.ndim for p in params]}")
    eps = _check_epsilon(epsilon, "batch_normalization_test")
    gamma, beta, mean, var = [adapt(p) for p in params]
    return (inputs - mean) * (gamma / T.sqrt(var + T.constant(eps, dtype=var.type.dtype))) \
        + beta
