"""Generated modules' code objects are cached beside them and verified
(``symgraph/link/numba/codecache.py``): read back without compiling the source, a damaged
file reported once and replaced, a read-only folder tolerated, and the import machinery's
``.pyc`` files neither read nor needed (a truncated one broke every later process)."""
from __future__ import annotations

import os
import warnings

import pytest

from symgraph.link.numba import codecache
from symgraph.link.numba.cachefiles import CacheFileWarning

SRC = "def f(x):\n    return x * {k} + 1\n"


def _module(tmp_path, k):
    path = tmp_path / f"sg_mod{k}.py"
    src = SRC.format(k=k)
    path.write_text(src)
    return str(path), src


def _run(code, x):
    ns = {}
    exec(code, ns)
    return ns["f"](x)


@pytest.fixture
def compiles(monkeypatch):
    """The sources ``codecache`` compiled (none when it read a cached code object)."""
    seen = []

    def spy(data, filename, mode, **kw):
        seen.append(filename)
        return compile(data, filename, mode, **kw)

    monkeypatch.setattr(codecache, "compile", spy, raising=False)
    return seen


def test_the_second_load_reads_the_cached_code(tmp_path, compiles):
    path, src = _module(tmp_path, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # a missing file is written silently
        first = codecache.module_code(path, src)
        second = codecache.module_code(path, src)
    assert compiles == [path]
    assert os.path.exists(codecache.code_path(path))
    assert _run(first, 2) == _run(second, 2) == 7
    assert second.co_filename == path   # tracebacks and Numba's cache name the module


@pytest.mark.parametrize("how", ["truncate", "bitflip", "other source", "garbage"])
def test_a_damaged_code_file_is_reported_once_and_replaced(tmp_path, compiles, how):
    path, src = _module(tmp_path, 5)
    codecache.module_code(path, src)
    cfile = codecache.code_path(path)
    data = open(cfile, "rb").read()
    if how == "truncate":
        data = data[: len(data) // 2]
    elif how == "bitflip":
        i = len(data) - 20   # in the marshalled body
        data = data[:i] + bytes([data[i] ^ 0x10]) + data[i + 1:]
    elif how == "other source":
        other_path, other = _module(tmp_path, 6)
        codecache.module_code(other_path, other)
        data = open(codecache.code_path(other_path), "rb").read()
    else:
        data = os.urandom(len(data))
    with open(cfile, "wb") as f:
        f.write(data)
    with pytest.warns(CacheFileWarning, match=os.path.basename(cfile)) as rec:
        code = codecache.module_code(path, src)
    assert len([w for w in rec if issubclass(w.category, CacheFileWarning)]) == 1
    assert _run(code, 2) == 11
    del compiles[:]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _run(codecache.module_code(path, src), 2) == 11   # repaired: silent
    assert compiles == []


def test_an_unwritable_folder_compiles_each_time(tmp_path, compiles, monkeypatch):
    """A read-only cache (the write fails): the module is compiled in each process, as
    before, and nothing is reported."""
    def refuse(path, data):
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(codecache, "write_atomic", refuse)
    path, src = _module(tmp_path, 7)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _run(codecache.module_code(path, src), 1) == 8
        assert _run(codecache.module_code(path, src), 1) == 8
    assert len(compiles) == 2 and not os.path.exists(codecache.code_path(path))


def test_a_damaged_pyc_of_a_generated_module_is_not_read(tmp_path, monkeypatch):
    """With bytecode writing on, Python used to write and then trust a ``.pyc`` for each
    generated module: truncated, it made ``symgraph.function`` raise ``EOFError: marshal
    data too short`` in every later process. Generated modules now load through the
    verified code cache only."""
    import importlib.util

    import numpy as np

    import symgraph
    import symgraph.tensor as T
    from symgraph.link.numba import cache

    monkeypatch.setattr(symgraph.config, "cache_dir", str(tmp_path))
    monkeypatch.setattr(symgraph.config, "numba_glue", "compiled")
    src = "import numpy as np\n\n\ndef g():\n    return np.float64(41.5)\n"
    path = os.path.join(cache.module_dir(), f"sg_{cache.module_key(src)}.py")
    pyc = importlib.util.cache_from_source(path)
    os.makedirs(os.path.dirname(pyc), exist_ok=True)
    with open(pyc, "wb") as f:   # a header Python accepts, then too little data
        f.write(importlib.util.MAGIC_NUMBER + b"\0" * 12 + b"\xe3")
    with open(path, "w") as f:   # (the module as load_module writes it)
        f.write(src)
    st = os.stat(path)
    with open(pyc, "r+b") as f:   # timestamp and size that match the source
        f.seek(8)
        f.write(int(st.st_mtime).to_bytes(4, "little") + (st.st_size & 0xFFFFFFFF)
                .to_bytes(4, "little"))
    assert cache.load_module(src).g() == 41.5
    x = T.dvector("x")   # and a graph compiled in that cache runs
    np.testing.assert_array_equal(symgraph.function([x], x + 1)(np.ones(2)), [2.0, 2.0])
