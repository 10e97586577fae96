"""Nodes that only check shapes, copy or fill (``SpecifyShape``, ``Join``, ``Alloc``),
which the Python tier runs as numpy (``link/numba/tier_data.py``): the compiled glue's
bytes with no kernel compiled, and the kernels' own errors."""
from __future__ import annotations

import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.compile.mode import Mode
from symgraph.link.numba.tier_numpy import NumpyNode
from symgraph.testing import assert_same_bits

#: the nodes as built (the optimizer would fold a specify_shape of known shapes away)
_RAW = Mode(excluding=["fuse"])




def _graph(dtype):
    a, b = T.matrix("a", dtype=dtype), T.matrix("b", dtype=dtype)
    n, v = T.lscalar("n"), T.scalar("v", dtype=dtype)
    outs = [T.concatenate([a, b, a * 2], axis=1), T.concatenate([a.T, b.T], axis=0),
            T.alloc(v, n, 3) + 1, T.specify_shape(a, (n, 4)) * 3]
    return [a, b, n, v], outs


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32"])
def test_checks_copies_and_fills_run_as_numpy_with_the_glues_bits(dtype, glue,
                                                                  kernel_calls):
    """Joins along either axis (of C- and F-ordered inputs), a filled array and a
    specified shape: the tier's results are the compiled glue's bytes, and no kernel
    is compiled for them."""
    args = (np.arange(12).reshape(3, 4).astype(dtype), np.arange(12, 24).reshape(3, 4)
            .astype(dtype), 3, np.dtype(dtype).type(7))
    glue("tiered")
    ins, outs = _graph(dtype)
    f = symgraph.function(ins, outs, mode=_RAW)
    f.executable.hold_python_tier()
    got = f(*args)
    kinds = {d.prog["kind"] for d in f.executable.graph_fn.tier._inline.values()
             if isinstance(d, NumpyNode)}
    assert {"join", "alloc", "specify_shape"} <= kinds, kinds
    assert not kernel_calls
    assert all(g.flags.c_contiguous for g in got)
    glue("compiled")
    ins, outs = _graph(dtype)
    assert_same_bits(got, symgraph.function(ins, outs, mode=_RAW)(*args))


def test_failed_checks_raise_the_kernels_errors(glue, kernel_calls, same_error):
    glue("tiered")
    ins, outs = _graph("float64")
    f = symgraph.function(ins, outs, mode=_RAW)
    f.executable.hold_python_tier()
    a = np.ones((3, 4))
    same_error(f, outs, ins, (a, np.ones((2, 4)), 3, 1.0))   # the joins' rows
    same_error(f, outs, ins, (a, a, -1, 1.0))                 # a negative dimension
    same_error(f, outs, ins, (a, a, 2, 1.0))                  # the specified shape
    assert kernel_calls


def test_transposing_views_run_as_numpy_views(glue, compiled_calls):
    """Dimshuffles that permute axes (through ``helpers.transpose`` in their kernel) run
    as numpy's transpose on the tier, typed 'A' as Numba types ``transpose(axes)``: the
    compiled glue's bytes, and no kernel compiled for them, of a C-ordered and of a
    sliced input."""
    from symgraph.link.numba.tiered import PythonNode

    calls = compiled_calls(PythonNode)
    x = T.ftensor3("x")
    outs = [x.dimshuffle(1, 0, 2) * 2.0, x[:, ::2].dimshuffle(2, 0, 1) + 1.0,
            x.dimshuffle(0, 2, 1)[0] - 3.0]
    v = np.arange(48, dtype="float32").reshape(2, 6, 4)
    glue("tiered")
    f = symgraph.function([x], outs)
    f.executable.hold_python_tier()
    got = f(v)
    permuting = [d for d in f.executable.graph_fn.tier._inline.values()
                 if isinstance(d, PythonNode) and d._views
                 and any(tuple(s) == ("A",) for _, steps in d._views for s in steps)]
    assert len(permuting) >= 2 and not calls
    glue("compiled")
    assert_same_bits(got, symgraph.function([x], outs)(v))
