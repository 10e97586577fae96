"""A damaged compile cache heals itself (``symgraph/link/numba/cache.py``, ``extern.py``,
``linker.py``, ``healing.py``).

One tiny graph (column norms ``sqrt(sum(x**2, axis=0))``, the hypotenuse of each column:
it has a generated graph module, its compiled ``.code``, ``.sigs``, a ``.links`` table for
its kernels, kernel modules (the reduction's has its own ``.links`` for its ``sum_lmr``
callee), and Numba's ``.nbi``/``.nbc`` for each) is compiled once per layout into a
private cache: Numba's files beside the module (``__pycache__``), or under
``NUMBA_CACHE_DIR`` (where the callee's files and its ``.sgdeps`` marker live too). Each
case restores that cache, deletes, truncates or flips a bit of one file, and runs the
graph in a fresh process: the result must be right, exactly one warning must name the
file, and (checked once per file) a third process must run silently from the repaired
cache.
"""
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PROGRAM = textwrap.dedent("""
    import warnings
    warnings.simplefilter("always")
    import numpy as np, symgraph, symgraph.tensor as T
    x = T.dmatrix("x")
    f = symgraph.function([x], T.sqrt((x ** 2).sum(axis=0)))
    for _ in range(2):
        r = f(np.array([[3.0, 5.0, 8.0], [4.0, 12.0, 15.0]]))
        assert np.array_equal(r, [5.0, 13.0, 17.0]), r
    assert "_sg_links" in f.executable.source   # the graph calls a linked callee
    print("ok")
""")

LAYOUTS = ("pycache", "NUMBA_CACHE_DIR")


def _env(base: Path, layout: str) -> dict:
    env = dict(os.environ, SYMGRAPH_FLAGS=f"cache_dir={base / 'c'},numba_glue=compiled")
    env.pop("NUMBA_CACHE_DIR", None)
    if layout == "NUMBA_CACHE_DIR":
        env["NUMBA_CACHE_DIR"] = str(base / "n")
    return env


