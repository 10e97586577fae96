"""Read and write IDX files, the format of the original MNIST distribution.

Why a reader of our own: the format is tiny (a 4-byte magic, one big-endian uint32
per dimension, then the raw big-endian data), and the real risk is a wrong,
truncated or half-downloaded file silently becoming garbage digits.  So every read
checks the magic number, the number of dimensions and that the byte count matches
the header, and any mismatch raises :class:`DatasetFormatError` naming the file,
what was expected and what was found.

A file whose name ends in ``.gz`` must be gzip-compressed; any other name is read
as plain bytes.

>>> import numpy as np, tempfile, os
>>> p = os.path.join(tempfile.mkdtemp(), "tiny-labels-idx1-ubyte.gz")
>>> write_idx(p, np.array([3, 1, 4], dtype=np.uint8))
>>> read_idx(p, dtype=np.uint8, ndim=1)
array([3, 1, 4], dtype=uint8)
"""

from __future__ import annotations

import gzip
import io
import math
import os
import zlib
from typing import BinaryIO

import numpy as np

__all__ = [
    "DatasetFormatError",
    "DatasetNotFoundError",
    "read_idx",
    "write_idx",
    "idx_magic",
]

PathLike = str | os.PathLike

# IDX type codes (third byte of the magic) and the big-endian dtype they denote.
_CODE_TO_DTYPE: dict[int, np.dtype] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_KIND_TO_CODE = {(dt.kind, dt.itemsize): code for code, dt in _CODE_TO_DTYPE.items()}
_GZIP_MAGIC = b"\x1f\x8b"


class DatasetFormatError(ValueError):
    """A data file is corrupt, truncated, of the wrong kind or inconsistent.

    The message always starts with the file (or folder) it is about.

    >>> str(DatasetFormatError("a.gz: expected X, found Y"))
    'a.gz: expected X, found Y'
    """


class DatasetNotFoundError(DatasetFormatError, FileNotFoundError):
    """A data file or folder is missing.

    It is both a :class:`DatasetFormatError` (so one ``except`` catches every bad
    dataset) and a :class:`FileNotFoundError` (so generic code sees what it expects).
    """


def idx_magic(dtype: np.dtype | type | str, ndim: int) -> int:
    """Return the IDX magic number for arrays of ``dtype`` with ``ndim`` dimensions.

    >>> hex(idx_magic(np.uint8, 3))   # MNIST images
    '0x803'
    """
    dt = np.dtype(dtype)
    code = _KIND_TO_CODE.get((dt.kind, dt.itemsize))
    if code is None:
        raise ValueError(f"IDX cannot store dtype {dt}")
    if not 0 <= ndim <= 255:
        raise ValueError(f"IDX cannot store {ndim} dimensions")
    return (code << 8) | ndim


def _describe_magic(magic: int) -> str:
    """Say what a magic number means, e.g. ``'0x00000803 (uint8, 3 dims)'``."""
    text = f"0x{magic:08x}"
    code, ndim = (magic >> 8) & 0xFF, magic & 0xFF
    if magic >> 16 == 0 and code in _CODE_TO_DTYPE:
        name = _CODE_TO_DTYPE[code].newbyteorder("=").name
        return f"{text} ({name}, {ndim} dim{'' if ndim == 1 else 's'})"
    if magic >> 16 == 0x1F8B:
        return f"{text} (not an IDX header: the file looks gzip-compressed; name it *.gz)"
    return f"{text} (not an IDX header)"


def _read_exact(f: BinaryIO, buf: memoryview) -> int:
    """Fill ``buf`` from ``f`` as far as the stream allows; return the bytes read."""
    got = 0
    while got < len(buf):
        n = f.readinto(buf[got:])
        if not n:
            break
        got += n
    return got


def _open(path: PathLike) -> BinaryIO:
    """Open ``path`` for reading, decompressing when its name ends in ``.gz``."""
    try:
        raw = open(path, "rb")
    except FileNotFoundError:
        raise DatasetNotFoundError(f"{os.fspath(path)}: no such file") from None
    except IsADirectoryError:
        raise DatasetFormatError(f"{os.fspath(path)}: is a folder, expected a file") from None
    if not os.fspath(path).endswith(".gz"):
        return raw
    with raw:
        head = raw.read(2)
    if head != _GZIP_MAGIC:
        raise DatasetFormatError(
            f"{os.fspath(path)}: not gzip-compressed: expected gzip magic 0x1f8b, "
            f"found {'0x' + head.hex() if head else 'an empty file'}"
        )
    return gzip.open(path, "rb")  # type: ignore[return-value]


def read_idx(
    path: PathLike,
    *,
    dtype: np.dtype | type | str | None = None,
    ndim: int | None = None,
) -> np.ndarray:
    """Read one IDX file (plain or ``.gz``) into a native-byte-order numpy array.

    ``dtype`` and ``ndim``, when given, are the expected element type and number of
    dimensions; a file with another magic number raises :class:`DatasetFormatError`.

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "x-images-idx3-ubyte")
    >>> write_idx(p, np.zeros((2, 3, 4), np.uint8))
    >>> read_idx(p, dtype=np.uint8, ndim=3).shape
    (2, 3, 4)
    """
    name = os.fspath(path)
    want = None if dtype is None or ndim is None else idx_magic(dtype, ndim)
    with _open(path) as f:
        try:
            return _read_idx_stream(f, name, want, dtype, ndim)
        except (EOFError, zlib.error, gzip.BadGzipFile) as e:
            raise DatasetFormatError(
                f"{name}: corrupt or truncated gzip stream ({type(e).__name__}: {e})"
            ) from None


