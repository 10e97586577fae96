"""MNIST-format data: the classic pickle, IDX folders, and a bundled real sample.

Why: the examples and tests need real digits without a download, and users need the
full sets in whatever form they already have.  Every source gives the structure of
the classic ``mnist.pkl.gz``::

    (training_data, validation_data, test_data)   # each a pair (images, labels)
    images: float32, shape (n, 784), values in [0, 1]
    labels: int64, shape (n,)

>>> training_data, validation_data, test_data = load_data()   # bundled sample
>>> training_data[0].shape, validation_data[0].shape, test_data[0].shape
((5000, 784), (1000, 784), (1000, 784))

What ``path`` may be
--------------------
* ``None``: the sample shipped inside the package (below).
* the classic ``mnist.pkl.gz`` (a gzipped Python-2 pickle of the three pairs; a plain
  ``.pkl`` also works).  Its own 50,000/10,000/10,000 split is kept unless
  ``validation_size`` is given, in which case training and validation are joined and
  the last ``validation_size`` images become the validation set.  Unpickling runs
  code from the file: only load files you trust.
* an ``.npz`` in the layout of Keras's ``mnist.npz``: arrays ``x_train`` (n, 28, 28)
  uint8 (or float in [0, 1]), ``y_train``, ``x_test``, ``y_test``; read with
  ``allow_pickle=False``, and split like an IDX folder (below).
* a folder with the four IDX files of MNIST or Fashion-MNIST.  Names are matched by
  pattern, so ``train-images-idx3-ubyte.gz``, ``train-10k-images-idx3-ubyte.gz``,
  ``train-images.idx3-ubyte`` (uncompressed) and ``test-`` instead of ``t10k-`` all
  work.  The test set is the ``t10k`` pair.  The validation set is the last
  ``validation_size`` images of the training pair; the default is one sixth of it
  (``n_train // 6``), which is exactly the classic 50,000/10,000 split of the 60,000
  MNIST training digits, 1,666 of a 10,000-digit training file, and 1,000 of the
  bundled sample's 6,000.  ``validation_size=0`` gives an empty validation set.

IDX pixels are scaled by 1/255 (so 255 becomes exactly 1.0); the classic pickle
stores k/256 and is returned as it is.

The bundled sample
------------------
``symgraph/datasets/data/mnist-sample-*`` (about 1.1 MB), built by
``python -m symgraph.datasets.make_sample SRC_DIR`` from the development copy of
MNIST (``train-10k-*``: 10,000 real MNIST training digits, shuffled; ``t10k-*``: the
official 10,000-digit test set):

* training, 5,000 digits: for each digit 0-9, its first 500 occurrences in
  ``train-10k``, all kept in file order (so the classes stay interleaved);
* validation, 1,000 digits: for each digit, its next 100 occurrences (the 501st to
  600th) in ``train-10k``, in file order;
* test, 1,000 digits: for each digit, its first 100 occurrences in the official
  ``t10k`` file, in file order.

Every class therefore has exactly 500 / 100 / 100 examples.  The training file of the
sample holds the 5,000 training digits followed by the 1,000 validation digits, so the
default one-sixth split recovers them; ``mnist-sample-indices.npz`` records the source
index of every digit taken (arrays ``train``, ``validation``, ``test``).
MNIST is by Yann LeCun, Corinna Cortes and Christopher Burges (CC BY-SA 3.0).
"""

from __future__ import annotations

import gzip
import os
import pickle
import re
from pathlib import Path

import numpy as np

from .idx import DatasetFormatError, DatasetNotFoundError, PathLike, read_idx

__all__ = [
    "SAMPLE_DIR",
    "SAMPLE_FILES",
    "load_data",
    "load_data_shared",
    "load_idx_pair",
    "find_idx_files",
    "split_validation",
]

Split = tuple[np.ndarray, np.ndarray]

SAMPLE_DIR = Path(__file__).resolve().parent / "data"
SAMPLE_FILES = {
    ("train", "images"): "mnist-sample-train-images-idx3-ubyte.gz",
    ("train", "labels"): "mnist-sample-train-labels-idx1-ubyte.gz",
    ("t10k", "images"): "mnist-sample-t10k-images-idx3-ubyte.gz",
    ("t10k", "labels"): "mnist-sample-t10k-labels-idx1-ubyte.gz",
}