def _run(base: Path, layout: str):
    r = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True,
                       env=_env(base, layout), timeout=600)
    assert r.returncode == 0 and r.stdout.split() == ["ok"], (r.returncode, r.stderr[-3000:])
    return [line for line in r.stderr.splitlines() if "CacheFileWarning" in line]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Per layout: a folder whose ``c`` (and ``n``) hold the compiled cache, and a pristine
    copy to restore before each case (restored at the same path: Numba's folders under
    NUMBA_CACHE_DIR are named after the path of the source folder)."""
    out = {}
    for layout in LAYOUTS:
        base = tmp_path_factory.mktemp(f"heal_{layout}")
        assert _run(base, layout) == []
        for d in ("c", "n"):
            if (base / d).exists():
                shutil.copytree(base / d, base / f"{d}.orig", symlinks=True)
        out[layout] = base
    return out


def _restore(base: Path) -> None:
    for d in ("c", "n"):
        shutil.rmtree(base / d, ignore_errors=True)
        if (base / f"{d}.orig").exists():
            shutil.copytree(base / f"{d}.orig", base / d, symlinks=True)


# file kind -> (folder, glob, what the file is): "graph" files belong to the module
# holding ``graph_fn``; "kernel" files to the kernel module whose kernel calls an extern
# (the reduction's ``sum_lmr``)
KINDS = {
    "module": ("c", "numba/{graph}.py"),
    "code": ("c", "numba/{graph}.*.code"),
    "sigs": ("c", "numba/{graph}.sigs"),
    "links": ("c", "numba/{graph}.links"),
    "nbi": (None, "{graph}.graph_fn-*.nbi"),
    "nbc": (None, "{graph}.graph_fn-*.nbc"),
    "kernel module": ("c", "numba/{kernel}.py"),
    "kernel links": ("c", "numba/{kernel}.links"),
    "kernel nbi": (None, "{kernel}.kernel-*.nbi"),
    "kernel nbc": (None, "{kernel}.kernel-*.nbc"),
    "callee nbi": ("n", "*/helpers.sum_lmr-*.nbi"),
    "callee nbc": ("n", "*/helpers.sum_lmr-*.nbc"),
    "callee sgdeps": ("n", "*/symgraph.link.numba.helpers.sum_lmr.sgdeps"),
}
# symgraph's own files are in the same place in both layouts: truncated in one only (the
# check that catches it is the one that catches a flipped bit). The callee's files live
# in the package's own __pycache__ without NUMBA_CACHE_DIR (shared by every test):
# damaged only under NUMBA_CACHE_DIR.
CASES = [(layout, kind, how)
         for layout in LAYOUTS
         for kind, (where, _) in KINDS.items()
         if where != "n" or layout == "NUMBA_CACHE_DIR"
         for how in ("delete", "truncate", "bitflip")
         if not (where == "c" and layout == "NUMBA_CACHE_DIR" and how == "truncate")]


def _stems(base: Path) -> dict:
    """The generated modules' names: the graph's, and the kernel with a ``.links`` table."""
    graph = kernel = None
    for py in sorted((base / "c" / "numba").glob("sg_*.py")):
        text = py.read_text()
        if "def graph_fn(" in text:
            graph = py.stem
        elif "_sg_links" in text:
            kernel = py.stem
    assert graph and kernel, sorted(p.name for p in (base / "c" / "numba").iterdir())
    return {"graph": graph, "kernel": kernel}


def _find(base: Path, layout: str, kind: str) -> Path:
    where, pattern = KINDS[kind]
    pattern = pattern.format(**_stems(base))
    if where is None:   # Numba's files of a generated module
        where, pattern = (("n", "*/" + pattern) if layout == "NUMBA_CACHE_DIR"
                          else ("c", "numba/__pycache__/" + pattern))
    (path,) = (base / where).glob(pattern)
    return path


def _damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "delete":
        path.unlink()
    elif how == "truncate":
        path.write_bytes(data[: len(data) // 2])
    else:
        i = len(data) // 2
        path.write_bytes(data[:i] + bytes([data[i] ^ 0x10]) + data[i + 1:])


@pytest.mark.slow   # ~50 fresh processes in all (about a minute of CPU on 2 cores)
@pytest.mark.parametrize("layout,kind,how", CASES, ids=["-".join(c) for c in CASES])
def test_a_damaged_cache_file_is_rebuilt_with_one_warning(built, layout, kind, how):
    base = built[layout]
    _restore(base)
    path = _find(base, layout, kind)
    _damage(path, how)
    warned = _run(base, layout)
    if kind == "callee sgdeps" and how == "delete":
        # a cache without a marker is one plain Numba wrote (a kernel called directly):
        # emptied and rebuilt as outdated, without a warning
        assert warned == []
    elif kind == "code" and how == "delete":
        # the module's compiled code, cached for the next process: written again
        # silently, as by the first process (or after an earlier symgraph)
        assert warned == []
    else:
        assert len(warned) == 1 and str(path) in warned[0], warned
    assert path.exists()
    if how == "bitflip":   # repaired (one rewrite path serves all three): silent now
        assert _run(base, layout) == []


def test_cache_dir_deleted_while_numba_cache_dir_is_kept(built):
    """Numba's machine code under NUMBA_CACHE_DIR outlives symgraph's cache folder: it
    calls symbols the lost ``.links`` table registered (this segfaulted)."""
    base = built["NUMBA_CACHE_DIR"]
    _restore(base)
    shutil.rmtree(base / "c")
    warned = _run(base, "NUMBA_CACHE_DIR")
    # reported once, as a lost table (the graph's or the reduction kernel's): one cause,
    # not a warning per module
    assert len(warned) == 1 and ".links is missing" in warned[0], warned
    assert "NUMBA_CACHE_DIR" in warned[0], warned
    assert _run(base, "NUMBA_CACHE_DIR") == []
