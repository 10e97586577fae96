"""network3-style neural networks on symgraph: ``Network`` and its layers.

Example::

    from symgraph.nn import Network, ConvPoolLayer, FullyConnectedLayer, SoftmaxLayer, ReLU
"""
from symgraph.nn.layers import (  # noqa: F401
    ConvPoolLayer, FullyConnectedLayer, ReLU, SoftmaxLayer, dropout_layer, linear, sigmoid, tanh,
)
from symgraph.nn.network import Network, size  # noqa: F401
