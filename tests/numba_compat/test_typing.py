"""``numba_compat.typing``: the type Numba's typing gives ``array[index]``
(``index_result``) and a whole function (``return_type``), checked against what compiled
code returns for the same arguments."""
from __future__ import annotations

import numba
import pytest
from numba import types

from symgraph.numba_compat import typing as nt

PATTERNS = {"s": "x[a:]", "i": "x[a]", "si": "x[:, a]", "is": "x[a, a:]",
            "S": "x[::a]", "nss": "x[None, :, :]", "sns": "x[:, None, :]", "ii": "x[a, a]"}


@pytest.mark.parametrize("kinds", sorted(PATTERNS))
@pytest.mark.parametrize("layout", ["C", "F", "A"])
def test_index_result_is_numbas_typing(kinds, layout):
    scope: dict = {}
    exec(f"def f(x, a):\n    return {PATTERNS[kinds]}\n", scope)   # noqa: S102
    ary = types.Array(types.float32, 2, layout)
    fn = numba.njit(scope["f"])
    fn.compile((ary, types.intp))
    expect = fn.overloads[(ary, types.intp)].signature.return_type
    assert nt.index_result(ary, kinds) == expect


def test_public_path_knows_nothing(monkeypatch):
    import symgraph.numba_compat as compat

    monkeypatch.setattr(compat, "_decided", {"numba": False})
    assert nt.index_result(types.Array(types.float32, 2, "C"), "s") is None


def test_an_index_numba_refuses_gives_none():
    assert nt.index_result(types.Array(types.float32, 1, "C"), "ii") is None


BODIES = {
    "slice": ("x, a", "return x[a:]"),
    "stepped, transposed": ("x, a", "return x[::a].T"),
    "int index, checked": ("x, a", "i = a\n    if i < 0:\n        i += x.shape[0]\n"
                                   "    if i < 0 or i >= x.shape[0]:\n"
                                   "        raise IndexError('out of bounds')\n    return x[i]"),
    "new axis": ("x, a", "v = x\n    v = v[None, :, :]\n    return v"),
    "full": ("x, a", "return np.full((1, 1), x[0, 0], dtype=np.float32)"),
    "scalar": ("x, a", "return np.int64(x.shape[0]) * a"),
    "tuple": ("x, a", "return x[1:], x.shape[0] + a"),
}


@pytest.mark.parametrize("name", sorted(BODIES))
@pytest.mark.parametrize("layout", ["C", "F", "A"])
def test_return_type_is_the_compiled_return_type(name, layout):
    """Typing alone (no lowering) gives the very type the compiled function returns,
    with the njit options of the dispatcher (``error_model``, ``nogil``)."""
    import numpy as np

    params, body = BODIES[name]
    scope: dict = {"np": np}
    exec(f"def f({params}):\n    {body}\n", scope)   # noqa: S102
    fn = numba.njit(error_model="numpy", nogil=True)(scope["f"])
    argtys = (types.Array(types.float32, 2, layout), types.int64)
    got = nt.return_type(fn, argtys)
    assert not fn.overloads   # nothing was compiled to find it
    fn.compile(argtys)
    assert got == fn.overloads[argtys].signature.return_type


def test_return_type_is_none_where_not_known(monkeypatch):
    """A function Numba's typing refuses, and the public path, give None."""
    refused = numba.njit(lambda x: x.no_such_attribute)
    assert nt.return_type(refused, (types.Array(types.float32, 1, "C"),)) is None
    import symgraph.numba_compat as compat

    fine = numba.njit(lambda x: x[1:])
    monkeypatch.setattr(compat, "_decided", {"numba": False})
    assert nt.return_type(fine, (types.Array(types.float32, 1, "C"),)) is None
