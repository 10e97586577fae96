"""Build the MNIST sample shipped in ``symgraph/datasets/data/`` from a full MNIST folder.

Why a script: the sample must be reproducible and its contents exactly documented
(see :mod:`symgraph.datasets.mnist`).  The selection is a pure function of the
source labels and the output bytes are deterministic, so rebuilding from the same
source gives identical files::

    python -m symgraph.datasets.make_sample /path/to/mnist            # into the package
    python -m symgraph.datasets.make_sample /path/to/mnist --out DIR  # elsewhere

``SRC_DIR`` must hold a training pair and the ``t10k`` pair of IDX files (any names
:func:`~symgraph.datasets.mnist.find_idx_files` accepts, e.g. ``train-10k-*``).

>>> balanced_indices(np.array([0, 1, 0, 1, 0, 1]), [2, 1], n_classes=2)
[array([0, 1, 2, 3]), array([4, 5])]
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np

from .idx import read_idx, write_idx
from .mnist import SAMPLE_DIR, SAMPLE_FILES, find_idx_files

__all__ = ["balanced_indices", "build_sample", "main"]

TRAIN_PER_CLASS = 500
VALIDATION_PER_CLASS = 100
TEST_PER_CLASS = 100
INDEX_FILE = "mnist-sample-indices.npz"


def balanced_indices(
    labels: np.ndarray, per_class: list[int], n_classes: int = 10
) -> list[np.ndarray]:
    """Take consecutive runs of each class's occurrences, in file order.

    Block ``k`` gets, for every class ``c``, the next ``per_class[k]`` positions where
    ``labels == c``; each block is returned sorted (file order).
    """
    blocks: list[list[np.ndarray]] = [[] for _ in per_class]
    for c in range(n_classes):
        where = np.flatnonzero(labels == c)
        need = sum(per_class)
        if len(where) < need:
            raise ValueError(f"class {c} has {len(where)} examples, need {need}")
        start = 0
        for block, count in zip(blocks, per_class):
            block.append(where[start : start + count])
            start += count
    return [np.sort(np.concatenate(block)) for block in blocks]


def build_sample(src_dir: str | Path, out_dir: str | Path = SAMPLE_DIR) -> dict[str, np.ndarray]:
    """Write the sample's four IDX files and its index record; return the indices."""
    files = find_idx_files(src_dir)
    train_x = read_idx(files["train", "images"], dtype=np.uint8, ndim=3)
    train_y = read_idx(files["train", "labels"], dtype=np.uint8, ndim=1)
    test_x = read_idx(files["t10k", "images"], dtype=np.uint8, ndim=3)
    test_y = read_idx(files["t10k", "labels"], dtype=np.uint8, ndim=1)

    train_idx, val_idx = balanced_indices(train_y, [TRAIN_PER_CLASS, VALIDATION_PER_CLASS])
    (test_idx,) = balanced_indices(test_y, [TEST_PER_CLASS])
    # The training file holds training then validation digits; loaders split off the
    # last sixth (1,000 of 6,000) as validation.
    train_rows = np.concatenate([train_idx, val_idx])

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_idx(out / SAMPLE_FILES["train", "images"], train_x[train_rows])
    write_idx(out / SAMPLE_FILES["train", "labels"], train_y[train_rows])
    write_idx(out / SAMPLE_FILES["t10k", "images"], test_x[test_idx])
    write_idx(out / SAMPLE_FILES["t10k", "labels"], test_y[test_idx])
    indices = {
        "train": train_idx.astype(np.int32),
        "validation": val_idx.astype(np.int32),
        "test": test_idx.astype(np.int32),
    }
    # np.savez_compressed stamps zip entries with the current time; write them by
    # hand with a fixed date so that the file is reproducible.
    (out / INDEX_FILE).write_bytes(_deterministic_npz(indices))
    return indices


def _deterministic_npz(arrays: dict[str, np.ndarray]) -> bytes:
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key, value in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.asarray(value), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, member.getvalue())
    return buf.getvalue()


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point: ``python -m symgraph.datasets.make_sample SRC_DIR``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src_dir", help="folder with the MNIST training and t10k IDX files")
    parser.add_argument("--out", default=str(SAMPLE_DIR), help="output folder")
    args = parser.parse_args(argv)
    indices = build_sample(args.src_dir, args.out)
    for name in sorted(Path(args.out).glob("mnist-sample-*")):
        print(f"{name}  {name.stat().st_size:>9,} bytes")
    print(", ".join(f"{k}: {len(v)} digits" for k, v in indices.items()))


if __name__ == "__main__":
    main()
