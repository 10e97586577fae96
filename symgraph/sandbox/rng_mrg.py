"""Theano's ``theano.sandbox.rng_mrg``: ``MRG_RandomStreams``, L'Ecuyer's MRG31k3p
combined multiple recursive generator, giving Theano's numbers for the same seed.

Why bit-exactness matters: experiments (dropout masks, initializations) written for
Theano are reproduced only if the same seed gives the same stream. Everything below follows
Theano 1.0's CPU implementation:

- the state of one stream is six int32 ``(x11, x12, x13, x21, x22, x23)``; one step is
  ``x1 <- (2^22 x1[n-2] + (2^7+1) x1[n-3]) mod (2^31-1)`` and
  ``x2 <- (2^15 x2[n-1] + (2^15+1) x2[n-3]) mod (2^31-21069)``, computed with Theano's
  int32 shift-and-mask arithmetic (wrap-around included);
- a sample is ``z * NORM`` with ``z = x11 - x21`` (plus ``2^31-1`` when ``x11 <= x21``),
  ``NORM = 2^-31`` for float64 and ``float32(4.6566126e-10)`` (a float32 product) for
  float32;
- element ``i`` of a draw comes from stream ``i % n_streams``; the streams of one draw
  start ``2^72`` steps apart, and each new draw starts ``2^134`` steps after the previous
  one (the jump matrices below, checked against repeated squaring in the tests);
- ``n_streams`` is Theano's guess (``prod(size) // 6`` when above 6, at most 15360, or
  15360 when the size is symbolic) unless ``nstreams`` is given.

Example::

    >>> from symgraph.sandbox.rng_mrg import MRG_RandomStreams
    >>> srng = MRG_RandomStreams(seed=234)
    >>> mask = srng.binomial(size=(3, 4), p=0.5, dtype='float32')
"""
from __future__ import annotations

import warnings

import numpy as np

from symgraph.graph.basic import Apply, Variable
from symgraph.graph.op import Op
from symgraph.tensor.basic import as_tensor_variable
from symgraph.tensor.type import FLOAT_DTYPES, INT_DTYPES, TensorType

__all__ = ["MRG_RandomStreams", "MRGUniform", "mrg_uniform", "guess_n_streams",
           "ff_2p72", "ff_2p134", "M1", "M2"]

M1 = 2147483647          # 2^31 - 1
M2 = 2147462579          # 2^31 - 21069
NORM64 = 4.656612873077392578125e-10       # 2^-31
NORM32 = np.float32(4.6566126e-10)         # largest float32 with float32(NORM * M1) < 1

#: the state transition raised to the 2^72 and 2^134 (substream and stream jumps)
A1P72 = np.array([[1516919229, 758510237, 499121365],
                  [1884998244, 1516919229, 335398200],
                  [601897748, 1884998244, 358115744]], dtype=np.int64)
A2P72 = np.array([[1228857673, 1496414766, 954677935],
                  [1133297478, 1407477216, 1496414766],
                  [2002613992, 1639496704, 1407477216]], dtype=np.int64)
A1P134 = np.array([[1702500920, 1849582496, 1656874625],
                   [828554832, 1702500920, 1512419905],
                   [1143731069, 828554832, 102237247]], dtype=np.int64)
A2P134 = np.array([[796789021, 1464208080, 607337906],
                   [1241679051, 1431130166, 1464208080],
                   [1401213391, 1178684362, 1431130166]], dtype=np.int64)

MAX_STREAMS = 60 * 256


def _jump(state, a1, a2) -> np.ndarray:
    """``(a1 @ s[:3]) mod M1`` and ``(a2 @ s[3:]) mod M2`` in exact integer arithmetic."""
    s = np.asarray(state, dtype=np.int64)
    top = ((a1 * s[:3]) % M1).sum(axis=1) % M1
    bot = ((a2 * s[3:]) % M2).sum(axis=1) % M2
    return np.concatenate([top, bot]).astype(np.int32)


def ff_2p72(state) -> np.ndarray:
    """The state ``2^72`` steps later (the next substream)."""
    return _jump(state, A1P72, A2P72)


