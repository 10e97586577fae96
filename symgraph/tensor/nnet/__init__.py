"""``symgraph.tensor.nnet`` — Theano's ``theano.tensor.nnet``: activations, softmax,
cross-entropies and 2-D convolution.

Example::

    >>> import symgraph.tensor as T
    >>> from symgraph.tensor.nnet import conv2d, softmax, sigmoid
    >>> x = T.tensor4('x'); w = T.tensor4('w')
    >>> h = T.nnet.relu(conv2d(x, w, border_mode='half'))
"""
from symgraph.tensor.nnet import (  # noqa: F401
    basic,
    conv,
)
from symgraph.tensor.nnet.basic import *  # noqa: F401,F403
from symgraph.tensor.nnet.conv import (  # noqa: F401
    Conv2d,
    Conv2dGradInputs,
    Conv2dGradWeights,
    abstract_conv2d,
    conv2d_grad_wrt_inputs,
    conv2d_grad_wrt_weights,
    conv2d_transpose,
    get_conv_output_shape,
)
from symgraph.tensor.nnet.conv_ext import (  # noqa: F401,E402
    AbstractConv2d, AbstractConv2d_gradInputs, AbstractConv2d_gradWeights, conv2d, conv3d,
)
from symgraph.tensor.nnet import bn  # noqa: F401,E402
from symgraph.tensor.nnet.bn import batch_normalization  # noqa: F401,E402
from symgraph.tensor.nnet import abstract_conv  # noqa: F401,E402
from symgraph.tensor.nnet.hsoftmax import h_softmax  # noqa: F401,E402
from symgraph.tensor.nnet import neighbours  # noqa: F401,E402
from symgraph.tensor.nnet.neighbours import images2neibs, neibs2images  # noqa: F401,E402
