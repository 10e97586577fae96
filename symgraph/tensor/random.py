"""Random streams: reproducible random numbers as ordinary graph nodes.

Design
------
Each random variable made by ``RandomStreams`` owns a *state*: a shared ``uint64`` vector
``[key, counter]``. A draw is one ``RandomDraw`` node ``(state, *size) -> (new_state,
sample)``; the shared state gets ``default_update = new_state``, so every call of a
compiled function gives fresh numbers (unless ``function(..., no_default_updates=True)``)
and ``srng.seed(n)`` makes runs repeatable.

The generator is counter-based: Philox4x32-10 (Salmon et al., 2011) maps
``(counter + b, key)`` to four 32-bit words for block ``b``; a draw of ``n`` 64-bit values
uses ``ceil(n / 2)`` blocks and advances the counter by as much. Values come from integer
operations and correctly rounded float operations only (``+ - * /`` and ``sqrt``; the
``log``/``sin``/``cos`` of the normal distribution are evaluated here with polynomials), so
the numpy ``perform`` below and the Numba implementation (``symgraph/link/numba/impl/
random.py``) produce bit-identical numbers for the same state.

Distributions built on the op: ``uniform``, ``normal``, ``binomial``, ``random_integers``,
``permutation`` (plus Theano's ``choice``-free subset); parameters may be numbers or
tensors (broadcast with the sample).

Example::

    >>> import symgraph as theano, symgraph.tensor as T
    >>> from symgraph.tensor.shared_randomstreams import RandomStreams
    >>> srng = RandomStreams(seed=234)
    >>> rv_u = srng.uniform((2, 2))
    >>> f = theano.function([], rv_u)
    >>> f().shape
    (2, 2)
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from symgraph.config import config
from symgraph.graph.basic import Apply, Constant, Variable
from symgraph.graph.op import Op
from symgraph.tensor import math as tm
from symgraph.tensor.basic import as_tensor_variable, constant
from symgraph.tensor.type import DISCRETE_DTYPES, FLOAT_DTYPES, INT_DTYPES, TensorType

__all__ = ["RandomStreams", "RandomStream", "RandomDraw", "MRG_RandomStreams",
           "philox4x32", "random_state", "draw_numpy"]

# --------------------------------------------------------------------- the generator

PHILOX_M0 = 0xD2511F53
PHILOX_M1 = 0xCD9E8D57
PHILOX_W0 = 0x9E3779B9
PHILOX_W1 = 0xBB67AE85
PHILOX_ROUNDS = 10

_U = np.uint64
_M0, _M1, _W0, _W1 = _U(PHILOX_M0), _U(PHILOX_M1), _U(PHILOX_W0), _U(PHILOX_W1)
_MASK32 = _U(0xFFFFFFFF)
_S32, _S11, _S40 = _U(32), _U(11), _U(40)
TWO_M53 = 2.0 ** -53
TWO_M24 = 2.0 ** -24

# polynomial coefficients shared with the Numba implementation (same order of operations)
LN2_HI = 6.93147180369123816490e-01
LN2_LO = 1.90821492927058770002e-10
SQRT2 = 1.4142135623730951
#: 1/(2k+1), k = 10..1, for 2*atanh(f) = 2 f (1 + f^2/3 + f^4/5 + ...)
LOG_COEFS = tuple(1.0 / (2 * k + 1) for k in range(10, 0, -1))
HALF_PI = 1.5707963267948966
#: Taylor coefficients of sin(a)/a and cos(a) in a^2 (highest first), |a| <= pi/4
SIN_COEFS = tuple((-1) ** k / math.factorial(2 * k + 1) for k in range(8, 0, -1))
COS_COEFS = tuple((-1) ** k / math.factorial(2 * k) for k in range(9, 0, -1))


def philox4x32(c0, c1, c2, c3, k0, k1, rounds=PHILOX_ROUNDS):
    """Philox4x32 on uint64 arrays holding 32-bit words; returns the 4 output words.

    >>> [hex(int(w)) for w in philox4x32(*[np.zeros(1, np.uint64)] * 4, _U(0), _U(0))]
    ['0x6627e8d5', '0xe169c58d', '0xbc57ac4c', '0x9b00dbd8']
    """
    for r in range(rounds):
        if r:
            k0 = (k0 + _W0) & _MASK32
            k1 = (k1 + _W1) & _MASK32
        p0 = _M0 * c0
        p1 = _M1 * c2
        c0, c1, c2, c3 = (p1 >> _S32) ^ c1 ^ k0, p1 & _MASK32, (p0 >> _S32) ^ c3 ^ k1, \
            p0 & _MASK32
    return c0, c1, c2, c3


def random_bits(state, count):
    """``count`` uint64 values from ``state = [key, counter]``; returns (new_state, bits)."""
    key, ctr = _U(state[0]), _U(state[1])
    nblocks = (count + 1) // 2
    with np.errstate(over="ignore"):
        b = ctr + np.arange(nblocks, dtype=np.uint64)
    zero = np.zeros(nblocks, np.uint64)
    w0, w1, w2, w3 = philox4x32(b & _MASK32, b >> _S32, zero, zero, key & _MASK32, key >> _S32)
    out = np.empty(2 * nblocks, np.uint64)
    out[0::2] = w0 | (w1 << _S32)
    out[1::2] = w2 | (w3 << _S32)
    new = np.empty(2, np.uint64)
    new[0] = key
    new[1] = np.uint64((int(ctr) + nblocks) % (1 << 64))
    return new, out[:count]


def _log01(x):
    """Natural log of float64 values in (0, 1] (about 1 ulp), with + - * / only."""
    bits = x.view(np.uint64)
    e = ((bits >> _U(52)) & _U(0x7FF)).astype(np.int64) - 1023
    m = ((bits & _U(0xFFFFFFFFFFFFF)) | _U(0x3FF0000000000000)).view(np.float64)
    big = m > SQRT2
    m = np.where(big, m * 0.5, m)
    e = e + big.astype(np.int64)
    f = (m - 1.0) / (m + 1.0)
    f2 = f * f
    p = np.full(f.shape, LOG_COEFS[0])
    for c in LOG_COEFS[1:]:
        p = p * f2 + c
    p = p * f2 + 1.0
    ef = e.astype(np.float64)
    return ef * LN2_HI + (2.0 * f * p + ef * LN2_LO)


def _sincos2pi(u):
    """(sin(2 pi u), cos(2 pi u)) for float64 ``u`` in [0, 1), with + - * / only."""
    t = u * 4.0
    q = np.floor(t)
    r = t - q
    flip = r > 0.5
    a = np.where(flip, 1.0 - r, r) * HALF_PI
    a2 = a * a
    s = np.full(a.shape, SIN_COEFS[0])
    for c in SIN_COEFS[1:]:
        s = s * a2 + c
    s = a * (s * a2 + 1.0)
    c_ = np.full(a.shape, COS_COEFS[0])
    for c in COS_COEFS[1:]:
        c_ = c_ * a2 + c
    c_ = c_ * a2 + 1.0
    sr = np.where(flip, c_, s)
    cr = np.where(flip, s, c_)
    qi = q.astype(np.int64)
    sin = np.where(qi == 0, sr, np.where(qi == 1, cr, np.where(qi == 2, -sr, -cr)))
    cos = np.where(qi == 0, cr, np.where(qi == 1, -sr, np.where(qi == 2, -cr, sr)))
    return sin, cos


def draw_numpy(dist, dtype, state, shape):
    """The numpy reference of ``RandomDraw``: (new_state, sample of ``shape``)."""
    shape = tuple(int(s) for s in shape)
    n = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if dist == "uniform":
        new, u = random_bits(state, n)
        if dtype == "float32":
            v = (u >> _S40).astype(np.float32) * np.float32(TWO_M24)
        else:
            v = (u >> _S11).astype(np.float64) * TWO_M53
    elif dist == "normal":
        m = n + (n & 1)
        new, u = random_bits(state, m)
        u1 = ((u[0::2] >> _S11) + _U(1)).astype(np.float64) * TWO_M53
        u2 = (u[1::2] >> _S11).astype(np.float64) * TWO_M53
        r = np.sqrt(-2.0 * _log01(u1))
        s, c = _sincos2pi(u2)
        z = np.empty(m, np.float64)
        z[0::2] = r * c
        z[1::2] = r * s
        v = z[:n].astype(dtype)
    elif dist == "permutation":
        new, u = random_bits(state, n)
        k = shape[-1] if shape else 1
        rows = u.reshape(-1, k) if k else u.reshape(0, 0)
        v = np.empty(rows.shape, np.int64)
        for i in range(rows.shape[0]):
            v[i] = np.argsort(rows[i], kind="mergesort")
        v = v.astype(dtype)
    else:  # pragma: no cover - guarded by RandomDraw
        raise ValueError(f"unknown distribution {dist!r}")
    return new, np.asarray(v, dtype=dtype).reshape(shape)


def _splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) % (1 << 64)
    z = x
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) % (1 << 64)
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) % (1 << 64)
    return z ^ (z >> 31)


def random_state(seed: int) -> np.ndarray:
    """A fresh generator state ``[key, 0]`` (uint64) whose key is derived from ``seed``."""
    return np.array([_splitmix64(int(seed) % (1 << 64)), 0], dtype=np.uint64)


# --------------------------------------------------------------------------- the op

DISTS = ("uniform", "normal", "permutation")


class RandomDraw(Op):
    """``(state, *size) -> (new_state, sample)``: one draw from a Philox stream.

    - ``dist``: 'uniform' (in [0, 1)), 'normal' (mean 0, std 1) or 'permutation' (each row
      along the last axis is a permutation of ``range(n)``, with ``n`` the last dim);
    - ``dtype``: the sample's dtype;
    - ``dim_lens``: for each size input, None for an int64 scalar (one dimension) or the
      static length of an int64 vector (that many dimensions);
    - ``bcast``: the sample's broadcastable pattern (constant dims of 1).
    """

    __props__ = ("dist", "dtype", "dim_lens", "bcast")

    def __init__(self, dist, dtype, dim_lens, bcast=None):
        if dist not in DISTS:
            raise ValueError(f"RandomDraw: dist must be one of {DISTS}, got {dist!r}")
        self.dist = dist
        self.dtype = str(np.dtype(dtype))
        self.dim_lens = tuple(None if d is None else int(d) for d in dim_lens)
        nd = sum(1 if d is None else d for d in self.dim_lens)
        self.bcast = tuple(bool(b) for b in bcast) if bcast is not None else (False,) * nd
        if len(self.bcast) != nd:
            raise ValueError(f"RandomDraw: bcast {self.bcast} does not have {nd} entries")
        if dist in ("uniform", "normal") and self.dtype not in FLOAT_DTYPES:
            raise TypeError(f"RandomDraw: {dist} samples must be float32/float64, got "
                            f"{self.dtype}")
        if dist == "permutation" and (self.dtype not in INT_DTYPES or nd == 0):
            raise TypeError("RandomDraw: permutation needs an integer dtype and >= 1 dim")

    @property
    def ndim(self):
        return len(self.bcast)

    def make_node(self, state, *dims):
        state = as_tensor_variable(state)
        if state.type.ndim != 1 or state.type.dtype != "uint64":
            raise TypeError(f"{self}: the state must be a uint64 vector (as made by "
                            f"RandomStreams), got {state.type}")
        if len(dims) != len(self.dim_lens):
            raise TypeError(f"{self}: expected {len(self.dim_lens)} size inputs, got {len(dims)}")
        ins = []
        for d, ln in zip(dims, self.dim_lens):
            d = as_tensor_variable(d)
            want = 0 if ln is None else 1
            if d.type.ndim != want or d.type.dtype not in DISCRETE_DTYPES:
                raise TypeError(f"{self}: size entries must be integer "
                                f"{'scalars' if want == 0 else 'vectors'}, got {d.type}")
            ins.append(d if d.type.dtype == "int64" else tm.cast(d, "int64"))
        outs = [TensorType("uint64", (False,))(), TensorType(self.dtype, self.bcast)()]
        return Apply(self, [state] + ins, outs)

    def sample_shape(self, dims):
        shape = []
        for d, ln in zip(dims, self.dim_lens):
            d = np.asarray(d)
            if ln is None:
                shape.append(int(d))
            else:
                if d.shape != (ln,):
                    raise ValueError(f"{self}: a size vector has shape {d.shape}, expected "
                                     f"({ln},)")
                shape.extend(int(s) for s in d)
        if any(s < 0 for s in shape):
            raise ValueError(f"{self}: negative dimensions are not allowed (size {tuple(shape)})")
        for k, (s, b) in enumerate(zip(shape, self.bcast)):
            if b and s != 1:
                raise ValueError(f"{self}: dimension {k} is broadcastable but has size {s}")
        return tuple(shape)

    def perform(self, node, inputs):
        state = np.asarray(inputs[0])
        if state.shape != (2,) or state.dtype != np.uint64:
            raise ValueError(f"{self}: the random state must be a uint64 array of shape (2,), "
                             f"got {state.dtype} {state.shape}")
        shape = self.sample_shape(inputs[1:])
        new, v = draw_numpy(self.dist, self.dtype, state, shape)
        return [new, v]

    def infer_shape(self, fgraph, node, input_shapes):
        from symgraph.tensor.shape_inference import shape_tuple
        from symgraph.tensor.shape_ops import Shape

        shp = []
        for d, ln in zip(node.inputs[1:], self.dim_lens):
            if ln is None:
                shp.append(d)
            elif d.owner is not None and isinstance(d.owner.op, Shape):
                shp.extend(shape_tuple(d.owner.inputs[0]))
            elif isinstance(d, Constant):
                shp.extend(int(s) for s in d.data)
            else:
                shp.extend(d[i] for i in range(ln))
        return [(2,), tuple(shp)]

    def L_op(self, inputs, outputs, output_grads):
        return [None] * len(inputs)


# ------------------------------------------------------------------------ size helpers

def _size_inputs(size, ndim, params, fname):
    """(dims inputs, dim_lens, bcast) for ``size`` (None, int, tuple, or int vector).

    ``size=None`` takes the shape of the parameters broadcast together (a scalar when they
    are all scalars)."""
    if size is None:
        params = [p for p in params if p.type.ndim > 0]
        if not params:
            return [], [], []
        b = params[0]
        for p in params[1:]:
            b = b + tm.zeros_like(p)
        from symgraph.tensor.shape_ops import shape

        return [shape(b)], [b.type.ndim], list(b.type.broadcastable)
    if isinstance(size, Variable):
        size = as_tensor_variable(size)
        if size.type.ndim == 0:
            size = [size]
        elif size.type.ndim == 1:
            from symgraph.tensor.shape_inference import static_shape

            ln = static_shape(size)[0]
            if ln is None:
                ln = ndim
            if ln is None:
                raise ValueError(f"{fname}: the length of the symbolic size {size} is unknown; "
                                 f"pass ndim=")
            if ndim is not None and ndim != ln:
                raise ValueError(f"{fname}: ndim={ndim} but size has {ln} entries")
            bc = [False] * ln
            if isinstance(size, Constant):
                bc = [int(s) == 1 for s in size.data]
            return [size], [ln], bc
        else:
            raise TypeError(f"{fname}: size must be a tuple of ints or an int vector, got {size}")
    if isinstance(size, (numbers.Integral, np.integer)):
        size = (size,)
    if isinstance(size, np.ndarray):
        size = tuple(size.tolist())
    if not isinstance(size, (tuple, list)):
        raise TypeError(f"{fname}: size must be None, an int, a tuple of ints/int scalars or an "
                        f"int vector, got {size!r}")
    if ndim is not None and ndim != len(size):
        raise ValueError(f"{fname}: ndim={ndim} but size {size!r} has {len(size)} entries")
    dims, lens, bc = [], [], []
    for s in size:
        if isinstance(s, (numbers.Integral, np.integer)) and not isinstance(s, bool):
            if s < 0:
                raise ValueError(f"{fname}: negative dimension in size {size!r}")
            dims.append(constant(int(s), dtype="int64"))
            lens.append(None)
            bc.append(int(s) == 1)
        elif isinstance(s, Variable):
            s = as_tensor_variable(s)
            if s.type.dtype not in DISCRETE_DTYPES or s.type.ndim != 0:
                raise TypeError(f"{fname}: size entries must be int scalars, got {s} ({s.type})")
            dims.append(s)
            lens.append(None)
            bc.append(isinstance(s, Constant) and int(s.data) == 1)
        else:
            raise TypeError(f"{fname}: size entries must be ints or int scalars, got {s!r}")
    return dims, lens, bc


def _float_dtype(dtype, params):
    """``dtype``, or floatX widened by the dtypes of the symbolic parameters."""
    if dtype is None or dtype == "floatX":
        dtype = str(np.result_type(config.floatX, *[p.type.dtype for p in params]))
    return str(np.dtype(dtype))


# ------------------------------------------------------------------------- the streams

class RandomStreams:
    """Theano's ``shared_randomstreams.RandomStreams``: a factory of random variables.

    Every method call makes a new random variable with its own shared state (seeded from
    this object's seed); a compiled function updates the states after each call, so each
    call gives new numbers. ``seed(n)`` reseeds every variable made so far.

    Example::

        srng = RandomStreams(seed=1234)
        mask = srng.binomial(n=1, p=0.5, size=h.shape)
        f = theano.function([h], h * T.cast(mask, theano.config.floatX))
    """

    def __init__(self, seed=None):
        self.state_updates = []
        self.default_instance_seed = seed
        self.gen_seedgen = np.random.RandomState(seed)

    # -- states -------------------------------------------------------------------
    def _new_state(self):
        from symgraph.tensor.sharedvar import shared

        seed = int(self.gen_seedgen.randint(2 ** 30))
        return shared(random_state(seed), name="rng_state")

    def seed(self, seed=None):
        """Reseed every random variable made by this object (and the future ones)."""
        if seed is None:
            seed = self.default_instance_seed
        self.gen_seedgen = np.random.RandomState(seed)
        for old_r, _ in self.state_updates:
            old_r.set_value(random_state(int(self.gen_seedgen.randint(2 ** 30))), borrow=True)

    def updates(self):
        """``[(state, new_state), ...]`` of every variable made by this object."""
        return list(self.state_updates)

    def __getitem__(self, item):
        return item.get_value(borrow=True)

    def __setitem__(self, item, val):
        item.set_value(val, borrow=True)

    def _draw(self, dist, dtype, dims, lens, bcast):
        state = self._new_state()
        new_state, sample = RandomDraw(dist, dtype, lens, bcast)(state, *dims)
        state.default_update = new_state
        self.state_updates.append((state, new_state))
        sample.rng = state
        sample.update = (state, new_state)
        return sample, state, new_state

    @staticmethod
    def _finish(out, base):
        """Give the user-facing result the ``rng``/``update`` of the draw ``base``."""
        out.rng = base.rng
        out.update = base.update
        return out

    # -- distributions ---------------------------------------------------------------
    def uniform(self, size=None, low=0.0, high=1.0, ndim=None, dtype=None):
        """Uniform floats in ``[low, high)``; ``dtype`` defaults to floatX (or wider if
        ``low``/``high`` are wider tensors)."""
        dtype = _float_dtype(dtype, _sym_params(low, high))
        if dtype not in FLOAT_DTYPES:
            raise TypeError(f"uniform: dtype must be float32 or float64, got {dtype}")
        low, high = _params(low, high, dtype=dtype)
        dims, lens, bc = _size_inputs(size, ndim, [low, high], "uniform")
        u, _, _ = self._draw("uniform", dtype, dims, lens, bc)
        if _is_const(low, 0) and _is_const(high, 1):
            return u
        out = low + (high - low) * u
        out = _cast_to(out, dtype, u)
        return self._finish(out, u)

    def normal(self, size=None, avg=0.0, std=1.0, ndim=None, dtype=None):
        """Normal samples with mean ``avg`` and standard deviation ``std``."""
        dtype = _float_dtype(dtype, _sym_params(avg, std))
        if dtype not in FLOAT_DTYPES:
            raise TypeError(f"normal: dtype must be float32 or float64, got {dtype}")
        avg, std = _params(avg, std, dtype=dtype)
        dims, lens, bc = _size_inputs(size, ndim, [avg, std], "normal")
        z, _, _ = self._draw("normal", dtype, dims, lens, bc)
        if _is_const(avg, 0) and _is_const(std, 1):
            return z
        out = _cast_to(avg + std * z, dtype, z)
        return self._finish(out, z)

    def binomial(self, size=None, n=1, p=0.5, ndim=None, dtype="int64", prob=None):
        """Number of successes in ``n`` trials of probability ``p`` (``n`` a constant int;
        ``n=1`` gives Bernoulli 0/1 samples, e.g. dropout masks)."""
        if prob is not None:
            p = prob
        if isinstance(n, Variable):
            if not isinstance(n, Constant):
                raise TypeError("binomial: n must be a constant int (symbolic n is not "
                                "supported)")
            n = int(n.data)
        n = int(n)
        if n < 0:
            raise ValueError(f"binomial: n must be >= 0, got {n}")
        (p,) = _params(p, dtype="float64")
        dtype = str(np.dtype(dtype))
        dims, lens, bc = _size_inputs(size, ndim, [p], "binomial")
        if n == 1:
            u, _, _ = self._draw("uniform", "float64", dims, lens, bc)
            out = tm.cast(tm.lt(u, p), dtype)
        else:
            u, _, _ = self._draw("uniform", "float64",
                                 [constant(n, dtype="int64")] + dims, [None] + lens,
                                 [n == 1] + bc)
            out = tm.cast(tm.sum(tm.cast(tm.lt(u, p), "int64"), axis=0), dtype)
        return self._finish(out, u)

    def random_integers(self, size=None, low=0, high=1, ndim=None, dtype="int64"):
        """Integers uniformly drawn from ``[low, high]`` (both ends included)."""
        low, high = _params(low, high)
        dims, lens, bc = _size_inputs(size, ndim, [low, high], "random_integers")
        u, _, _ = self._draw("uniform", "float64", dims, lens, bc)
        lo = tm.cast(low, "float64")
        span = tm.cast(high, "float64") - lo + 1.0
        k = tm.minimum(tm.floor(u * span), span - 1.0)
        out = tm.cast(lo + k, dtype)
        return self._finish(out, u)

    def permutation(self, size=None, n=1, ndim=None, dtype="int64"):
        """Random permutations of ``range(n)``: shape ``size + (n,)`` (a vector when ``size``
        is None or ())."""
        if size is None:
            size = ()
        dims, lens, bc = _size_inputs(size, ndim, [], "permutation")
        if isinstance(n, (numbers.Integral, np.integer)):
            nd = constant(int(n), dtype="int64")
            nb = int(n) == 1
        else:
            nd = as_tensor_variable(n)
            nb = False
        perm, _, _ = self._draw("permutation", str(np.dtype(dtype)), dims + [nd],
                                lens + [None], bc + [nb])
        return perm

    def multinomial(self, size=None, n=1, pvals=None, ndim=None, dtype="int64"):
        """Counts of ``n`` draws from the categorical ``pvals`` (last axis): shape
        ``size + (len(pvals),)`` (``symgraph.tensor.random_categorical``)."""
        from symgraph.tensor.random_categorical import multinomial

        return multinomial(self, size, n, pvals, ndim, dtype)

    def choice(self, size=None, a=2, replace=True, p=None, ndim=None, dtype="int64"):
        """Samples from ``range(a)`` or the vector ``a``, with or without replacement,
        uniformly or with probabilities ``p`` (``symgraph.tensor.random_categorical``)."""
        from symgraph.tensor.random_categorical import choice

        return choice(self, size, a, replace, p, ndim, dtype)

    def gen(self, op, *args, **kwargs):  # pragma: no cover - Theano internals
        raise NotImplementedError("RandomStreams.gen: call uniform/normal/binomial/... instead")


def _sym_params(*ps):
    """The symbolic parameters among ``ps`` (numbers and arrays are converted later)."""
    return [as_tensor_variable(p) for p in ps if isinstance(p, Variable)]


def _params(*ps, dtype=None):
    """Parameters as tensors; Python numbers take ``dtype`` (the sample's dtype)."""
    out = []
    for p in ps:
        if isinstance(p, Variable):
            v = as_tensor_variable(p)
        elif isinstance(p, (bool, int, float)) and not isinstance(p, np.generic):
            v = constant(p, dtype=dtype if dtype is not None else
                         ("float64" if isinstance(p, float) else "int64"))
        else:
            v = as_tensor_variable(np.asarray(p, dtype=dtype) if dtype is not None else p)
        if v.type.dtype.startswith("complex"):
            raise TypeError(f"random parameter {p!r} must be real")
        out.append(v)
    return out


def _is_const(v, value):
    return isinstance(v, Constant) and v.data.size == 1 and float(v.data) == value


def _cast_to(out, dtype, like):
    if out.type.dtype != dtype:
        out = tm.cast(out, dtype)
    return out


RandomStream = RandomStreams
#: Theano's MRG generator has no separate implementation here: the same Philox streams.
MRG_RandomStreams = RandomStreams
