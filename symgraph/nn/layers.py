"""network3-style layers: ConvPoolLayer, FullyConnectedLayer, SoftmaxLayer.

Constructor arguments and ``set_inpt(inpt, inpt_dropout, mini_batch_size)`` are those of
the classic ``network3.py``; they use only symgraph's public API.

Example::

    layer = FullyConnectedLayer(n_in=784, n_out=100, activation_fn=ReLU)
"""
from __future__ import annotations

import numpy as np

import symgraph
import symgraph.tensor as T
from symgraph.tensor.nnet import conv, softmax
from symgraph.tensor.signal import pool


def linear(z):
    """Identity activation."""
    return z


def ReLU(z):
    """Rectified linear activation, max(0, z)."""
    return T.maximum(0.0, z)


def sigmoid(z):
    return T.sigmoid(z)


def tanh(z):
    return T.tanh(z)


ACTIVATIONS = {"linear": linear, "relu": ReLU, "ReLU": ReLU, "sigmoid": sigmoid, "tanh": tanh}


def _floatx(a):
    return np.asarray(a, dtype=symgraph.config.floatX)


def _rng(rng):
    return rng if rng is not None else np.random


def dropout_layer(layer, p_dropout, seed=None):
    """Zero each unit with probability ``p_dropout`` (a fresh mask on every call)."""
    if p_dropout == 0.0:
        return layer
    from symgraph.tensor import shared_randomstreams

    srng = shared_randomstreams.RandomStreams(
        np.random.RandomState(0).randint(999999) if seed is None else seed)
    mask = srng.binomial(n=1, p=1 - p_dropout, size=layer.shape)
    return layer * T.cast(mask, symgraph.config.floatX)


class ConvPoolLayer:
    """A convolution followed by max-pooling (and the activation)."""

    kind = "conv_pool"

    def __init__(self, filter_shape, image_shape, poolsize=(2, 2), activation_fn=sigmoid,
                 rng=None):
        self.filter_shape = tuple(filter_shape)
        self.image_shape = tuple(image_shape)
        self.poolsize = tuple(poolsize)
        self.activation_fn = activation_fn
        r = _rng(rng)
        n_out = filter_shape[0] * np.prod(filter_shape[2:]) / np.prod(poolsize)
        self.w = symgraph.shared(_floatx(r.normal(loc=0, scale=np.sqrt(1.0 / n_out),
                                                  size=filter_shape)), name="w", borrow=True)
        self.b = symgraph.shared(_floatx(r.normal(loc=0, scale=1.0, size=(filter_shape[0],))),
                                 name="b", borrow=True)
        self.params = [self.w, self.b]

    def set_inpt(self, inpt, inpt_dropout, mini_batch_size):
        shape = (mini_batch_size,) + self.image_shape[1:]
        self.inpt = inpt.reshape(shape)
        conv_out = conv.conv2d(input=self.inpt, filters=self.w, filter_shape=self.filter_shape,
                               image_shape=shape)
        pooled_out = pool.pool_2d(input=conv_out, ws=self.poolsize, ignore_border=True)
        self.output = self.activation_fn(pooled_out + self.b.dimshuffle("x", 0, "x", "x"))
        self.output_dropout = self.output  # no dropout in the convolutional layers

    def config(self):
        return {"filter_shape": self.filter_shape, "image_shape": self.image_shape,
                "poolsize": self.poolsize}


class FullyConnectedLayer:
    """A dense layer with optional dropout."""

    kind = "fully_connected"

    def __init__(self, n_in, n_out, activation_fn=sigmoid, p_dropout=0.0, rng=None):
        self.n_in = n_in
        self.n_out = n_out
        self.activation_fn = activation_fn
        self.p_dropout = p_dropout
        r = _rng(rng)
        self.w = symgraph.shared(_floatx(r.normal(loc=0.0, scale=np.sqrt(1.0 / n_out),
                                                  size=(n_in, n_out))), name="w", borrow=True)
        self.b = symgraph.shared(_floatx(r.normal(loc=0.0, scale=1.0, size=(n_out,))),
                                 name="b", borrow=True)
        self.params = [self.w, self.b]

    def set_inpt(self, inpt, inpt_dropout, mini_batch_size):
        self.inpt = inpt.reshape((mini_batch_size, self.n_in))
        self.output = self.activation_fn((1 - self.p_dropout) * T.dot(self.inpt, self.w) + self.b)
        self.y_out = T.argmax(self.output, axis=1)
        self.inpt_dropout = dropout_layer(inpt_dropout.reshape((mini_batch_size, self.n_in)),
                                          self.p_dropout)
        self.output_dropout = self.activation_fn(T.dot(self.inpt_dropout, self.w) + self.b)

    def accuracy(self, y):
        return T.mean(T.eq(y, self.y_out))

    def config(self):
        return {"n_in": self.n_in, "n_out": self.n_out, "p_dropout": self.p_dropout}


class SoftmaxLayer:
    """The output layer: softmax probabilities and the negative log-likelihood cost."""

    kind = "softmax"

    def __init__(self, n_in, n_out, p_dropout=0.0):
        self.n_in = n_in
        self.n_out = n_out
        self.p_dropout = p_dropout
        self.w = symgraph.shared(_floatx(np.zeros((n_in, n_out))), name="w", borrow=True)
        self.b = symgraph.shared(_floatx(np.zeros((n_out,))), name="b", borrow=True)
        self.params = [self.w, self.b]

    def set_inpt(self, inpt, inpt_dropout, mini_batch_size):
        self.inpt = inpt.reshape((mini_batch_size, self.n_in))
        self.output = softmax((1 - self.p_dropout) * T.dot(self.inpt, self.w) + self.b)
        self.y_out = T.argmax(self.output, axis=1)
        self.inpt_dropout = dropout_layer(inpt_dropout.reshape((mini_batch_size, self.n_in)),
                                          self.p_dropout)
        self.output_dropout = softmax(T.dot(self.inpt_dropout, self.w) + self.b)

    def cost(self, net):
        """Log-likelihood cost (stabilized by the optimizer into one fused op)."""
        return -T.mean(T.log(self.output_dropout)[T.arange(net.y.shape[0]), net.y])

    def accuracy(self, y):
        return T.mean(T.eq(y, self.y_out))

    def config(self):
        return {"n_in": self.n_in, "n_out": self.n_out, "p_dropout": self.p_dropout}
