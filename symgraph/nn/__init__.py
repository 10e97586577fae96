"""network3-style neural networks on symgraph: ``Network`` and its layers.

The classic program, with the classic names::

    >>> import numpy as np
    >>> from symgraph.nn import Network, ConvPoolLayer, FullyConnectedLayer, SoftmaxLayer, ReLU
    >>> mini_batch_size = 10
    >>> net = Network([
    ...     ConvPoolLayer(image_shape=(mini_batch_size, 1, 28, 28), filter_shape=(20, 1, 5, 5),
    ...                   poolsize=(2, 2), activation_fn=ReLU),
    ...     FullyConnectedLayer(n_in=20 * 12 * 12, n_out=100, activation_fn=ReLU),
    ...     SoftmaxLayer(n_in=100, n_out=10)], mini_batch_size)
    >>> # history = net.SGD(training_data, 60, mini_batch_size, 0.03,
    >>> #                   validation_data, test_data, lmbda=0.1)

The ``symgraph-mnist`` command (``symgraph.nn.cli``) runs this program from the shell.
"""
from symgraph.nn.layers import (
    ACTIVATIONS,
    ConvPoolLayer,
    FullyConnectedLayer,
    ReLU,
    SoftmaxLayer,
    dropout_layer,
    linear,
    sigmoid,
    tanh,
)
from symgraph.nn.network import Network, size

__all__ = ["ACTIVATIONS", "ConvPoolLayer", "FullyConnectedLayer", "Network", "ReLU",
           "SoftmaxLayer", "dropout_layer", "linear", "sigmoid", "size", "tanh"]