# train-images-idx3-ubyte.gz, train-10k-labels-idx1-ubyte, t10k-images.idx3-ubyte, ...
_IDX_NAME = re.compile(
    r"^(?P<split>train|t10k|test)(?:-[A-Za-z0-9]+)?"
    r"-(?P<kind>images(?=[-.]idx3)|labels(?=[-.]idx1))[-.]idx[13]-ubyte(?:\.gz)?$"
)
_STANDARD_NAME = {
    ("train", "images"): "train-images-idx3-ubyte.gz",
    ("train", "labels"): "train-labels-idx1-ubyte.gz",
    ("t10k", "images"): "t10k-images-idx3-ubyte.gz",
    ("t10k", "labels"): "t10k-labels-idx1-ubyte.gz",
}


def load_data(
    path: PathLike | None = None, validation_size: int | None = None
) -> tuple[Split, Split, Split]:
    """Return ``(training_data, validation_data, test_data)``, each ``(images, labels)``.

    ``images`` is float32 ``(n, 784)`` in [0, 1], ``labels`` int64 ``(n,)``; see the
    module docstring for what ``path`` may be and how validation is split off.

    >>> (x, y), _, _ = load_data(validation_size=0)   # bundled sample, no validation
    >>> x.shape, x.dtype, y.dtype
    ((6000, 784), dtype('float32'), dtype('int64'))
    """
    if path is None:
        files = {role: SAMPLE_DIR / name for role, name in SAMPLE_FILES.items()}
        return _load_idx_files(files, validation_size)
    p = Path(path)
    if p.is_dir():
        return _load_idx_files(find_idx_files(p), validation_size)
    if not p.exists():
        raise DatasetNotFoundError(
            f"{os.fspath(path)}: no such file or folder; expected a folder holding the four "
            "MNIST IDX files, an mnist.npz or the classic mnist.pkl.gz"
        )
    if _IDX_NAME.match(p.name):
        raise DatasetFormatError(
            f"{os.fspath(path)}: is one IDX file; pass the folder that holds all four"
        )
    if p.suffix == ".npz":
        return _load_npz(p, validation_size)
    return _load_pickle(p, validation_size)


_NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")


def _load_npz(path: Path, validation_size: int | None) -> tuple[Split, Split, Split]:
    """An ``.npz`` in the layout of Keras's ``mnist.npz`` (``x_train`` (n, 28, 28) uint8,
    ``y_train``, ``x_test``, ``y_test``), read without unpickling anything."""
    name = os.fspath(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in _NPZ_KEYS if k not in data.files]
            if missing:
                raise DatasetFormatError(
                    f"{name}: key {missing[0]!r} is missing; expected arrays "
                    f"{', '.join(_NPZ_KEYS)} (the layout of Keras's mnist.npz), found "
                    f"{', '.join(data.files) or 'none'}"
                )
            arrays = {k: data[k] for k in _NPZ_KEYS}
    except DatasetFormatError:
        raise
    except Exception as e:  # noqa: BLE001 - a corrupt zip or an object array
        raise DatasetFormatError(
            f"{name}: expected an .npz of arrays {', '.join(_NPZ_KEYS)}, could not read it "
            f"({type(e).__name__}: {e})"
        ) from None
    pairs = []
    for what, (xk, yk) in (("training", ("x_train", "y_train")), ("test", ("x_test", "y_test"))):
        x = arrays[xk]
        if x.ndim == 3:
            x = x.reshape(len(x), -1)
        pairs.append(_check_pair(f"{name} ({xk}, {yk})", what, (x, arrays[yk])))
    (train_x, train_y), test = pairs
    if train_x.shape[1] != test[0].shape[1]:
        raise DatasetFormatError(
            f"{name}: x_test has images of {test[0].shape[1]} pixels, x_train of "
            f"{train_x.shape[1]}; expected the same size"
        )
    if validation_size is None:
        validation_size = len(train_x) // 6
    training, validation = split_validation(train_x, train_y, validation_size)
    return training, validation, test


