"""Compilation: ``function``, shared variables, modes (incl. the checking modes
``DebugMode`` and ``NanGuardMode``), under the names Theano's ``theano.compile`` has, so
code such as ``isinstance(p, theano.compile.SharedVariable)`` (Lasagne) runs as written."""
from symgraph.compile.debugmode import DebugMode  # noqa: F401
from symgraph.compile.function import Function, function  # noqa: F401
from symgraph.compile.io import In, Out  # noqa: F401
from symgraph.compile.mode import Mode, get_mode  # noqa: F401
from symgraph.compile.nanguardmode import NanGuardMode  # noqa: F401
from symgraph.compile.shared import SharedVariable, shared  # noqa: F401
from symgraph.tensor.sharedvar import TensorSharedVariable  # noqa: F401
