"""``numba_compat.typing.index_result``: the type Numba's typing gives ``array[index]``,
checked against what compiled code returns for the same index."""
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
