"""RandomDraw on the device: the same Philox numbers as the py backend, state on device."""
from __future__ import annotations

import numpy as np

import symgraph
import symgraph.tensor as T
from symgraph.tensor.random import RandomStreams


def _build(mode):
    srng = RandomStreams(seed=1234)
    n = T.lscalar("n")
    outs = [srng.uniform((3, 5)), srng.uniform((n,), dtype="float32", low=-1.0, high=2.0),
            srng.normal((7,)), srng.normal((2, 3), dtype="float32", avg=1.0, std=2.0),
            srng.binomial((4, 4), p=0.3), srng.permutation(size=(2,), n=6)]
    return symgraph.function([n], outs, mode=mode)


def test_draws_match_py_bit_for_bit_over_calls(helpers):
    fp = _build("py")
    fc = _build("cuda")
    for n in (5, 0, 3):
        for k, (g, w) in enumerate(zip(fc(n), fp(n))):
            helpers.assert_same(g, w, 0, 0, f"draw {k} n={n}")
    names = {type(nd.op).__name__ for nd in fc.maker.fgraph.apply_nodes}
    assert "RandomDraw" in names


def test_state_stays_on_device_and_reads_back():
    srng = RandomStreams(seed=7)
    u = srng.uniform((4,))
    f = symgraph.function([], u, mode="cuda")
    g = symgraph.function([], u, mode="py")
    state = [v for v in f.maker.fgraph.variables if getattr(v, "is_shared", False)][0]
    a = f()
    assert state.container.device_value is not None and state.container.device_value.newer
    key, ctr = state.get_value()
    assert ctr == 2  # 4 values = 2 Philox blocks, advanced on the device
    b = g()  # the py function continues the same stream from the synced host value
    c = f()
    assert not np.array_equal(a, b) and not np.array_equal(b, c)
    assert state.get_value()[1] == 6
