"""``T.nnet.neighbours`` (Theano's ``images2neibs`` / ``neibs2images``): every mode
against a transcription of the loop Theano documents for its output, on both backends;
gradients by finite differences; the inverse; errors."""
import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.gradient import verify_grad
from symgraph.tensor.nnet.neighbours import images2neibs, neibs2images

RNG = np.random.default_rng(8)


def reference(ten4, neib_shape, neib_step, mode):
    """Theano's ``Images2Neibs.perform``, written out: row ``b + gd * (a + gc * (s + ns *
    n))`` holds window ``(a, b)`` of channel ``s`` of image ``n``, column ``j + d * i`` its
    pixel ``(i, j)``; outside the image (padding) zeros, ``wrap_centered`` wraps."""
    c, d = neib_shape
    sx, sy = neib_step
    nb, ns, h, w = ten4.shape
    if mode == "wrap_centered":
        gc, gd = -(-h // sx), -(-w // sy)
    elif mode in ("valid", "ignore_borders"):
        gc, gd = 1 + (h - c) // sx, 1 + (w - d) // sy
    elif mode == "half":
        gc, gd = 1 + (h - c % 2) // sx, 1 + (w - d % 2) // sy
    else:
        gc, gd = 1 + (h + c - 2) // sx, 1 + (w + d - 2) // sy
    shift = {"wrap_centered": (c // 2, d // 2), "half": (c // 2, d // 2),
             "full": (c - 1, d - 1)}.get(mode, (0, 0))
    z = np.empty((gc * gd * ns * nb, c * d))
    for n, s, a, b in np.ndindex(nb, ns, gc, gd):
        row = b + gd * (a + gc * (s + ns * n))
        for i, j in np.ndindex(c, d):
            t2, t3 = i + a * sx - shift[0], j + b * sy - shift[1]
            if mode == "wrap_centered":
                t2, t3 = t2 % h, t3 % w
            inside = 0 <= t2 < h and 0 <= t3 < w
            z[row, j + d * i] = ten4[n, s, t2, t3] if inside else 0.0
    return z


CASES = [((2, 3), None, "ignore_borders", (6, 7)), ((2, 1), (2, 2), "valid", (6, 7)),
         ((2, 2), (1, 1), "valid", (5, 4)), ((3, 3), (1, 2), "half", (6, 7)),
         ((2, 3), (1, 1), "full", (4, 5)), ((3, 3), (2, 2), "wrap_centered", (6, 7)),
         ((3, 1), (3, 2), "wrap_centered", (5, 4)), ((2, 2), None, "valid", (4, 6))]


@pytest.mark.parametrize("mode", ["py", None])
def test_images2neibs_every_mode_against_theanos_loop(mode):
    x = T.dtensor4("x")
    for shape, step, how, hw in CASES:
        a = RNG.normal(size=(2, 3) + hw)
        got = symgraph.function([x], images2neibs(x, shape, step, how), mode=mode)(a)
        want = reference(a, shape, shape if step is None else step, how)
        np.testing.assert_array_equal(got, want, err_msg=str((shape, step, how)))


def test_gradients_add_overlapping_windows():
    a = RNG.normal(size=(1, 2, 5, 4))
    verify_grad(lambda v: images2neibs(v, (2, 2), (1, 1)), [a], mode="py", n_tests=1)
    verify_grad(lambda v: images2neibs(v, (3, 3), (2, 2), "wrap_centered"), [a],
                mode="py", n_tests=1)
    verify_grad(lambda v: images2neibs(v, (3, 2), (2, 1), "half"), [a], mode="py",
                n_tests=1)


@pytest.mark.parametrize("mode", ["py", None])
def test_neibs2images_inverts_disjoint_windows(mode):
    x = T.dtensor4("x")
    a = RNG.normal(size=(2, 3, 4, 6))
    n = images2neibs(x, (2, 3))
    back, = symgraph.function([x], [neibs2images(n, (2, 3), x.shape)], mode=mode)(a)
    np.testing.assert_array_equal(back, a)
    b = RNG.normal(size=(2, 3, 5, 7))
    m = images2neibs(x, (2, 3), mode="ignore_borders")
    back = symgraph.function([x], neibs2images(m, (2, 3), x.shape, "ignore_borders"),
                             mode=mode)(b)
    want = np.zeros_like(b)
    want[:, :, :4, :6] = b[:, :, :4, :6]
    np.testing.assert_array_equal(back, want)
    verify_grad(lambda v: neibs2images(v, (2, 2), (1, 2, 4, 4)), [RNG.normal(size=(8, 4))],
                mode="py", n_tests=1)


def test_errors():
    x = T.dtensor4("x")
    f = symgraph.function([x], images2neibs(x, (2, 2)))
    with pytest.raises(ValueError, match="expected input shape"):
        f(np.ones((1, 1, 5, 4)))   # 'valid': 2 x 2 windows do not tile 5 rows
    with pytest.raises(NotImplementedError, match="mode"):
        images2neibs(x, (2, 2), mode="same")
    with pytest.raises(TypeError, match="odd"):
        images2neibs(x, (2, 3), mode="wrap_centered")
    with pytest.raises(ValueError, match="neib_shape"):
        images2neibs(x, (2, 0))
    with pytest.raises(TypeError, match="symbolic"):
        images2neibs(x, T.lvector("s"))
    with pytest.raises(TypeError, match="4-D"):
        images2neibs(T.dmatrix("m"), (2, 2))
