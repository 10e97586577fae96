"""``function(inputs, {'loss': l, 'acc': a})``: a call returns a dict, as in Theano.

Theano's rule: the keys must be strings; the outputs are compiled in sorted key order
and each call returns ``{key: value}``.
"""
from __future__ import annotations


def split_dict_outputs(outputs: dict):
    """(sorted keys, outputs in that order); TypeError for a non-string key."""
    for k in outputs:
        if not isinstance(k, str):
            raise TypeError(f"function: the keys of a dict of outputs must be strings, got "
                            f"{k!r} ({type(k).__name__})")
    keys = sorted(outputs)
    return keys, [outputs[k] for k in keys]


class DictOutputFunction:
    """A compiled function whose call returns ``{key: output}``."""

    def __init__(self, fn, keys, spec):
        self._fn = fn
        self.output_keys = keys
        self._spec = spec

    def __getattr__(self, name):
        if name.startswith("__") or name == "_fn":
            raise AttributeError(name)
        return getattr(self._fn, name)

    def __call__(self, *args, **kwargs):
        outs = self._fn(*args, **kwargs)
        return dict(zip(self.output_keys, outs))

    def copy(self):
        from symgraph.compile.function import compile_spec

        return compile_spec(self._spec)

    def __reduce__(self):
        from symgraph.compile.function import compile_spec

        return (compile_spec, (self._spec,))

    def __repr__(self):
        return f"<symgraph Function returning a dict {self.output_keys}: {self._fn!r}>"


def compile_dict_outputs(spec):
    from symgraph.compile.function import compile_spec

    keys, outs = split_dict_outputs(spec["outputs"])
    inner = compile_spec(dict(spec, outputs=outs))
    return DictOutputFunction(inner, keys, spec)
