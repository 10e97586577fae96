"""``symgraph.tensor`` — Theano's ``theano.tensor``: types, constructors and ops.

Example::

    >>> import symgraph.tensor as T
    >>> x = T.dmatrix('x')
    >>> y = T.sum(T.exp(x), axis=1)
"""
from symgraph.tensor.basic import *  # noqa: F401,F403
from symgraph.tensor.basic import as_tensor_args, as_tensor_variable, constant, tensor  # noqa: F401
from symgraph.tensor.elemwise import Composite, DimShuffle, Elemwise  # noqa: F401
from symgraph.tensor.math import *  # noqa: F401,F403
from symgraph.tensor.math import (  # noqa: F401
    abs, all, any, max, min, pow, round, sum,
)
from symgraph.tensor.shape_ops import *  # noqa: F401,F403
from symgraph.tensor.type import TensorType  # noqa: F401
from symgraph.tensor.variable import TensorConstant, TensorVariable  # noqa: F401
from symgraph.tensor import subtensor  # noqa: F401,E402
from symgraph.tensor.subtensor import *  # noqa: F401,F403,E402
from symgraph.tensor.dot import *  # noqa: F401,F403,E402
from symgraph.tensor import nnet  # noqa: F401,E402
# T.grad, T.jacobian, ...: defined by symgraph.gradient (a layer above this one) and
# named here by symgraph/__init__.py, which imports both

as_tensor = as_tensor_variable
square = sqr  # noqa: F405  (Theano's name for x ** 2)
from symgraph.tensor import extra_ops, sort as _sort_mod  # noqa: F401,E402
from symgraph.tensor.sort import argsort, sort  # noqa: F401,E402
from symgraph.tensor.extra_ops import cumprod, cumsum, diff, bincount  # noqa: F401,E402
from symgraph.tensor import nlinalg, slinalg  # noqa: F401,E402
from symgraph.tensor.nlinalg import tril, triu  # noqa: F401,E402
_as_tensor_variable = as_tensor_variable
