"""Fixtures shared by test folders."""
from __future__ import annotations

import pytest

import symgraph


@pytest.fixture(autouse=True)
def _keep_floatX():
    """Every test starts with the floatX it found: a test that runs a command-line
    program in-process (which sets ``config.floatX`` for the program it is) must not
    change the dtype the tests after it build with."""
    old = symgraph.config.floatX
    yield
    symgraph.config.floatX = old


@pytest.fixture
def float32():
    """``config.floatX = 'float32'`` for one test (restored after), as the CLI trains."""
    old = symgraph.config.floatX
    symgraph.config.floatX = "float32"
    yield
    symgraph.config.floatX = old


def _numba_cache_dir(source) -> "Path":
    """The folder where Numba keeps the cache of the functions defined in ``source``:
    ``__pycache__`` beside it, or (``NUMBA_CACHE_DIR`` set) a folder under that one named
    after the source's own folder. Asked from Numba's cache locators, in their order."""
    from pathlib import Path

    from numba.core import caching

    def probe():
        pass

    impl = getattr(caching, "CacheImpl", None) or caching._CacheImpl   # renamed in 0.6x
    for locator_cls in impl._locator_classes:
        locator = locator_cls.from_function(probe, str(source))
        if locator is not None:
            return Path(locator.get_cache_path())
    raise RuntimeError(f"Numba cannot cache functions defined in {source}")


@pytest.fixture
def numba_cache_dir():
    """``numba_cache_dir(source_file)``: where Numba puts the cache (``.nbi``/``.nbc``) of
    functions in that file, with or without ``NUMBA_CACHE_DIR``, so a test that inspects
    those files passes in both layouts (subprocesses inherit the environment)."""
    return _numba_cache_dir
