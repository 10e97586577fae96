"""Fixtures shared by test folders."""
from __future__ import annotations

import pytest

import symgraph


@pytest.fixture
def float32():
    """``config.floatX = 'float32'`` for one test (restored after), as the CLI trains."""
    old = symgraph.config.floatX
    symgraph.config.floatX = "float32"
    yield
    symgraph.config.floatX = old
