"""Fixtures shared by the Numba backend's tests."""
from __future__ import annotations

import pytest


@pytest.fixture
def compiled_calls(monkeypatch):
    """``compiled_calls(cls)``: a list that collects the argument types for which a node
    the Python tier runs without its kernel (``cls``: ``tier_numpy.NumpyNode``,
    ``tier_extern.ExternNode``) asked for its compiled kernel (empty when it never did).
    Kernel modules are shared per process, so their overload counts depend on earlier
    tests; asking is what tells."""
    def watch(cls):
        calls = []
        real = cls._compiled

        def spy(self, argtys):
            calls.append(argtys)
            return real(self, argtys)

        monkeypatch.setattr(cls, "_compiled", spy)
        return calls

    return watch
