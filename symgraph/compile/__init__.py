"""Compilation: ``function``, shared variables, modes (incl. the checking modes
``DebugMode`` and ``NanGuardMode``, as at Theano's ``theano.compile``)."""
from symgraph.compile.debugmode import DebugMode  # noqa: F401
from symgraph.compile.nanguardmode import NanGuardMode  # noqa: F401
