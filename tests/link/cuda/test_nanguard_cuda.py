"""NanGuardMode on the CUDA backend (issue 21, item 4): the device results and updates are
checked before they are committed, and the error names the first bad node of the user's
graph and its line."""
from __future__ import annotations

import numpy as np
import pytest

import symgraph as theano
import symgraph.tensor as T
from symgraph.compile.nanguardmode import NanGuardError, NanGuardMode

HERE = __file__


def test_nanguard_on_cuda_names_node_and_line():
    x = T.fvector("x")
    w = theano.shared(np.ones(4, dtype="float32"), name="w")
    h = T.sqrt(x) * w                                     # the line to be named
    cost = h.sum()
    f = theano.function([x], cost, updates=[(w, w - 0.5 * T.grad(cost, w))],
                        mode=NanGuardMode(True, True, True, linker="cuda"))
    assert f.maker.mode.linker == "cuda"
    np.testing.assert_allclose(f(np.ones(4, dtype="float32")), 4.0)
    np.testing.assert_allclose(w.get_value(), np.full(4, 0.5))   # committed on the device
    with pytest.raises(NanGuardError) as e:
        f(np.array([1, -1, 4, 9], dtype="float32"))
    msg = str(e.value)
    assert msg.startswith("NaN detected") and "Elemwise{sqrt}" in msg
    assert f'File "{HERE}"' in msg and "h = T.sqrt(x) * w" in msg
    np.testing.assert_allclose(w.get_value(), np.full(4, 0.5))   # nothing committed
    with pytest.raises(NanGuardError, match="(?s)Big value detected.*an input of the graph"):
        f(np.full(4, 1e11, dtype="float32"))                     # |x| > 1e10


def test_debugmode_checks_the_cuda_backend_against_the_reference():
    from symgraph.compile.debugmode import DebugMode

    x = T.fvector("x")
    w = theano.shared(np.ones(3, dtype="float32"), name="w")
    f = theano.function([x], (T.exp(x) * w).sum(), updates=[(w, w * 2)],
                        mode=DebugMode(linker="cuda"))
    assert f._fn.maker.mode.linker == "cuda" and f._ref.maker.mode.linker == "py"
    np.testing.assert_allclose(f(np.zeros(3, dtype="float32")), 3.0, rtol=1e-6)
    np.testing.assert_allclose(w.get_value(), np.full(3, 2.0))
