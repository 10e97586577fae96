"""``map``, ``reduce``, ``foldl``, ``foldr``: Theano's thin wrappers around ``scan``."""
from __future__ import annotations

from symgraph.scan_module.basic import scan


def map(fn, sequences, non_sequences=None, truncate_gradient=-1, go_backwards=False,
        mode=None, name=None):
    """``fn`` applied to every row of ``sequences``; returns ``(outputs, updates)``."""
    return scan(fn, sequences=sequences, outputs_info=None, non_sequences=non_sequences,
                truncate_gradient=truncate_gradient, go_backwards=go_backwards, mode=mode,
                name=name or "map")


def reduce(fn, sequences, outputs_info, non_sequences=None, go_backwards=False, mode=None,
           name=None):
    """Fold ``fn`` over ``sequences``; returns the final value(s) and the updates."""
    outs, updates = scan(fn, sequences=sequences, outputs_info=outputs_info,
                         non_sequences=non_sequences, go_backwards=go_backwards, mode=mode,
                         name=name or "reduce", return_list=True)
    infos = outputs_info if isinstance(outputs_info, (list, tuple)) else [outputs_info]
    # recurrent outputs keep only their last value (the save-memory rewrite then keeps
    # only that value in memory); Theano does the same for outputs without an initial value
    last = [o[-1] for o, _ in zip(outs, infos)] + [o[-1] for o in outs[len(infos):]]
    if len(last) == 1:
        return last[0], updates
    return last, updates


def foldl(fn, sequences, outputs_info, non_sequences=None, mode=None, name=None):
    """``reduce`` from the first row to the last."""
    return reduce(fn, sequences, outputs_info, non_sequences, go_backwards=False, mode=mode,
                  name=name or "foldl")


def foldr(fn, sequences, outputs_info, non_sequences=None, mode=None, name=None):
    """``reduce`` from the last row to the first."""
    return reduce(fn, sequences, outputs_info, non_sequences, go_backwards=True, mode=mode,
                  name=name or "foldr")
