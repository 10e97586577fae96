"""``config.warn_float64``: act when a float64 tensor variable is created.

Why: code meant to run in float32 (``floatX=float32``, GPUs, half the memory traffic)
silently upcasts when one float64 constant or ``T.dvector`` slips in; Theano's flag
``warn_float64={ignore,warn,raise,pdb}`` finds the line that did it. As in Theano, the
check runs when a ``TensorVariable`` (not a constant) of dtype float64 is made.

Example::

    >>> import symgraph, symgraph.tensor as T
    >>> symgraph.config.warn_float64 = 'raise'
    >>> T.dvector('x')          # raises Float64Error naming this line
"""
from __future__ import annotations

import warnings

from symgraph.config import config
from symgraph.graph.utils import format_trace, user_stacklevel, user_trace


class Float64Error(TypeError):
    """A float64 tensor variable was created while ``config.warn_float64='raise'``."""


def float64_created(var) -> None:
    """Apply ``config.warn_float64`` to the new float64 variable ``var``."""
    action = config.warn_float64
    if action == "ignore":
        return
    what = f"variable {var.name!r}" if var.name else (
        f"the output of {var.owner.op}" if var.owner is not None else "a variable")
    msg = (f"You are creating a TensorVariable with float64 dtype ({what}). You requested an "
           f"action via the flag warn_float64={action!r} (one of ignore, warn, raise, pdb).")
    if action == "warn":
        warnings.warn(msg, UserWarning, stacklevel=user_stacklevel())
    elif action == "raise":
        raise Float64Error(msg + "\n" + format_trace(user_trace(1)))
    elif action == "pdb":  # pragma: no cover - interactive
        import pdb

        pdb.set_trace()