def ff_2p134(state) -> np.ndarray:
    """The state ``2^134`` steps later (the next stream)."""
    return _jump(state, A1P134, A2P134)


def guess_n_streams(size, warn=False) -> int:
    """Theano's number of streams for a draw of ``size``."""
    if isinstance(size, (tuple, list)) and all(
            isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in size):
        r = 1
        for s in size:
            r *= int(s)
        if r > 6:
            r = r // 6
        return min(r, MAX_STREAMS)
    if warn:
        warnings.warn(f"MRG_RandomStreams cannot determine the number of streams from size "
                      f"{size}; using {MAX_STREAMS}", stacklevel=3)
    return MAX_STREAMS


# -------------------------------------------------------------------- the generator

def _i32(v):
    """Wrap int64 values to int32, as Theano's C code's int32 arithmetic does."""
    return ((v + 2 ** 31) & 0xFFFFFFFF) - 2 ** 31


def _fold(y, m):
    return np.where((y < 0) | (y >= m), _i32(y - m), y)


def mrg_steps(states: np.ndarray, n_elements: int, dtype: str):
    """``(new_states, samples)``: ``n_elements`` samples, element ``i`` from row
    ``i % len(states)`` of the int32 ``(n_streams, 6)`` states (vectorized over streams,
    one round per ``n_streams`` elements)."""
    st = np.array(states, dtype=np.int64)
    n_streams = st.shape[0]
    out = np.empty(n_elements, dtype=dtype)
    done = 0
    while done < n_elements:
        k = min(n_streams, n_elements - done)
        x11, x12, x13, x21, x22, x23 = (st[:k, j] for j in range(6))
        y1 = _i32(((x12 & 511) << 22) + (x12 >> 9) + ((x13 & 16777215) << 7) + (x13 >> 24))
        y1 = _fold(y1, M1)
        y1 = _fold(_i32(y1 + x13), M1)
        n11, n12, n13 = y1, x11, x12
        y1 = _fold(_i32(((x21 & 65535) << 15) + 21069 * (x21 >> 16)), M2)
        y2 = _fold(_i32(((x23 & 65535) << 15) + 21069 * (x23 >> 16)), M2)
        y2 = _fold(_i32(y2 + x23), M2)
        y2 = _fold(_i32(y2 + y1), M2)
        n21, n22, n23 = y2, x21, x22
        st[:k] = np.stack([n11, n12, n13, n21, n22, n23], axis=1)
        z = np.where(n11 <= n21, n11 - n21 + M1, n11 - n21)
        if dtype == "float32":
            out[done:done + k] = z.astype(np.float32) * NORM32
        else:
            out[done:done + k] = z.astype(np.float64) * NORM64
        done += k
    return st.astype(np.int32), out