def _read_idx_stream(f, name, want, dtype, ndim) -> np.ndarray:
    head = f.read(4)
    if len(head) < 4:
        raise DatasetFormatError(
            f"{name}: truncated: an IDX file starts with a 4-byte magic number, "
            f"file holds {len(head)} bytes"
        )
    magic = int.from_bytes(head, "big")
    code, found_ndim = (magic >> 8) & 0xFF, magic & 0xFF
    valid = magic >> 16 == 0 and code in _CODE_TO_DTYPE
    if want is not None and magic != want:
        raise DatasetFormatError(
            f"{name}: expected IDX magic {_describe_magic(want)}, found {_describe_magic(magic)}"
        )
    if not valid:
        raise DatasetFormatError(
            f"{name}: expected an IDX magic number 0x0000TTNN, found {_describe_magic(magic)}"
        )
    file_dtype = _CODE_TO_DTYPE[code]
    if dtype is not None and np.dtype(dtype).newbyteorder("=") != file_dtype.newbyteorder("="):
        raise DatasetFormatError(
            f"{name}: expected {np.dtype(dtype).name} data, found {_describe_magic(magic)}"
        )
    if ndim is not None and found_ndim != ndim:
        raise DatasetFormatError(f"{name}: expected {ndim} dims, found {_describe_magic(magic)}")

    dims_raw = f.read(4 * found_ndim)
    if len(dims_raw) < 4 * found_ndim:
        raise DatasetFormatError(
            f"{name}: truncated: header announces {found_ndim} dims "
            f"({4 * found_ndim} bytes of sizes), file holds {len(dims_raw)} of them"
        )
    shape = tuple(int(d) for d in np.frombuffer(dims_raw, ">u4"))
    nbytes = math.prod(shape) * file_dtype.itemsize
    shape_txt = "x".join(map(str, shape)) or "scalar"

    if nbytes <= _EAGER_BYTES:
        out = np.empty(shape, dtype=file_dtype)
        got = _read_exact(f, memoryview(out.reshape(-1).view(np.uint8)))
    else:  # trust the header's size only as far as the data goes (no MemoryError)
        out, got = _read_growing(f, nbytes, shape, file_dtype)
    if got < nbytes:
        raise DatasetFormatError(
            f"{name}: truncated: header says {shape_txt} = {nbytes} bytes of data, file holds {got}"
        )
    extra = len(f.read(io.DEFAULT_BUFFER_SIZE))
    if extra:
        raise DatasetFormatError(
            f"{name}: header says {shape_txt} = {nbytes} bytes of data, "
            f"file holds more ({'at least ' if extra == io.DEFAULT_BUFFER_SIZE else ''}"
            f"{extra} extra bytes): wrong header or two files joined"
        )
    if out.dtype.byteorder == ">":
        out = out.astype(out.dtype.newbyteorder("="))
    return out


#: data sizes read into one up-front allocation; a header announcing more is believed
#: only as the bytes arrive, so a corrupt or hostile header claiming billions of images
#: is a DatasetFormatError (truncated), not a MemoryError
_EAGER_BYTES = 1 << 27
_CHUNK = 1 << 24


def _read_growing(f, nbytes: int, shape, dtype):
    """Read up to ``nbytes`` in chunks into a buffer that grows with the data; return
    (array of ``shape`` or None when the data ran short, bytes read)."""
    buf = bytearray()
    while len(buf) < nbytes:
        chunk = f.read(min(nbytes - len(buf), _CHUNK))
        if not chunk:
            return None, len(buf)
        buf += chunk
    return np.frombuffer(buf, dtype=dtype).reshape(shape), len(buf)


def write_idx(path: PathLike, array: np.ndarray) -> None:
    """Write ``array`` as an IDX file, gzip-compressed when ``path`` ends in ``.gz``.

    The gzip header carries no timestamp or name, so the same array always gives
    the same bytes (the bundled sample is reproducible byte for byte).

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "x-labels-idx1-ubyte.gz")
    >>> write_idx(p, np.arange(5, dtype=np.uint8))
    >>> read_idx(p).tolist()
    [0, 1, 2, 3, 4]
    """
    a = np.asarray(array)
    magic = idx_magic(a.dtype, a.ndim)
    if any(d >= 2**32 for d in a.shape):
        raise ValueError(f"IDX cannot store a dimension of {max(a.shape)} or more")
    big = a.astype(_CODE_TO_DTYPE[(magic >> 8) & 0xFF], copy=False)
    data = (
        magic.to_bytes(4, "big")
        + np.asarray(a.shape, dtype=">u4").tobytes()
        + np.ascontiguousarray(big).tobytes()
    )
    if os.fspath(path).endswith(".gz"):
        data = gzip.compress(data, compresslevel=9, mtime=0)
    with open(path, "wb") as f:
        f.write(data)
