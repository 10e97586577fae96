"""``theano.tensor.nnet.neighbours``: sliding windows over images as rows of a matrix.

``images2neibs(ten4, neib_shape, neib_step=None, mode='valid')`` turns a batch of image
stacks ``(batch, channels, rows, cols)`` into a matrix whose rows are the flattened
``neib_shape`` windows (im2col), in Theano's order: for each image, each channel, each
window row, each window column. ``neibs2images`` is its inverse for windows that tile
the image (``neib_step == neib_shape``).

How: one advanced-indexing gather with the windows' row and column indices (broadcast
against each other), after zero padding (``half``, ``full``) or with the indices wrapped
around the image (``wrap_centered``). Built from existing ops, it has their gradient
(overlapping windows add up, as Theano's gradient does) and runs on every backend.
Window shape and step are Python ints, as Theano code passes them.
"""
from __future__ import annotations

import numbers

__all__ = ["images2neibs", "neibs2images"]

_MODES = ("valid", "half", "full", "wrap_centered", "ignore_borders")


def _T():
    import symgraph.tensor as T

    return T


def _pair(v, what):
    if hasattr(v, "type") and not hasattr(v, "data"):
        raise TypeError(f"images2neibs: {what} must be two Python ints (a symbolic {what} is "
                        f"not supported), got {v}")
    v = tuple(getattr(v, "data", v))
    if len(v) != 2 or not all(isinstance(i, numbers.Integral) and not isinstance(i, bool)
                              and int(i) > 0 for i in v):
        raise ValueError(f"images2neibs: {what} must be two ints > 0, got {v!r}")
    return int(v[0]), int(v[1])


def images2neibs(ten4, neib_shape, neib_step=None, mode="valid"):
    """The ``neib_shape = (r, c)`` windows of ``ten4`` taken every ``neib_step = (dr, dc)``
    (default: ``neib_shape``, disjoint windows), one per row of the result, shape
    ``(batch * channels * windows, r * c)`` (Theano's ``images2neibs``).

    Modes: ``'valid'`` (the windows must cover the image exactly: ``rows - r`` a multiple
    of ``dr``, same for columns, else a ValueError when called), ``'ignore_borders'``
    (what does not fit is left out), ``'half'`` and ``'full'`` (as ``'valid'`` on the image
    padded with ``r // 2`` / ``r - 1`` zero rows on each side, and columns likewise),
    ``'wrap_centered'`` (odd windows centred on every ``dr``-th row and ``dc``-th column,
    wrapping around the image's edges).

    Example::

        >>> x = T.tensor4('x')
        >>> patches = images2neibs(x, (2, 2))            # 2 x 2 blocks, one per row
        >>> pooled = patches.max(axis=-1)
    """
    T = _T()
    if mode not in _MODES:
        raise NotImplementedError(f"images2neibs: mode must be one of {_MODES}, got "
                                  f"{mode!r}")
    r, c = _pair(neib_shape, "neib_shape")
    sr, sc = (r, c) if neib_step is None else _pair(neib_step, "neib_step")
    ten4 = T.as_tensor_variable(ten4)
    if ten4.type.ndim != 4:
        raise TypeError(f"images2neibs: the input must be 4-D (batch, channels, rows, cols), "
                        f"got {ten4.type}")
    b, ch, h, w = (ten4.shape[i] for i in range(4))
    if mode == "wrap_centered" and (r % 2 == 0 or c % 2 == 0):
        raise TypeError(f"images2neibs: mode 'wrap_centered' needs odd window sizes, got "
                        f"{(r, c)}")
    x = ten4
    if mode in ("half", "full"):
        pr, pc = (r // 2, c // 2) if mode == "half" else (r - 1, c - 1)
        padded = T.zeros((b, ch, h + 2 * pr, w + 2 * pc), dtype=ten4.type.dtype)
        x = T.set_subtensor(padded[:, :, pr:pr + h, pc:pc + w], ten4)
        h, w = h + 2 * pr, w + 2 * pc
    if mode == "wrap_centered":
        grid_r, grid_c = (h + sr - 1) // sr, (w + sc - 1) // sc
        rows = (T.arange(grid_r)[:, None] * sr + (T.arange(r) - r // 2)[None, :]) % h
        cols = (T.arange(grid_c)[:, None] * sc + (T.arange(c) - c // 2)[None, :]) % w
    else:
        grid_r, grid_c = (h - r) // sr + 1, (w - c) // sc + 1
        if mode != "ignore_borders":
            # the windows must cover the (padded) image: a shape check, raised at call
            x = T.specify_shape(x, (b, ch, (grid_r - 1) * sr + r, (grid_c - 1) * sc + c))
        rows = T.arange(grid_r)[:, None] * sr + T.arange(r)[None, :]
        cols = T.arange(grid_c)[:, None] * sc + T.arange(c)[None, :]
    windows = x[:, :, rows[:, None, :, None], cols[None, :, None, :]]
    return windows.reshape((-1, r * c))


def neibs2images(neibs, neib_shape, original_shape, mode="valid"):
    """The images ``images2neibs(images, neib_shape, mode=mode)`` came from, for disjoint
    windows (its default step): ``original_shape`` is their shape (4 ints or a 4-entry
    symbolic shape). With ``'ignore_borders'`` the rows and columns no window covered
    are zeros. Its gradient is ``images2neibs`` (Theano's ``neibs2images``)."""
    T = _T()
    if mode not in ("valid", "ignore_borders"):
        raise NotImplementedError(f"neibs2images: mode {mode!r} is not supported (only "
                                  f"'valid' and 'ignore_borders')")
    r, c = _pair(neib_shape, "neib_shape")
    neibs = T.as_tensor_variable(neibs)
    shape = [original_shape[i] for i in range(4)]
    grid_r, grid_c = shape[2] // r, shape[3] // c
    blocks = neibs.reshape((shape[0], shape[1], grid_r, grid_c, r, c), ndim=6)
    images = blocks.dimshuffle(0, 1, 2, 4, 3, 5).reshape(
        (shape[0], shape[1], grid_r * r, grid_c * c), ndim=4)
    if mode == "valid":
        return T.specify_shape(images, tuple(shape))
    out = T.zeros(tuple(shape), dtype=neibs.type.dtype)
    return T.set_subtensor(out[:, :, :grid_r * r, :grid_c * c], images)
