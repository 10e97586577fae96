"""The compile cache is trusted only when it is ours (``symgraph/link/numba/trust.py``,
``cache.py``): directories like ssh's, modules compared with their source, JSON indexes.

In-process, on the hypotenuse in a private cache folder per test; ``cache._loaded`` is
emptied so that each ``function()`` reads its module from disk as a new process would.
"""
import json
import os
import pickle
import stat

import pytest

import symgraph
import symgraph.tensor as T
from symgraph.config import config
from symgraph.link.numba import cache, trust
from symgraph.link.numba.cachefiles import CacheFileWarning
from symgraph.link.numba.trust import CacheTrustError


@pytest.fixture
def folder(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setattr(config, "cache_dir", str(d))
    monkeypatch.setattr(cache, "_loaded", {})
    # the compiled glue's files are what these tests damage (the Python tier reads none)
    monkeypatch.setattr(config, "numba_glue", "compiled")
    return d


def hypot(k=None):
    a, b = T.dscalars("a", "b")
    out = T.sqrt(a ** 2 + b ** 2)
    return symgraph.function([a, b], out if k is None else out * k)


def reload(monkeypatch):
    """Forget the modules loaded so far: the next function() reads them from disk."""
    monkeypatch.setattr(cache, "_loaded", {})


def only_module(folder):
    (py,) = (folder / "numba").glob("sg_*.py")
    return py


def test_directories_are_created_private(folder):
    f = hypot()
    assert float(f(3, 4)) == 5.0
    for d in (folder, folder / "numba"):
        assert stat.S_IMODE(os.stat(d).st_mode) == 0o700


@pytest.mark.parametrize("which", ["cache_dir", "numba"])
def test_a_writable_directory_is_refused(folder, which):
    (folder / "numba").mkdir(parents=True)
    d = folder if which == "cache_dir" else folder / "numba"
    os.chmod(d, 0o777 if which == "cache_dir" else 0o770)
    with pytest.raises(CacheTrustError) as e:
        hypot()
    assert str(d) in str(e.value) and f"chmod 700 {d}" in str(e.value)


def test_a_directory_of_another_user_is_refused(folder, monkeypatch):
    folder.mkdir(mode=0o700)
    if os.geteuid() == 0:
        os.chown(folder, 12345, 12345)
    else:   # cannot give a file away: be another user instead
        monkeypatch.setattr(trust.os, "geteuid", lambda: os.stat(folder).st_uid + 1)
    with pytest.raises(CacheTrustError, match="owned by uid") as e:
        hypot()
    assert str(folder) in str(e.value) and "rm -rf" in str(e.value)


def test_a_writable_numba_cache_dir_is_refused(folder, tmp_path, monkeypatch):
    from numba.core import config as nconfig

    shared = tmp_path / "numba_shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    monkeypatch.setattr(nconfig, "CACHE_DIR", str(shared))
    with pytest.raises(CacheTrustError, match="NUMBA_CACHE_DIR"):
        hypot()


def test_code_appended_to_a_cached_module_never_runs(folder, tmp_path, monkeypatch):
    assert float(hypot()(3, 4)) == 5.0
    py = only_module(folder)
    marker = tmp_path / "appended_code_ran"
    py.write_text(py.read_text() + f"\nopen({str(marker)!r}, 'w').close()\n")
    reload(monkeypatch)
    with pytest.warns(CacheFileWarning, match=str(py)):
        f = hypot()
    assert not marker.exists() and "appended_code_ran" not in py.read_text()
    assert float(f(3, 4)) == 5.0


def test_an_edited_operation_is_detected(folder, monkeypatch):
    assert float(hypot(2.75)(3, 4)) == 13.75
    py = only_module(folder)
    src = py.read_text()
    # a graph's constants are arguments, not source text (a new value reuses the module)
    assert "2.75" not in src and " + " in src
    py.write_text(src.replace(" + ", " - ", 1))   # same size: only the content tells
    reload(monkeypatch)
    with pytest.warns(CacheFileWarning, match=str(py)):
        f = hypot(2.75)
    assert float(f(3, 4)) == 13.75 and py.read_text() == src


class _Evil:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_a_pickle_in_an_index_file_is_not_unpickled(folder, tmp_path, monkeypatch):
    f = hypot()
    assert float(f(3, 4)) == 5.0
    (sigs,) = (folder / "numba").glob("sg_*.sigs")
    assert json.loads(sigs.read_text())["data"] == [["float64", "float64"]]   # JSON
    marker = tmp_path / "ran"
    sigs.write_bytes(pickle.dumps([_Evil(str(marker))]))
    reload(monkeypatch)
    with pytest.warns(CacheFileWarning, match=str(sigs)):
        f = hypot()
    assert float(f(3, 4)) == 5.0 and not marker.exists()
    assert json.loads(sigs.read_text())["data"] == [["float64", "float64"]]   # rewritten


def test_numba_files_keep_numbas_format(tmp_path):
    """The checksum trailer (``healing.py``) comes after Numba's pickles: plain Numba,
    as in a process that calls a kernel directly, still loads the machine code."""
    import subprocess
    import sys
    import textwrap

    (tmp_path / "mod_trailer.py").write_text(textwrap.dedent("""
        import numba
        @numba.njit(cache=True)
        def f(x):
            return x * 2 + 1
    """))
    code = textwrap.dedent("""
        import sys
        sys.path.insert(0, sys.argv[1])
        import mod_trailer
        if sys.argv[2] == "protect":
            from symgraph.link.numba.healing import protect
            protect(mod_trailer.f)
        assert mod_trailer.f(20) == 41
        print(mod_trailer.f.stats.cache_hits.get(mod_trailer.f.signatures[0], 0))
    """)

    # Numba's default place (``__pycache__`` beside the module), whatever the caller set
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}

    def run(how):
        r = subprocess.run([sys.executable, "-c", code, str(tmp_path), how],
                           capture_output=True, text=True, timeout=300, env=env)
        assert r.returncode == 0, r.stderr[-2000:]
        return r.stdout.split()

    assert run("protect") == ["0"]     # compiled, written with the trailer
    (nbi,) = (tmp_path / "__pycache__").glob("*.nbi")
    assert nbi.read_bytes()[-36:-32] == b"SGCK"
    assert run("plain") == ["1"]       # plain Numba loads it
    assert run("protect") == ["1"]
