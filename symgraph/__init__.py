"""symgraph: a Theano-style symbolic graph compiler with Numba CPU and CUDA backends.

Theano code runs with the imports changed::

    import symgraph as theano
    import symgraph.tensor as T

    a, b = T.dscalars('a', 'b')
    f = theano.function([a, b], T.sqrt(a ** 2 + b ** 2))
    f(3, 4)   # array(5.)
"""
# Importing symgraph changes nothing in the process (no environment variable, no malloc
# or threading-layer setting). The Numba backend's process tuning (OpenMP spin for this
# process only, glibc malloc reuse, BLAS threads) happens when it builds its first
# function: see ``symgraph/link/numba/runtime.py``, which documents each opt-out.

from symgraph.config import config  # noqa: F401, E402
from symgraph.compile.function import Function, function  # noqa: F401
from symgraph.compile.io import In, Out  # noqa: F401
from symgraph.compile.mode import Mode  # noqa: F401
from symgraph.compile.shared import SharedVariable, shared  # noqa: F401
from symgraph.graph.utils import MissingInputError, UnusedInputError  # noqa: F401
from symgraph import tensor  # noqa: F401
from symgraph import gradient  # noqa: F401
from symgraph.gradient import grad  # noqa: F401
# Theano's T.grad family: the tensor namespace names them, the gradient layer (above the
# tensor layer, which must not import it) defines them; the package puts them together.
for _name in ("grad", "hessian", "jacobian", "verify_grad", "Rop", "Lop"):
    setattr(tensor, _name, getattr(gradient, _name))
del _name
from symgraph.tensor.dot import dot  # noqa: F401
from symgraph import printing  # noqa: F401
from symgraph.printing import pp, debugprint  # noqa: F401
from symgraph import scan_module, ifelse  # noqa: F401,E402
from symgraph.scan_module import scan, map, reduce, foldl, foldr  # noqa: F401,E402,A004
from symgraph.graph.compare import clone_with_replace as clone  # noqa: F401,E402
from symgraph import sandbox  # noqa: F401,E402  (theano.sandbox.rng_mrg)
from symgraph import scalar  # noqa: F401,E402  (theano.scalar)
# ``theano.gof`` and the IR classes Theano's package namespace carries (``theano.Variable``,
# ``isinstance(x, theano.gof.Variable)`` in layer libraries such as Lasagne)
from symgraph.compat import gof  # noqa: F401,E402
from symgraph.compat.gof import (  # noqa: F401,E402
    Apply, Constant, FunctionGraph, Op, Type, Variable,
)

__version__ = "0.1.0"
