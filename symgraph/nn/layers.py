"""network3-style layers: ConvPoolLayer, FullyConnectedLayer, SoftmaxLayer.

Constructor arguments and ``set_inpt(inpt, inpt_dropout, mini_batch_size)`` are those of
the classic ``network3.py``; the layers use only symgraph's public API. Each layer builds
two graphs from its input: ``output`` (inference: dropout off, weights scaled by
``1 - p_dropout``) and ``output_dropout`` (training: a fresh random mask on every call).

Weights are drawn from ``numpy.random`` as in network3 (seed it with ``np.random.seed``),
or from the ``rng`` (a ``numpy.random.RandomState``) given to the constructor.

Example::

    >>> from symgraph.nn import FullyConnectedLayer, ReLU
    >>> layer = FullyConnectedLayer(n_in=784, n_out=100, activation_fn=ReLU)
    >>> layer.w.get_value().shape
    (784, 100)
"""
from __future__ import annotations

from typing import Callable

import numpy as np

import symgraph
import symgraph.tensor as T
from symgraph.tensor.nnet import conv, softmax
from symgraph.tensor.signal import pool

__all__ = ["ConvPoolLayer", "FullyConnectedLayer", "SoftmaxLayer", "ReLU", "linear",
           "sigmoid", "tanh", "dropout_layer", "ACTIVATIONS"]


# ------------------------------------------------------------------ activations
def linear(z):
    """Identity activation: ``linear(z) == z``.

    >>> linear(3)
    3
    """
    return z


def ReLU(z):
    """Rectified linear activation, ``max(0, z)`` (symbolic).

    >>> import symgraph.tensor as T
    >>> y = ReLU(T.vector('z'))
    """
    return T.maximum(0.0, z)


def sigmoid(z):
    """Logistic sigmoid ``1 / (1 + exp(-z))`` (symbolic; network3's default activation).

    >>> import symgraph.tensor as T
    >>> y = sigmoid(T.vector('z'))
    """
    return T.sigmoid(z)


def tanh(z):
    """Hyperbolic tangent (symbolic).

    >>> import symgraph.tensor as T
    >>> y = tanh(T.vector('z'))
    """
    return T.tanh(z)


#: names under which checkpoints record the activation functions (see ``Network.save``)
ACTIVATIONS: dict[str, Callable] = {"linear": linear, "relu": ReLU, "sigmoid": sigmoid,
                                    "tanh": tanh}


def _floatx(a) -> np.ndarray:
    return np.asarray(a, dtype=symgraph.config.floatX)


def _rng(rng):
    return rng if rng is not None else np.random


def _check_dropout(name: str, p_dropout: float) -> float:
    p = float(p_dropout)
    if not 0.0 <= p < 1.0:
        raise ValueError(f"{name}: p_dropout must be in [0, 1), got {p_dropout!r}")
    return p


def dropout_layer(layer, p_dropout: float, seed: int | None = None):
    """Zero each unit of ``layer`` with probability ``p_dropout`` (a fresh mask per call).

    As in network3, the kept units are not rescaled during training; instead the layers
    scale their weights by ``1 - p_dropout`` at inference. ``seed`` (default: drawn from
    ``numpy.random``, so ``np.random.seed`` makes training reproducible) seeds the
    layer's own random stream.

    >>> import symgraph.tensor as T
    >>> dropped = dropout_layer(T.matrix('a'), 0.5, seed=1)
    """
    if p_dropout == 0.0:
        return layer
    from symgraph.tensor import shared_randomstreams

    if seed is None:
        seed = int(np.random.randint(999999))
    srng = shared_randomstreams.RandomStreams(seed)
    mask = srng.binomial(n=1, p=1 - p_dropout, size=layer.shape)
    return layer * T.cast(mask, symgraph.config.floatX)


