"""``config.compute_test_value``: run each op on test values while the graph is built.

Why: a shape mismatch in a symbolic graph otherwise shows up only when the compiled
function first runs, far from the line that built the bad expression. With test values
(``x.tag.test_value = np.zeros((5, 3))``) every op is also evaluated with its numpy
reference (``perform``) as it is applied, so the error is raised by the line that
applies it, and every intermediate result carries ``.tag.test_value`` for inspection.

Settings, as in Theano: ``'off'`` (default: nothing runs), ``'ignore'`` (compute where
every input has a test value, skip silently otherwise), ``'warn'`` (same, with a
warning for a missing value), ``'raise'`` (a missing value is an error), ``'pdb'``
(drop into the debugger on a missing value).

Example::

    >>> symgraph.config.compute_test_value = 'raise'
    >>> x = T.matrix('x'); x.tag.test_value = np.zeros((5, 3))
    >>> y = T.vector('y'); y.tag.test_value = np.zeros(4)
    >>> x + y     # ValueError here: shapes (5, 3) and (4,) do not broadcast
"""
from __future__ import annotations

import warnings

import numpy as np

from symgraph.config import config
from symgraph.graph.basic import Constant, toposort
from symgraph.graph.utils import format_trace, user_stacklevel, user_trace

_MISSING = object()


class TestValueError(ValueError):
    """An op's input has no test value while ``compute_test_value='raise'``."""

    __test__ = False  # not a pytest test class


def get_test_value(v):
    """The test value of ``v``: a constant's data, a shared variable's current value, or
    ``v.tag.test_value`` checked against ``v``'s type; ``_MISSING`` when it has none."""
    if isinstance(v, Constant):
        return v.data
    container = getattr(v, "container", None)
    if container is not None:
        return container.value
    tv = getattr(v.tag, "test_value", _MISSING)
    if tv is _MISSING:
        return tv
    try:
        return v.type.filter(tv, strict=False, name=f"test value of {v}")
    except TypeError as e:
        raise TypeError(f"{e}\n  (the tag.test_value given for {v} does not match its type "
                        f"{v.type})\n" + format_trace(user_trace(1))) from None


def compute_test_values(node) -> None:
    """Evaluate ``node`` on its inputs' test values and store the outputs' test values
    (called by ``Op.__call__`` unless ``compute_test_value`` is 'off')."""
    action = config.compute_test_value
    if action == "off":
        return
    _fill_from_owners(node.inputs)
    values = []
    for i, v in enumerate(node.inputs):
        tv = get_test_value(v)
        if tv is _MISSING:
            msg = (f"Cannot compute test value: input {i} ({v}) of {node.op} has no test "
                   f"value. Set it with {v}.tag.test_value = <array>, or set "
                   f"config.compute_test_value = 'off' (or 'ignore').")
            if action == "raise":
                raise TestValueError(msg + "\n" + format_trace(user_trace(1)))
            if action == "warn":
                warnings.warn(msg, stacklevel=user_stacklevel())
            elif action == "pdb":  # pragma: no cover - interactive
                import pdb

                pdb.set_trace()
            return
        values.append(tv)
    try:
        outs = node.op.perform(node, values)
    except Exception as e:  # noqa: BLE001 - re-raised with the node and the user's line
        shapes = ", ".join(f"{np.shape(v)} {np.asarray(v).dtype}" for v in values)
        msg = (f"{e}\n  while computing the test value of {node.op} (config."
               f"compute_test_value={action!r})\n  Input test value shapes and dtypes: "
               f"({shapes})\n  Created at:\n    "
               + format_trace(user_trace(1)).replace("\n", "\n    "))
        cls = type(e) if isinstance(e, (ValueError, IndexError, TypeError)) else ValueError
        try:
            err = cls(msg)
        except Exception:  # noqa: BLE001 - exotic exception signatures
            err = ValueError(msg)
        raise err from None
    for o, val in zip(node.outputs, outs):
        o.tag.test_value = val



def _fill_from_owners(variables) -> None:
    """Give test values to intermediate ``variables`` built without ``Op.__call__`` (a
    node rebuilt by ``clone_with_new_inputs``, e.g. by the gradient's stabilization),
    computing their nodes from inputs that have test values."""
    todo = [v for v in variables
            if v.owner is not None and getattr(v.tag, "test_value", _MISSING) is _MISSING]
    if not todo:
        return
    for node in toposort(todo):
        if all(hasattr(o.tag, "test_value") for o in node.outputs):
            continue
        values = [get_test_value(v) for v in node.inputs]
        if any(x is _MISSING for x in values):
            continue
        for o, val in zip(node.outputs, node.op.perform(node, values)):
            o.tag.test_value = val
