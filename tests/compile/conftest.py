"""Fixtures for the tests of ``symgraph.function``, ``shared`` and friends."""
from __future__ import annotations

import pytest

#: every behaviour of a compiled function must hold on the reference backend ('py') and
#: on the default one ('numba')
BACKENDS = ("py", "numba")


@pytest.fixture(params=BACKENDS)
def mode(request):
    """The linker to compile with: 'py' (numpy reference) or 'numba' (the default)."""
    return request.param
