"""Fixtures shared by the Numba backend's tests."""
from __future__ import annotations

import pytest


@pytest.fixture
def compiled_calls(monkeypatch):
    """``compiled_calls(cls)``: a list that collects the argument types for which a node
    the Python tier runs without its kernel (``cls``: ``tier_numpy.NumpyNode``,
    ``tier_extern.ExternNode``) asked for its compiled kernel, or told a plan that it
    needs it (``runs_without_kernel``: the plan then compiles it as any other); empty
    when it never did. Kernel modules are shared per process, so their overload counts
    depend on earlier tests; asking is what tells."""
    def watch(cls):
        calls = []
        real = cls._compiled
        real_runs = cls.runs_without_kernel

        def spy(self, argtys):
            calls.append(argtys)
            return real(self, argtys)

        def runs_spy(self, argtys):
            runs = real_runs(self, argtys)
            if not runs:
                calls.append(tuple(argtys))
            return runs

        monkeypatch.setattr(cls, "_compiled", spy)
        monkeypatch.setattr(cls, "runs_without_kernel", runs_spy)
        return calls

    return watch


@pytest.fixture
def glue():
    """``glue(v)``: set ``config.numba_glue`` for one test (restored after)."""
    import symgraph

    old = symgraph.config.numba_glue
    yield lambda v: setattr(symgraph.config, "numba_glue", v)
    symgraph.config.numba_glue = old


@pytest.fixture
def kernel_calls(compiled_calls):
    """The argument types of every compiled kernel a ``tier_numpy.NumpyNode`` asked for
    (none when numpy ran all of its calls)."""
    from symgraph.link.numba.tier_numpy import NumpyNode

    return compiled_calls(NumpyNode)


@pytest.fixture
def wrapper_calls(compiled_calls):
    """The argument types for which a ``tier_extern.ExternNode`` needed its compiled
    wrapper."""
    from symgraph.link.numba.tier_extern import ExternNode

    return compiled_calls(ExternNode)


@pytest.fixture
def same_error(monkeypatch):
    """``same_error(tiered_fn, outputs, inputs, args)``: ``tiered_fn(*args)`` raises a
    ValueError, and a function of ``outputs`` compiled with the compiled glue raises the
    very same message (the kernel's own error, reached from either tier)."""
    import symgraph

    def check(tiered_fn, outputs, inputs, args):
        with pytest.raises(ValueError) as tier_err:
            tiered_fn(*args)
        monkeypatch.setattr(symgraph.config, "numba_glue", "compiled")
        g = symgraph.function(inputs, outputs)
        with pytest.raises(ValueError) as glue_err:
            g(*args)
        assert str(tier_err.value) == str(glue_err.value)

    return check