def load_data_shared(path: PathLike | None = None, validation_size: int | None = None) -> tuple:
    """Like :func:`load_data`, but as shared variables, ready for ``givens`` slicing.

    Returns three pairs ``(shared_x, shared_y)``: ``shared_x`` holds the images as
    ``config.floatX``; ``shared_y`` is the int32 cast of shared float labels (stored
    as floats so that, as in network3, they can live on the GPU).

    >>> (train_x, train_y), (val_x, val_y), (test_x, test_y) = load_data_shared()
    >>> train_x.get_value(borrow=True).shape
    (5000, 784)
    """
    # Imported here: the rest of symgraph.datasets needs numpy only.
    from symgraph import config, shared
    from symgraph.tensor import cast

    def to_shared(data: Split):
        images, labels = data
        shared_x = shared(np.asarray(images, dtype=config.floatX), borrow=True)
        shared_y = shared(np.asarray(labels, dtype=config.floatX), borrow=True)
        return shared_x, cast(shared_y, "int32")

    training_data, validation_data, test_data = load_data(path, validation_size)
    return to_shared(training_data), to_shared(validation_data), to_shared(test_data)


def find_idx_files(folder: PathLike) -> dict[tuple[str, str], Path]:
    """Find the training and test image/label IDX files in ``folder``.

    Returns ``{("train"|"t10k", "images"|"labels"): path}``.  A missing file raises
    :class:`DatasetNotFoundError`; two candidates for one role raise
    :class:`DatasetFormatError` (except a file and its ``.gz``, where the plain file
    wins).

    >>> sorted(find_idx_files("/no/such/folder"))
    Traceback (most recent call last):
    ...
    symgraph.datasets.idx.DatasetNotFoundError: /no/such/folder: no such folder
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetNotFoundError(f"{os.fspath(folder)}: no such folder")
    found: dict[tuple[str, str], list[Path]] = {}
    names = sorted(p.name for p in folder.iterdir())
    for name in names:
        m = _IDX_NAME.match(name)
        if m:
            split = "t10k" if m["split"] == "test" else m["split"]
            found.setdefault((split, m["kind"]), []).append(folder / name)
    files = {}
    for role, standard in _STANDARD_NAME.items():
        candidates = found.get(role, [])
        if len(candidates) == 2 and candidates[0].name + ".gz" == candidates[1].name:
            candidates = candidates[:1]
        if not candidates:
            raise DatasetNotFoundError(
                f"{os.fspath(folder)}: no {role[0]} {role[1]} file (expected a name like "
                f"{standard}); the folder holds: {', '.join(names) or 'nothing'}"
            )
        if len(candidates) > 1:
            raise DatasetFormatError(
                f"{os.fspath(folder)}: several {role[0]} {role[1]} files, cannot choose: "
                + ", ".join(c.name for c in candidates)
            )
        files[role] = candidates[0]
    return files


def load_idx_pair(images_path: PathLike, labels_path: PathLike) -> Split:
    """Read one IDX images file and its labels file as ``(float32 (n, r*c), int64 (n,))``.

    >>> x, y = load_idx_pair(SAMPLE_DIR / SAMPLE_FILES["t10k", "images"],
    ...                      SAMPLE_DIR / SAMPLE_FILES["t10k", "labels"])
    >>> x.shape, float(x.max()), y[:5].tolist()
    ((1000, 784), 1.0, [7, 2, 1, 0, 4])
    """
    pixels = read_idx(images_path, dtype=np.uint8, ndim=3)
    labels = read_idx(labels_path, dtype=np.uint8, ndim=1)
    if len(pixels) != len(labels):
        raise DatasetFormatError(
            f"{os.fspath(images_path)}: holds {len(pixels)} images, but "
            f"{os.fspath(labels_path)} holds {len(labels)} labels; expected the same count"
        )
    images = pixels.reshape(len(pixels), -1).astype(np.float32)
    images /= np.float32(255)
    return images, labels.astype(np.int64)


def split_validation(images: np.ndarray, labels: np.ndarray, validation_size: int) -> tuple:
    """Split the last ``validation_size`` examples off: ``((x, y), (x_val, y_val))``.

    >>> (x, y), (xv, yv) = split_validation(np.zeros((6, 2)), np.arange(6), 2)
    >>> y.tolist(), yv.tolist()
    ([0, 1, 2, 3], [4, 5])
    """
    n = len(images)
    if not isinstance(validation_size, (int, np.integer)) or isinstance(validation_size, bool):
        raise TypeError(f"validation_size must be an int, got {validation_size!r}")
    if not 0 <= validation_size <= n:
        raise ValueError(f"validation_size must be between 0 and {n}, got {validation_size}")
    cut = n - int(validation_size)
    return (images[:cut], labels[:cut]), (images[cut:], labels[cut:])


def _load_idx_files(
    files: dict[tuple[str, str], Path], validation_size: int | None
) -> tuple[Split, Split, Split]:
    train_x, train_y = load_idx_pair(files["train", "images"], files["train", "labels"])
    test_x, test_y = load_idx_pair(files["t10k", "images"], files["t10k", "labels"])
    if train_x.shape[1] != test_x.shape[1]:
        raise DatasetFormatError(
            f"{os.fspath(files['t10k', 'images'])}: images of {test_x.shape[1]} pixels, "
            f"but {os.fspath(files['train', 'images'])} has {train_x.shape[1]}; "
            "expected the same size"
        )
    if validation_size is None:
        validation_size = len(train_x) // 6
    training, validation = split_validation(train_x, train_y, validation_size)
    return training, validation, (test_x, test_y)


def _load_pickle(path: Path, validation_size: int | None) -> tuple[Split, Split, Split]:
    name = os.fspath(path)
    try:
        if name.endswith(".gz"):
            with open(path, "rb") as f:
                head = f.read(2)
            if head != b"\x1f\x8b":
                raise DatasetFormatError(
                    f"{name}: not gzip-compressed: expected gzip magic 0x1f8b, "
                    f"found {'0x' + head.hex() if head else 'an empty file'}"
                )
            with gzip.open(path, "rb") as f:
                data = pickle.load(f, encoding="latin1")
        else:
            with open(path, "rb") as f:
                data = pickle.load(f, encoding="latin1")
    except DatasetFormatError:
        raise
    except Exception as e:  # a corrupt pickle can raise almost anything
        raise DatasetFormatError(
            f"{name}: expected a pickle of (training, validation, test) data, "
            f"could not read it ({type(e).__name__}: {e})"
        ) from None

    if not (isinstance(data, (tuple, list)) and len(data) == 3):
        raise DatasetFormatError(
            f"{name}: expected a pickled (training, validation, test) tuple, found "
            f"{type(data).__name__}{f' of {len(data)}' if hasattr(data, '__len__') else ''}"
        )
    splits = [_check_pair(name, what, pair) for what, pair in zip(_SPLIT_NAMES, data)]
    if len({x.shape[1] for x, _ in splits}) > 1:
        raise DatasetFormatError(
            f"{name}: expected images of one size, found "
            + ", ".join(f"{w} {x.shape[1]} pixels" for w, (x, _) in zip(_SPLIT_NAMES, splits))
        )
    training, validation, test = splits
    if validation_size is not None:
        joined_x = np.concatenate([training[0], validation[0]])
        joined_y = np.concatenate([training[1], validation[1]])
        training, validation = split_validation(joined_x, joined_y, validation_size)
    return training, validation, test


_SPLIT_NAMES = ("training", "validation", "test")


def _check_pair(name: str, what: str, pair: object) -> Split:
    if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
        raise DatasetFormatError(
            f"{name}: expected the {what} data to be an (images, labels) pair, "
            f"found {type(pair).__name__}"
        )
    images, labels = np.asarray(pair[0]), np.asarray(pair[1])
    if images.ndim != 2 or labels.ndim != 1 or len(images) != len(labels):
        raise DatasetFormatError(
            f"{name}: expected {what} images of shape (n, pixels) and labels of shape (n,), "
            f"found {images.shape} and {labels.shape}"
        )
    if images.dtype == np.uint8:
        images = images.astype(np.float32) / np.float32(255)
    elif images.dtype.kind == "f":
        images = images.astype(np.float32, copy=False)
    else:
        raise DatasetFormatError(
            f"{name}: expected float or uint8 {what} images, found {images.dtype}"
        )
    if labels.dtype.kind not in "iu":
        raise DatasetFormatError(f"{name}: expected integer {what} labels, found {labels.dtype}")
    return images, labels.astype(np.int64, copy=False)