# ------------------------------------------------------------------ layers
class ConvPoolLayer:
    """A convolution with ``filter_shape`` filters, max-pooling by ``poolsize``, then the
    activation (no dropout: convolutional layers share their weights, as in network3).

    - ``filter_shape``: (number of filters, input feature maps, filter height, width)
    - ``image_shape``: (mini-batch size, input feature maps, image height, width)

    >>> layer = ConvPoolLayer(image_shape=(10, 1, 28, 28), filter_shape=(20, 1, 5, 5),
    ...                       poolsize=(2, 2), activation_fn=ReLU)
    >>> layer.n_out
    2880
    """

    kind = "conv_pool"

    def __init__(self, filter_shape, image_shape, poolsize=(2, 2), activation_fn=sigmoid,
                 rng=None):
        self.filter_shape = tuple(int(s) for s in filter_shape)
        self.image_shape = tuple(int(s) for s in image_shape)
        self.poolsize = tuple(int(s) for s in poolsize)
        if len(self.filter_shape) != 4 or len(self.image_shape) != 4 or len(self.poolsize) != 2:
            raise ValueError(
                f"ConvPoolLayer: expected filter_shape and image_shape of 4 ints and poolsize of "
                f"2, got {filter_shape!r}, {image_shape!r}, {poolsize!r}")
        if self.filter_shape[1] != self.image_shape[1]:
            raise ValueError(
                f"ConvPoolLayer: filter_shape {self.filter_shape} expects "
                f"{self.filter_shape[1]} input feature maps, image_shape {self.image_shape} has "
                f"{self.image_shape[1]}")
        conv_h = self.image_shape[2] - self.filter_shape[2] + 1
        conv_w = self.image_shape[3] - self.filter_shape[3] + 1
        if conv_h < 1 or conv_w < 1:
            raise ValueError(f"ConvPoolLayer: filters {self.filter_shape[2:]} are larger than "
                             f"the images {self.image_shape[2:]}")
        #: shape of one example's output (feature maps, rows, columns) and its size
        self.output_shape = (self.filter_shape[0], conv_h // self.poolsize[0],
                             conv_w // self.poolsize[1])
        self.n_out = int(np.prod(self.output_shape))
        self.activation_fn = activation_fn
        r = _rng(rng)
        n_out = filter_shape[0] * np.prod(filter_shape[2:]) / np.prod(poolsize)
        self.w = symgraph.shared(_floatx(r.normal(loc=0, scale=np.sqrt(1.0 / n_out),
                                                  size=self.filter_shape)), name="w", borrow=True)
        self.b = symgraph.shared(_floatx(r.normal(loc=0, scale=1.0, size=(filter_shape[0],))),
                                 name="b", borrow=True)
        self.params = [self.w, self.b]

    def set_inpt(self, inpt, inpt_dropout, mini_batch_size: int) -> None:
        """Build this layer's graph on ``inpt`` (reshaped to ``image_shape`` with
        ``mini_batch_size`` examples); ``inpt_dropout`` is ignored (no dropout here)."""
        shape = (mini_batch_size,) + self.image_shape[1:]
        self.inpt = inpt.reshape(shape)
        conv_out = conv.conv2d(input=self.inpt, filters=self.w, filter_shape=self.filter_shape,
                               image_shape=shape)
        pooled_out = pool.pool_2d(input=conv_out, ws=self.poolsize, ignore_border=True)
        self.output = self.activation_fn(pooled_out + self.b.dimshuffle("x", 0, "x", "x"))
        self.output_dropout = self.output  # no dropout in the convolutional layers

    def config(self) -> dict:
        """The constructor arguments (without weights), as recorded in checkpoints."""
        return {"filter_shape": self.filter_shape, "image_shape": self.image_shape,
                "poolsize": self.poolsize}


class FullyConnectedLayer:
    """A dense layer ``activation_fn(inpt . w + b)`` with optional dropout on its input.

    >>> layer = FullyConnectedLayer(n_in=2880, n_out=100, activation_fn=ReLU, p_dropout=0.5)
    >>> layer.b.get_value().shape
    (100,)
    """

    kind = "fully_connected"

    def __init__(self, n_in, n_out, activation_fn=sigmoid, p_dropout=0.0, rng=None):
        self.n_in = int(n_in)
        self.n_out = int(n_out)
        self.activation_fn = activation_fn
        self.p_dropout = _check_dropout("FullyConnectedLayer", p_dropout)
        r = _rng(rng)
        self.w = symgraph.shared(_floatx(r.normal(loc=0.0, scale=np.sqrt(1.0 / n_out),
                                                  size=(n_in, n_out))), name="w", borrow=True)
        self.b = symgraph.shared(_floatx(r.normal(loc=0.0, scale=1.0, size=(n_out,))),
                                 name="b", borrow=True)
        self.params = [self.w, self.b]

    def set_inpt(self, inpt, inpt_dropout, mini_batch_size: int) -> None:
        """Build ``output`` on ``inpt`` and ``output_dropout`` on ``inpt_dropout``."""
        self.inpt = inpt.reshape((mini_batch_size, self.n_in))
        self.output = self.activation_fn((1 - self.p_dropout) * T.dot(self.inpt, self.w) + self.b)
        self.y_out = T.argmax(self.output, axis=1)
        self.inpt_dropout = dropout_layer(inpt_dropout.reshape((mini_batch_size, self.n_in)),
                                          self.p_dropout)
        self.output_dropout = self.activation_fn(T.dot(self.inpt_dropout, self.w) + self.b)

    def accuracy(self, y):
        """Symbolic fraction of the mini-batch whose argmax output equals ``y``."""
        return T.mean(T.eq(y, self.y_out))

    def config(self) -> dict:
        """The constructor arguments (without weights), as recorded in checkpoints."""
        return {"n_in": self.n_in, "n_out": self.n_out, "p_dropout": self.p_dropout}


class SoftmaxLayer:
    """The output layer: softmax probabilities and the log-likelihood cost; weights start
    at zero, as in network3.

    >>> layer = SoftmaxLayer(n_in=100, n_out=10)
    >>> float(abs(layer.w.get_value()).sum())
    0.0
    """

    kind = "softmax"

    def __init__(self, n_in, n_out, p_dropout=0.0):
        self.n_in = int(n_in)
        self.n_out = int(n_out)
        self.p_dropout = _check_dropout("SoftmaxLayer", p_dropout)
        self.w = symgraph.shared(_floatx(np.zeros((n_in, n_out))), name="w", borrow=True)
        self.b = symgraph.shared(_floatx(np.zeros((n_out,))), name="b", borrow=True)
        self.params = [self.w, self.b]

    def set_inpt(self, inpt, inpt_dropout, mini_batch_size: int) -> None:
        """Build ``output`` (probabilities), ``y_out`` (predicted class) and
        ``output_dropout`` (the training graph)."""
        self.inpt = inpt.reshape((mini_batch_size, self.n_in))
        self.output = softmax((1 - self.p_dropout) * T.dot(self.inpt, self.w) + self.b)
        self.y_out = T.argmax(self.output, axis=1)
        self.inpt_dropout = dropout_layer(inpt_dropout.reshape((mini_batch_size, self.n_in)),
                                          self.p_dropout)
        self.output_dropout = softmax(T.dot(self.inpt_dropout, self.w) + self.b)

    def cost(self, net):
        """Log-likelihood cost of the training graph on ``net.y`` (the rewrites turn it
        into one stable softmax + NLL op)."""
        return -T.mean(T.log(self.output_dropout)[T.arange(net.y.shape[0]), net.y])

    def accuracy(self, y):
        """Symbolic fraction of the mini-batch whose predicted class equals ``y``."""
        return T.mean(T.eq(y, self.y_out))

    def config(self) -> dict:
        """The constructor arguments (without weights), as recorded in checkpoints."""
        return {"n_in": self.n_in, "n_out": self.n_out, "p_dropout": self.p_dropout}
