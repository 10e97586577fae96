"""Fixtures for the tests of ``symgraph.nn``: float32, a small real MNIST slice, a seed."""
from __future__ import annotations

import numpy as np
import pytest

import symgraph
from symgraph.datasets import load_data


@pytest.fixture(autouse=True)
def float32():
    """The nn tests train in float32, as the CLI does (and restore the setting after)."""
    old = symgraph.config.floatX
    symgraph.config.floatX = "float32"
    yield
    symgraph.config.floatX = old


@pytest.fixture(scope="session")
def mnist_sample():
    """The bundled sample as numpy arrays: ((x, y), (x_val, y_val), (x_test, y_test))."""
    return load_data()


@pytest.fixture
def small_data(mnist_sample):
    """Numpy slices of the sample: 500 training, 200 validation and 200 test digits."""
    (x, y), (xv, yv), (xt, yt) = mnist_sample
    return (x[:500], y[:500]), (xv[:200], yv[:200]), (xt[:200], yt[:200])


def _shared_pair(data):
    import symgraph.tensor as T

    x = symgraph.shared(np.asarray(data[0], dtype="float32"), borrow=True)
    y = symgraph.shared(np.asarray(data[1], dtype="float32"), borrow=True)
    return x, T.cast(y, "int32")


@pytest.fixture
def shared_pair():
    """(images, labels) -> (shared_x, int32 cast of shared float labels), as network3."""
    return _shared_pair