class MRGUniform(Op):
    """``(rstate, size) -> (new_rstate, sample)``: uniform samples in (0, 1) from the
    MRG31k3p streams in ``rstate`` (an int32 ``(n_streams, 6)`` matrix)."""

    __props__ = ("dtype", "ndim", "bcast")

    def __init__(self, dtype, ndim, bcast=None):
        if dtype not in FLOAT_DTYPES:
            raise TypeError(f"MRGUniform: dtype must be float32 or float64, got {dtype}")
        self.dtype = dtype
        self.ndim = int(ndim)
        self.bcast = tuple(bool(b) for b in bcast) if bcast is not None else (False,) * ndim

    def make_node(self, rstate, size):
        from symgraph.tensor.math import cast

        rstate = as_tensor_variable(rstate)
        size = as_tensor_variable(size)
        if rstate.type.ndim != 2 or rstate.type.dtype != "int32":
            raise TypeError(f"{self}: rstate must be an int32 matrix, got {rstate.type}")
        if size.type.ndim != 1 or size.type.dtype not in INT_DTYPES:
            raise TypeError(f"{self}: size must be an integer vector, got {size.type}")
        if size.type.dtype != "int64":
            size = cast(size, "int64")
        return Apply(self, [rstate, size],
                     [rstate.type.make_variable(), TensorType(self.dtype, self.bcast)()])

    def sample_shape(self, rstate, size):
        size = tuple(int(s) for s in np.asarray(size).reshape(-1))
        if len(size) != self.ndim:
            raise ValueError(f"{self}: size must have length {self.ndim}, got {size}")
        if any(s < 0 for s in size):
            raise ValueError(f"{self}: negative dimensions in size {size}")
        n = int(np.prod(size, dtype=np.int64))
        if n > M1:
            raise ValueError("rng_mrg does not support more than (2**31 - 1) samples")
        rstate = np.asarray(rstate)
        if rstate.ndim != 2 or rstate.shape[1] != 6 or rstate.dtype != np.int32:
            raise ValueError(f"{self}: rstate must be an int32 matrix with 6 columns, got "
                             f"{rstate.dtype} {rstate.shape}")
        if rstate.shape[0] == 0 and n:
            raise ValueError(f"{self}: rstate has no stream")
        return size, n

    def perform(self, node, inputs):
        rstate, size = inputs
        size, n = self.sample_shape(rstate, size)
        new, sample = mrg_steps(rstate, n, self.dtype)
        return [new, sample.reshape(size)]

    def infer_shape(self, fgraph, node, input_shapes):
        size = node.inputs[1]
        return [input_shapes[0], tuple(size[i] for i in range(self.ndim))]

    def L_op(self, inputs, outputs, output_grads):
        return [None, None]


mrg_uniform = MRGUniform


# -------------------------------------------------------------------- the streams

def _floatx():
    from symgraph.config import config

    return config.floatX


def _upcast_dtype(*params):
    """Theano's ``upcast(floatX, ...)`` over the dtypes of the symbolic parameters
    (Python numbers take floatX, like Theano's autocast)."""
    dt = np.dtype(_floatx())
    for p in params:
        if isinstance(p, Variable) and p.type.dtype in FLOAT_DTYPES + INT_DTYPES:
            dt = np.promote_types(dt, p.type.dtype)
    return str(dt)


def _param(v, dtype):
    from symgraph.gradient_ops import undefined_grad
    from symgraph.tensor.math import cast

    v = as_tensor_variable(v) if isinstance(v, Variable) else as_tensor_variable(
        np.asarray(v, dtype=dtype))
    if v.type.dtype != dtype:
        v = cast(v, dtype)
    return undefined_grad(v)


def _check_size(size, what):
    """A static tuple of ints, or a symbolic int vector; Theano's checks."""
    import symgraph.tensor as T

    if isinstance(size, Variable):
        if size.type.ndim == 1:
            return size
        if size.type.ndim == 0:
            return T.stack([size])
        raise ValueError(f"{what}: a symbolic size must be a vector, got {size.type}")
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        size = (int(size),)
    if not isinstance(size, (tuple, list)):
        raise TypeError(f"{what}: size must be a tuple of ints or a symbolic vector, got "
                        f"{type(size).__name__} {size!r}")
    out = []
    for s in size:
        if isinstance(s, Variable):
            if s.type.ndim != 0:
                raise ValueError(f"{what}: a symbolic entry of size must be a scalar: {size}")
            out.append(s)
        elif isinstance(s, (int, np.integer)) and not isinstance(s, bool):
            if s <= 0:
                raise ValueError(f"{what}: the size {tuple(size)} contains a dimension "
                                 f"<= 0")
            out.append(int(s))
        else:
            raise TypeError(f"{what}: size entries must be ints or symbolic scalars, got "
                            f"{s!r}")
    return tuple(out)


