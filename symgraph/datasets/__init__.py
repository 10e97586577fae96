"""Datasets: MNIST-format loaders and a small real MNIST sample shipped in the package.

>>> from symgraph.datasets import load_data
>>> training_data, validation_data, test_data = load_data()   # the bundled sample
>>> training_data[0].shape
(5000, 784)

See :mod:`symgraph.datasets.mnist` for the accepted sources and the sample's contents,
and :mod:`symgraph.datasets.idx` for the file format checks.
"""

from .idx import DatasetFormatError, DatasetNotFoundError, read_idx, write_idx
from .mnist import find_idx_files, load_data, load_data_shared, load_idx_pair, split_validation

__all__ = [
    "DatasetFormatError",
    "DatasetNotFoundError",
    "find_idx_files",
    "load_data",
    "load_data_shared",
    "load_idx_pair",
    "read_idx",
    "split_validation",
    "write_idx",
]
