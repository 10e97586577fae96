"""Tests for symgraph.datasets: IDX files, MNIST loaders, the bundled sample."""

from __future__ import annotations

import gzip
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from symgraph.datasets import (
    DatasetFormatError,
    DatasetNotFoundError,
    find_idx_files,
    load_data,
    load_data_shared,
    read_idx,
    split_validation,
    write_idx,
)
from symgraph.datasets.make_sample import INDEX_FILE, build_sample
from symgraph.datasets.mnist import SAMPLE_DIR, SAMPLE_FILES

# CI checks the shared data out beside the clone: <parent>/main and <parent>/shared/data.
REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


def needs_shared(folder: str):
    """Skip unless the shared data folder ``folder`` is present."""
    return pytest.mark.skipif(
        not (SHARED_DATA / folder).is_dir(),
        reason=f"shared data folder {SHARED_DATA / folder} is absent (CI has it beside the clone)",
    )


STANDARD = {
    ("train", "images"): "train-images-idx3-ubyte.gz",
    ("train", "labels"): "train-labels-idx1-ubyte.gz",
    ("t10k", "images"): "t10k-images-idx3-ubyte.gz",
    ("t10k", "labels"): "t10k-labels-idx1-ubyte.gz",
}


def make_idx_folder(folder: Path, n_train=12, n_test=5, names=STANDARD, seed=0) -> dict:
    """Write a tiny MNIST-like IDX folder; return the raw uint8 arrays written."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        ("train", "images"): rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        ("train", "labels"): rng.integers(0, 10, n_train, dtype=np.uint8),
        ("t10k", "images"): rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        ("t10k", "labels"): rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    for role, a in arrays.items():
        write_idx(folder / names[role], a)
    return arrays


def assert_split(split, n, pixels=784):
    images, labels = split
    assert images.shape == (n, pixels) and images.dtype == np.float32
    assert labels.shape == (n,) and labels.dtype == np.int64


# ---------------------------------------------------------------- bundled sample


def test_bundled_sample_shapes_dtypes_ranges_and_balance():
    training, validation, test = load_data()
    for split, n, per_class in [(training, 5000, 500), (validation, 1000, 100), (test, 1000, 100)]:
        assert_split(split, n)
        images, labels = split
        assert images.min() == 0.0 and images.max() == 1.0
        assert 0.08 < images.mean() < 0.2  # real digits: mostly background
        assert np.bincount(labels, minlength=10).tolist() == [per_class] * 10
    # classes stay interleaved (file order), not sorted by digit
    assert len(set(training[1][:20].tolist())) > 5


def test_bundled_sample_files_are_small_and_declared():
    sizes = {p.name: p.stat().st_size for p in SAMPLE_DIR.iterdir()}
    assert set(SAMPLE_FILES.values()) | {INDEX_FILE} <= set(sizes)
    assert sum(sizes.values()) < 2_000_000
    assert all(name.endswith((".gz", ".npz")) for name in sizes)  # setup.cfg package data


def test_bundled_sample_index_record_matches():
    idx = np.load(SAMPLE_DIR / INDEX_FILE)
    assert [len(idx[k]) for k in ("train", "validation", "test")] == [5000, 1000, 1000]
    assert not set(idx["train"]) & set(idx["validation"])
    for k in idx.files:
        assert np.all(np.diff(idx[k]) > 0)  # file order, no repeats


def test_bundled_sample_validation_size_override():
    training, validation, test = load_data(validation_size=0)
    assert_split(training, 6000)
    assert_split(validation, 0)
    assert_split(test, 1000)
    default = load_data()
    np.testing.assert_array_equal(training[0][:5000], default[0][0])
    np.testing.assert_array_equal(training[1][5000:], default[1][1])
    training, validation, _ = load_data(validation_size=2500)
    assert len(training[0]) == 3500 and len(validation[0]) == 2500
    with pytest.raises(ValueError, match="between 0 and 6000"):
        load_data(validation_size=6001)
    with pytest.raises(TypeError):
        load_data(validation_size=0.5)


# ---------------------------------------------------------------- IDX round trips

IDX_DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]


@settings(max_examples=40, deadline=None)
@given(
    dtype=st.sampled_from(IDX_DTYPES),
    shape=st.lists(st.integers(0, 5), min_size=0, max_size=4).map(tuple),
    gz=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_idx_round_trip(tmp_path_factory, dtype, shape, gz, seed):
    rng = np.random.default_rng(seed)
    a = (rng.standard_normal(shape) * 100).astype(dtype)
    path = tmp_path_factory.mktemp("idx") / ("a-idx" + (".gz" if gz else ""))
    write_idx(path, a)
    b = read_idx(path)
    assert b.dtype == np.dtype(dtype) and b.dtype.isnative and b.flags.writeable
    np.testing.assert_array_equal(a, b)
    assert read_idx(path, dtype=dtype, ndim=len(shape)).shape == shape


def test_idx_header_bytes_are_the_mnist_layout(tmp_path):
    write_idx(tmp_path / "x-images-idx3-ubyte", np.arange(24, dtype=np.uint8).reshape(2, 3, 4))
    raw = (tmp_path / "x-images-idx3-ubyte").read_bytes()
    assert raw[:16] == bytes.fromhex("00000803000000020000000300000004")
    assert raw[16:] == bytes(range(24))
    write_idx(tmp_path / "y.gz", np.array([1, -2], dtype=np.int32))
    assert gzip.decompress((tmp_path / "y.gz").read_bytes()) == bytes.fromhex(
        "00000c010000000200000001fffffffe"
    )


def test_idx_folder_plain_and_gz_load_the_same(tmp_path):
    arrays = make_idx_folder(tmp_path / "gz")
    plain = {role: name[: -len(".gz")] for role, name in STANDARD.items()}
    make_idx_folder(tmp_path / "plain", names=plain)
    a, b = load_data(tmp_path / "gz"), load_data(tmp_path / "plain")
    for sa, sb in zip(a, b):
        np.testing.assert_array_equal(sa[0], sb[0])
        np.testing.assert_array_equal(sa[1], sb[1])
    training, validation, test = a
    assert_split(training, 10) and assert_split(validation, 2) and assert_split(test, 5)
    expected = arrays["train", "images"].reshape(12, 784)[:10] / np.float32(255)
    np.testing.assert_array_equal(training[0], expected.astype(np.float32))
    np.testing.assert_array_equal(validation[1], arrays["train", "labels"][10:])
    np.testing.assert_array_equal(test[1], arrays["t10k", "labels"])


@pytest.mark.parametrize(
    "names",
    [
        ["train-10k-images-idx3-ubyte.gz", "train-10k-labels-idx1-ubyte.gz"],
        ["train-images.idx3-ubyte", "train-labels.idx1-ubyte"],
    ],
)
def test_idx_folder_accepts_other_names(tmp_path, names):
    test_names = ["test-images.idx3-ubyte", "test-labels.idx1-ubyte"]
    roles = list(STANDARD)
    make_idx_folder(tmp_path, names=dict(zip(roles, names + test_names)))
    training, validation, test = load_data(tmp_path, validation_size=0)
    assert len(training[0]) == 12 and len(validation[0]) == 0 and len(test[0]) == 5


def test_idx_folder_prefers_unzipped_copy(tmp_path):
    make_idx_folder(tmp_path)
    make_idx_folder(tmp_path, names={r: n[:-3] for r, n in STANDARD.items()}, seed=1)
    files = find_idx_files(tmp_path)
    assert all(p.suffix != ".gz" for p in files.values())


def test_split_validation_is_a_tail_split():
    (x, y), (xv, yv) = split_validation(np.zeros((60000, 1)), np.arange(60000), 10000)
    assert len(x) == 50000 and yv[0] == 50000 and len(xv) == 10000


# ---------------------------------------------------------------- classic pickle


def write_classic_pickle(path: Path, sizes=(50, 10, 10), opener=gzip.open):
    rng = np.random.default_rng(0)
    data = tuple(
        (
            (rng.integers(0, 256, (n, 784)) / 256).astype(np.float32),
            rng.integers(0, 10, n).astype(np.int64),
        )
        for n in sizes
    )
    with opener(path, "wb") as f:
        pickle.dump(data, f, protocol=2)
    return data


@pytest.mark.parametrize("name, opener", [("mnist.pkl.gz", gzip.open), ("mnist.pkl", open)])
def test_classic_pickle_loads(tmp_path, name, opener):
    data = write_classic_pickle(tmp_path / name, opener=opener)
    loaded = load_data(tmp_path / name)
    for (x, y), (ex, ey), n in zip(loaded, data, (50, 10, 10)):
        assert_split((x, y), n)
        np.testing.assert_array_equal(x, ex)
        np.testing.assert_array_equal(y, ey)


def test_classic_pickle_python2_style_and_resplit(tmp_path):
    # Python 2 pickles of arrays hold their raw bytes as str; latin1 decoding handles it,
    # and int32 labels / float64 images are normalised to int64 / float32.
    data = tuple((np.full((n, 784), 0.5), np.arange(n, dtype=np.int32) % 10) for n in (50, 10, 10))
    with gzip.open(tmp_path / "mnist.pkl.gz", "wb") as f:
        pickle.dump(list(data), f, protocol=2)
    training, validation, test = load_data(tmp_path / "mnist.pkl.gz", validation_size=20)
    assert_split(training, 40) and assert_split(validation, 20) and assert_split(test, 10)
    np.testing.assert_array_equal(validation[1][-10:], np.arange(10))


# ---------------------------------------------------------------- corrupt inputs


def corrupt_folder(tmp_path: Path) -> Path:
    make_idx_folder(tmp_path)
    return tmp_path


def raises_naming(path: Path, *patterns: str, exc=DatasetFormatError):
    """pytest.raises that also checks the message names the file and says what is wrong."""
    return pytest.raises(exc, match="(?s)" + re.escape(str(path)) + ".*".join(["", *patterns]))


def test_bad_magic(tmp_path):
    folder = corrupt_folder(tmp_path)
    # labels written where images are expected
    write_idx(folder / STANDARD["train", "images"], np.zeros(12, np.uint8))
    with raises_naming(
        folder / STANDARD["train", "images"],
        re.escape("expected IDX magic 0x00000803 (uint8, 3 dims), found 0x00000801 (uint8, 1 dim)"),
    ):
        load_data(folder)


def test_garbage_magic(tmp_path):
    path = tmp_path / "x-labels-idx1-ubyte"
    path.write_bytes(b"PK\x03\x04" + bytes(20))
    with raises_naming(path, "expected IDX magic 0x00000801", "0x504b0304", "not an IDX header"):
        read_idx(path, dtype=np.uint8, ndim=1)


def test_plain_name_but_gzip_content_gets_a_hint(tmp_path):
    path = tmp_path / "x-labels-idx1-ubyte"
    path.write_bytes(gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x00"))
    with raises_naming(path, "looks gzip-compressed"):
        read_idx(path, dtype=np.uint8, ndim=1)


def test_wrong_dims(tmp_path):
    folder = corrupt_folder(tmp_path)
    write_idx(folder / STANDARD["t10k", "labels"], np.zeros((5, 1), np.uint8))
    with raises_naming(folder / STANDARD["t10k", "labels"], "0x00000801", "found 0x00000802"):
        load_data(folder)
    with raises_naming(folder / STANDARD["t10k", "labels"], "expected 1 dims"):
        read_idx(folder / STANDARD["t10k", "labels"], ndim=1)
    with raises_naming(folder / STANDARD["t10k", "labels"], "expected float32 data"):
        read_idx(folder / STANDARD["t10k", "labels"], dtype=np.float32)


@pytest.mark.parametrize("gz", [True, False])
def test_truncated_data(tmp_path, gz):
    path = tmp_path / ("t10k-images-idx3-ubyte" + (".gz" if gz else ""))
    raw = b"\x00\x00\x08\x03" + np.array([10000, 28, 28], ">u4").tobytes() + bytes(1234)
    path.write_bytes(gzip.compress(raw) if gz else raw)
    with raises_naming(
        path,
        re.escape("truncated: header says 10000x28x28 = 7840000 bytes of data, file holds 1234"),
    ):
        read_idx(path, dtype=np.uint8, ndim=3)


@pytest.mark.parametrize("gz", [True, False])
def test_header_claiming_billions_of_images_is_a_format_error(tmp_path, gz):
    """4,294,967,295 images of 28x28 (3.4 TB) announced, 3 MB present: the reader must
    not allocate what the header claims (MemoryError) but say the file is short."""
    path = tmp_path / ("train-images-idx3-ubyte" + (".gz" if gz else ""))
    raw = b"\x00\x00\x08\x03" + np.array([2**32 - 1, 28, 28], ">u4").tobytes() + bytes(3 << 20)
    path.write_bytes(gzip.compress(raw) if gz else raw)
    with raises_naming(path, re.escape("truncated: header says 4294967295x28x28 = "
                                       "3367254359280 bytes of data, file holds 3145728")):
        read_idx(path, dtype=np.uint8, ndim=3)
    labels = tmp_path / "train-labels-idx1-ubyte"
    labels.write_bytes(b"\x00\x00\x08\x01" + np.array([3 * 10**9], ">u4").tobytes() + bytes(10))
    with raises_naming(labels, "truncated: header says 3000000000 = 3000000000 bytes"):
        read_idx(labels, dtype=np.uint8, ndim=1)


def test_truncated_header(tmp_path):
    path = tmp_path / "a"
    path.write_bytes(b"\x00\x00\x08\x03\x00\x00\x00\x02")
    with raises_naming(path, "truncated: header announces 3 dims"):
        read_idx(path)
    path.write_bytes(b"\x00\x00")
    with raises_naming(path, "truncated", "holds 2 bytes"):
        read_idx(path)


def test_extra_trailing_bytes(tmp_path):
    path = tmp_path / "a"
    write_idx(path, np.zeros(3, np.uint8))
    path.write_bytes(path.read_bytes() + b"\x00\x00")
    with raises_naming(path, "header says 3 = 3 bytes", "2 extra bytes"):
        read_idx(path)


def test_truncated_gzip_stream(tmp_path):
    path = tmp_path / "x-images-idx3-ubyte.gz"
    write_idx(path, np.random.default_rng(0).integers(0, 256, (50, 28, 28), dtype=np.uint8))
    path.write_bytes(path.read_bytes()[:-100])
    with raises_naming(path, "corrupt or truncated gzip stream"):
        read_idx(path)


def test_not_gzip(tmp_path):
    folder = corrupt_folder(tmp_path)
    path = folder / STANDARD["train", "labels"]
    write_idx(folder / "plain", np.zeros(12, np.uint8))
    path.write_bytes((folder / "plain").read_bytes())
    with raises_naming(path, "not gzip-compressed: expected gzip magic 0x1f8b, found 0x0000"):
        load_data(folder)


def test_empty_gz_file(tmp_path):
    path = tmp_path / "a.gz"
    path.write_bytes(b"")
    with raises_naming(path, "not gzip-compressed", "empty file"):
        read_idx(path)


def test_label_image_count_mismatch(tmp_path):
    folder = corrupt_folder(tmp_path)
    write_idx(folder / STANDARD["train", "labels"], np.zeros(11, np.uint8))
    with raises_naming(
        folder / STANDARD["train", "images"],
        "holds 12 images",
        re.escape(str(folder / STANDARD["train", "labels"])),
        "holds 11 labels",
    ):
        load_data(folder)


def test_train_test_image_size_mismatch(tmp_path):
    folder = corrupt_folder(tmp_path)
    write_idx(folder / STANDARD["t10k", "images"], np.zeros((5, 20, 20), np.uint8))
    with raises_naming(folder / STANDARD["t10k", "images"], "400 pixels", "784"):
        load_data(folder)


def test_missing_file_in_folder(tmp_path):
    folder = corrupt_folder(tmp_path)
    (folder / STANDARD["t10k", "labels"]).unlink()
    with raises_naming(folder, "no t10k labels file", "t10k-labels-idx1-ubyte.gz", "holds: t10k-"):
        load_data(folder)
    with pytest.raises(FileNotFoundError):  # also a FileNotFoundError for generic code
        load_data(folder)


def test_missing_file_and_path(tmp_path):
    with raises_naming(tmp_path / "nope.gz", "no such file", exc=DatasetNotFoundError):
        read_idx(tmp_path / "nope.gz")
    with raises_naming(tmp_path / "mnist.pkl.gz", "no such file or folder", "mnist.pkl.gz"):
        load_data(tmp_path / "mnist.pkl.gz")


def test_ambiguous_folder(tmp_path):
    folder = corrupt_folder(tmp_path)
    write_idx(folder / "train-10k-images-idx3-ubyte.gz", np.zeros((1, 28, 28), np.uint8))
    with raises_naming(folder, "several train images files", "train-10k-images"):
        load_data(folder)


def test_single_idx_file_instead_of_folder(tmp_path):
    folder = corrupt_folder(tmp_path)
    with raises_naming(folder / STANDARD["train", "images"], "pass the folder"):
        load_data(folder / STANDARD["train", "images"])


def test_corrupt_pickles(tmp_path):
    path = tmp_path / "mnist.pkl.gz"
    path.write_bytes(gzip.compress(b"this is not a pickle"))
    with raises_naming(path, "expected a pickle of", "could not read it"):
        load_data(path)
    path.write_bytes(b"\x80\x02 plain bytes named .gz")
    with raises_naming(path, "not gzip-compressed"):
        load_data(path)
    path.write_bytes(gzip.compress(pickle.dumps((1, 2), protocol=2)))
    with raises_naming(path, "expected a pickled .training, validation, test. tuple", "of 2"):
        load_data(path)
    bad = ((np.zeros((3, 784)), np.zeros(2, np.int64)),) * 3
    path.write_bytes(gzip.compress(pickle.dumps(bad, protocol=2)))
    with raises_naming(path, "training images", r"\(3, 784\) and \(2,\)"):
        load_data(path)
    bad = ((np.zeros((3, 784)), np.zeros(3)),) * 3
    path.write_bytes(gzip.compress(pickle.dumps(bad, protocol=2)))
    with raises_naming(path, "expected integer training labels, found float64"):
        load_data(path)


# ---------------------------------------------------------------- shared variables


def test_load_data_shared():
    """Needs symgraph.shared, symgraph.config and symgraph.tensor.cast (the core)."""
    import symgraph
    from symgraph import config

    (train_x, train_y), (val_x, val_y), (test_x, test_y) = load_data_shared()
    (x, y), _, (tx, ty) = load_data()
    floatx = config.floatX
    assert train_x.get_value(borrow=True).dtype == np.dtype(floatx)
    np.testing.assert_array_equal(train_x.get_value(borrow=True), x.astype(floatx))
    assert val_x.get_value(borrow=True).shape == (1000, 784)
    assert test_x.get_value(borrow=True).shape == (1000, 784)
    for sy in (train_y, val_y, test_y):
        assert sy.dtype == "int32"
    labels = symgraph.function([], test_y)()
    assert labels.dtype == np.int32
    np.testing.assert_array_equal(labels, ty)


# ---------------------------------------------------------------- the real data


@needs_shared("mnist")
def test_shared_mnist_folder():
    training, validation, test = load_data(SHARED_DATA / "mnist")
    assert_split(training, 10000 - 1666)
    assert_split(validation, 1666)
    assert_split(test, 10000)
    assert test[1][:5].tolist() == [7, 2, 1, 0, 4]  # the official test set's first digits
    assert np.bincount(test[1]).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@needs_shared("fashion-mnist")
def test_shared_fashion_mnist_folder():
    training, validation, test = load_data(SHARED_DATA / "fashion-mnist")
    assert_split(training, 50000)
    assert_split(validation, 10000)
    assert_split(test, 10000)
    assert np.bincount(np.concatenate([training[1], validation[1]])).tolist() == [6000] * 10
    assert np.bincount(test[1]).tolist() == [1000] * 10
    assert test[0].min() == 0.0 and test[0].max() == 1.0


@needs_shared("mnist")
def test_bundled_sample_is_what_make_sample_builds(tmp_path):
    src = SHARED_DATA / "mnist"
    indices = build_sample(src, tmp_path)
    shipped = np.load(SAMPLE_DIR / INDEX_FILE)
    for key, value in indices.items():
        np.testing.assert_array_equal(shipped[key], value)
    for role, name in SAMPLE_FILES.items():
        np.testing.assert_array_equal(read_idx(tmp_path / name), read_idx(SAMPLE_DIR / name))
    # and the sample's digits are the documented source digits
    files = find_idx_files(src)
    source_images = read_idx(files["train", "images"])
    sample_images = read_idx(SAMPLE_DIR / SAMPLE_FILES["train", "images"])
    np.testing.assert_array_equal(sample_images[:5000], source_images[shipped["train"]])
    np.testing.assert_array_equal(sample_images[5000:], source_images[shipped["validation"]])


def test_keras_style_npz_loads_without_pickle(tmp_path):
    rng = np.random.default_rng(1)
    x_train = rng.integers(0, 256, (12, 28, 28), dtype=np.uint8)
    y_train = rng.integers(0, 10, 12, dtype=np.uint8)
    x_test = rng.integers(0, 256, (4, 28, 28), dtype=np.uint8)
    y_test = rng.integers(0, 10, 4, dtype=np.uint8)
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    (x, y), (xv, yv), (xt, yt) = load_data(path)
    assert x.shape == (10, 784) and xv.shape == (2, 784) and xt.shape == (4, 784)
    assert x.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_array_equal(x[3], x_train[3].reshape(-1) / np.float32(255))
    np.testing.assert_array_equal(np.concatenate([y, yv]), y_train)
    np.testing.assert_array_equal(yt, y_test)
    (x, _), (xv, _), _ = load_data(path, validation_size=0)
    assert len(x) == 12 and len(xv) == 0

    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test)
    with raises_naming(path, "key 'y_test' is missing"):
        load_data(path)
    np.savez(path, x_train=x_train, y_train=np.array([object()] * 12), x_test=x_test,
             y_test=y_test)
    with raises_naming(path, "could not read it"):       # an object array needs pickle
        load_data(path)