class MRG_RandomStreams:
    """Theano's ``MRG_RandomStreams(seed=12345)``: random variables from MRG31k3p
    streams (``uniform``, ``normal``, ``truncated_normal``, ``binomial`` with ``n=1``,
    ``multinomial``, ``choice`` without replacement). Each method makes a shared state
    updated after each call of a compiled function (``default_update``).

    ``seed``: an int in ``[1, M2)`` (repeated 6 times) or 6 ints (the first 3 below
    ``M1`` and not all 0, the last 3 below ``M2`` and not all 0).
    """

    def __init__(self, seed=12345):
        self.state_updates = []
        self.default_instance_seed = seed
        self.set_rstate(seed)

    def updates(self):
        return list(self.state_updates)

    def set_rstate(self, seed):
        if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
            if seed == 0:
                raise ValueError("MRG_RandomStreams: seed should not be 0")
            if seed < 0 or seed >= M2:
                raise ValueError(f"MRG_RandomStreams: seed should be in [1, {M2}), got {seed}")
            self.rstate = np.asarray([seed] * 6, dtype="int32")
        elif isinstance(seed, (list, tuple, np.ndarray)) and len(seed) == 6:
            s = [int(v) for v in seed]
            if s[:3] == [0, 0, 0] or s[3:] == [0, 0, 0]:
                raise ValueError("MRG_RandomStreams: the first 3 and the last 3 values of "
                                 "seed should not be all 0")
            if any(not 0 <= v < M1 for v in s[:3]) or any(not 0 <= v < M2 for v in s[3:]):
                raise ValueError(f"MRG_RandomStreams: the first 3 values of seed must be in "
                                 f"[0, {M1}) and the last 3 in [0, {M2})")
            self.rstate = np.asarray(s, dtype="int32")
        else:
            raise TypeError(f"MRG_RandomStreams: seed should be 1 integer or 6 integers, got "
                            f"{seed!r}")

    def seed(self, seed=None):
        """Re-seed: every random variable made so far restarts its streams as if this
        object had just been created with ``seed``."""
        if seed is None:
            seed = self.default_instance_seed
        self.set_rstate(seed)
        for old_r, new_r, size, nstreams in self.state_updates:
            n = nstreams if nstreams is not None else self.n_streams(size)
            old_r.set_value(self.get_substream_rstates(n, "float32"), borrow=True)

    def inc_rstate(self):
        """Jump this object's state ``2^134`` steps (the start of the next stream)."""
        self.rstate = ff_2p134(self.rstate)

    def get_substream_rstates(self, n_streams, dtype=None, inc_rstate=True):
        """``(n_streams, 6)`` int32 states spaced ``2^72`` steps apart from this object's
        state (which then jumps to the next stream)."""
        n_streams = int(n_streams)
        if not 0 < n_streams < 2 ** 72:
            raise ValueError(f"MRG_RandomStreams: nstreams must be positive, got {n_streams}")
        # exact Python-int arithmetic: faster than numpy on these small 3x3 products
        a1 = A1P72.tolist()
        a2 = A2P72.tolist()
        v = [int(x) for x in self.rstate]
        rows = [v]
        for _ in range(1, n_streams):
            t, b = v[:3], v[3:]
            v = [(r[0] * t[0] + r[1] * t[1] + r[2] * t[2]) % M1 for r in a1] + \
                [(r[0] * b[0] + r[1] * b[1] + r[2] * b[2]) % M2 for r in a2]
            rows.append(v)
        rval = np.array(rows, dtype="int32")
        if inc_rstate:
            self.inc_rstate()
        return rval

    def n_streams(self, size):
        return guess_n_streams(size)

    def _uniform01(self, size, ndim, dtype, nstreams):
        import symgraph.tensor as T
        from symgraph.compile.shared import shared

        orig_nstreams = nstreams
        if nstreams is None:
            nstreams = self.n_streams(size)
        rstates = self.get_substream_rstates(nstreams, dtype)
        state = shared(rstates, name="mrg_rstate")
        if isinstance(size, Variable):
            size_v = size
            if ndim is None:
                from symgraph.tensor.shape_ops import get_vector_length

                ndim = get_vector_length(size)
            bcast = (False,) * ndim
        else:
            size_v = T.stack([T.cast(s, "int64") for s in size]) if any(
                isinstance(s, Variable) for s in size) else T.constant(
                np.asarray(size, dtype="int64"))
            if ndim is not None and ndim != len(size):
                raise ValueError(f"MRG_RandomStreams: ndim={ndim} but size {size} has "
                                 f"{len(size)} entries")
            ndim = len(size)
            bcast = tuple(isinstance(s, int) and s == 1 for s in size)
        new_state, u = MRGUniform(dtype, ndim, bcast)(state, size_v)
        state.default_update = new_state
        state.tag.is_rng = True
        u.rstate = state
        u.update = (state, new_state)
        self.state_updates.append((state, new_state, size, orig_nstreams))
        return u

    def uniform(self, size, low=0.0, high=1.0, ndim=None, dtype=None, nstreams=None,
                **kwargs):
        """Uniform samples in ``(low, high)``; ``dtype`` defaults to floatX (wider if
        ``low``/``high`` are wider tensors)."""
        if kwargs:
            raise TypeError(f"uniform() got unexpected keyword arguments {sorted(kwargs)}")
        if dtype is None:
            dtype = _upcast_dtype(low, high)
        if dtype not in FLOAT_DTYPES:
            raise TypeError(f"MRG_RandomStreams.uniform: dtype must be float32 or float64, "
                            f"got {dtype}")
        size = _check_size(size, "MRG_RandomStreams.uniform")
        low, high = _param(low, dtype), _param(high, dtype)
        u = self._uniform01(size, ndim, dtype, nstreams)
        r = u * (high - low) + low
        if r.type.broadcastable != u.type.broadcastable:
            raise NotImplementedError("MRG_RandomStreams.uniform: increase the size to match "
                                      "the broadcasting pattern of low and high")
        r.rstate, r.update = u.rstate, u.update
        return r

    def binomial(self, size=None, n=1, p=0.5, ndim=None, dtype="int64", nstreams=None,
                 **kwargs):
        """0/1 samples with probability ``p`` (only ``n=1``, as Theano's)."""
        from symgraph.tensor.math import cast, lt

        if n != 1:
            raise NotImplementedError("MRG_RandomStreams.binomial with n > 1")
        p = _param(p, _upcast_dtype(p))
        x = self.uniform(size=size, ndim=ndim, nstreams=nstreams, **kwargs)
        return cast(lt(x, p), dtype)

    def normal(self, size, avg=0.0, std=1.0, ndim=None, dtype=None, nstreams=None,
               truncate=False, **kwargs):
        """Normal samples (Box-Muller on an even number of uniforms, Theano's layout:
        the first half gives the radii, the second the angles); ``truncate=True``
        redraws the samples outside 2 standard deviations."""
        import symgraph.tensor as T

        size_v = _size_vector(_check_size(size, "MRG_RandomStreams.normal"))
        if dtype is None:
            dtype = _upcast_dtype(avg, std)
        avg, std = _param(avg, dtype), _param(std, dtype)
        n_odd = T.prod(size_v, dtype="int64")
        n_even = n_odd + n_odd % 2
        uniform = self.uniform((n_even,), low=0.0, high=1.0, ndim=1, dtype=dtype,
                               nstreams=nstreams, **kwargs)
        u1 = uniform[:n_even // 2]
        u2 = uniform[n_even // 2:]
        r = T.sqrt(-2.0 * T.log(u1))
        theta = T.constant(np.asarray(2.0 * np.pi, dtype=dtype)) * u2
        cos_t, sin_t = T.cos(theta), T.sin(theta)
        z0, z1 = r * cos_t, r * sin_t
        if truncate:
            fix0 = T.or_(T.lt(z0, -2.0), T.gt(z0, 2.0))
            fix1 = T.or_(T.lt(z1, -2.0), T.gt(z1, 2.0))
            z0_ok = z0[T.nonzero(T.invert(fix0))]
            z1_ok = z1[T.nonzero(T.invert(fix1))]
            i0 = T.nonzero(fix0)[0]
            i1 = T.nonzero(fix1)[0]
            n_fix = i0.shape[0] + i1.shape[0]
            lower = T.constant(np.asarray(1.0 / np.e ** 2, dtype=dtype))
            u_fix = self.uniform((n_fix,), low=lower, high=1.0, ndim=1, dtype=dtype,
                                 nstreams=nstreams, **kwargs)
            r_fix = T.sqrt(-2.0 * T.log(u_fix))
            z0_fix = r_fix[:i0.shape[0]] * cos_t[i0]
            z1_fix = r_fix[i0.shape[0]:] * sin_t[i1]
            samples = T.join(0, z0_ok, z0_fix, z1_ok, z1_fix)
        else:
            samples = T.join(0, z0, z1)
        samples = T.reshape(samples[:n_odd], size_v, ndim=ndim)
        return samples * std + avg

    def truncated_normal(self, size, avg=0.0, std=1.0, ndim=None, dtype=None, nstreams=None,
                         **kwargs):
        """Normal samples truncated at 2 standard deviations, rescaled so ``std`` is the
        standard deviation of the result."""
        std = std / 0.87962566103423978   # scipy.stats.truncnorm.std(-2, 2)
        return self.normal(size=size, avg=avg, std=std, truncate=True, ndim=ndim,
                           dtype=dtype, nstreams=nstreams, **kwargs)

    def multinomial(self, size=None, n=1, pvals=None, ndim=None, dtype="int64",
                    nstreams=None, **kwargs):
        """Counts of ``n`` draws from each row of the matrix ``pvals`` (Theano's: no
        ``size``/``ndim``; rows need not be normalized, nothing is checked)."""
        from symgraph.tensor.categorical import MultinomialFromUniform

        if pvals is None:
            raise TypeError("MRG_RandomStreams.multinomial: pvals is required")
        if size is not None:
            raise ValueError("MRG_RandomStreams.multinomial does not use the size argument")
        if ndim is not None:
            raise ValueError("MRG_RandomStreams.multinomial does not use the ndim argument")
        pvals = _param(pvals, _upcast_dtype(pvals))
        if pvals.type.ndim != 2:
            raise NotImplementedError("MRG_RandomStreams.multinomial is only implemented for "
                                      "a matrix of pvals")
        unis = self.uniform(size=(pvals.shape[0] * n,), ndim=1, nstreams=nstreams, **kwargs)
        return MultinomialFromUniform(dtype)(pvals, unis, as_tensor_variable(n))

    def choice(self, size=1, a=None, replace=True, p=None, ndim=None, dtype="int64",
               nstreams=None, **kwargs):
        """``size`` distinct indices per row of the matrix ``p`` (without replacement:
        Theano implements only ``replace=False``; ``a`` must be None)."""
        from symgraph.tensor.categorical import ChoiceFromUniform

        if replace:
            raise NotImplementedError("MRG_RandomStreams.choice only works without "
                                      "replacement (replace=False)")
        if a is not None:
            raise TypeError("MRG_RandomStreams.choice: a must be None (values are drawn from "
                            "0 .. p.shape[1] - 1)")
        if p is None:
            raise TypeError("MRG_RandomStreams.choice: p is required")
        if ndim is not None:
            raise ValueError("MRG_RandomStreams.choice does not use the ndim argument")
        p = _param(p, _upcast_dtype(p))
        if p.type.ndim != 2:
            raise NotImplementedError("MRG_RandomStreams.choice is only implemented for a "
                                      "matrix p")
        unis = self.uniform(size=(p.shape[0] * size,), ndim=1, nstreams=nstreams, **kwargs)
        return ChoiceFromUniform(dtype)(p, unis, as_tensor_variable(size))

    def multinomial_wo_replacement(self, size=None, n=1, pvals=None, ndim=None,
                                   dtype="int64", nstreams=None, **kwargs):
        warnings.warn("MRG_RandomStreams.multinomial_wo_replacement is deprecated (as in "
                      "Theano); use choice(size=n, replace=False, p=pvals)", stacklevel=2)
        if size is not None:
            raise ValueError("multinomial_wo_replacement does not use the size argument")
        return self.choice(size=n, a=None, replace=False, p=pvals, dtype=dtype,
                           nstreams=nstreams, ndim=ndim, **kwargs)


def _size_vector(size):
    import symgraph.tensor as T

    if isinstance(size, Variable):
        return size
    if any(isinstance(s, Variable) for s in size):
        return T.stack([T.cast(s, "int64") for s in size])
    return T.constant(np.asarray(size, dtype="int64"))

