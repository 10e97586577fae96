"""Numba generators for ``symgraph.tensor.nlinalg``/``slinalg``: MatrixInverse, Det,
Eigh, Cholesky, Solve -- Numba's LAPACK-backed ``np.linalg`` (the same routines numpy
calls). Errors keep the py backend's types: LinAlgError for singular / non-positive-
definite matrices, ValueError for shapes."""
from __future__ import annotations

from symgraph.link.numba.dispatch import NumbaCode, indent, np_dtype, numba_impl
from symgraph.tensor.nlinalg import Det, Eigh, MatrixInverse
from symgraph.tensor.slinalg import Cholesky, Solve


def _square(op):
    msg = repr(f"{op}: the matrix must be square")
    return f"if x.shape[0] != x.shape[1]: raise ValueError({msg})"


def _fn(ctx, params, lines):
    return NumbaCode(f"def {ctx.name}({', '.join(params)}):\n" + indent("\n".join(lines)))


@numba_impl.register(MatrixInverse)
def numba_inverse(op, node, ctx):
    return _fn(ctx, ["x"], [_square("matrix_inverse"),
                            "return np.linalg.inv(np.ascontiguousarray(x))"])


@numba_impl.register(Det)
def numba_det(op, node, ctx):
    return _fn(ctx, ["x"], [_square("det"), "return np.linalg.det(np.ascontiguousarray(x))"])


@numba_impl.register(Eigh)
def numba_eigh(op, node, ctx):
    # Numba's eigh reads the lower triangle: the upper one is the transpose's lower one
    src = "x" if op.UPLO == "L" else "x.T"
    return _fn(ctx, ["x"], [_square("eigh"),
                            f"return np.linalg.eigh(np.ascontiguousarray({src}))"])


@numba_impl.register(Cholesky)
def numba_cholesky(op, node, ctx):
    dt = np_dtype(node.outputs[0].type.dtype)
    src = "x" if op.lower else "x.T"   # the upper factor reads the upper triangle
    lines = [_square("cholesky"), f"a = np.ascontiguousarray({src})", "ok = True"]
    # positive definiteness is checked first so the error path is an ordinary raise
    # (Numba's own LinAlgError message does not name the op)
    lines += ["n = a.shape[0]",
              "for i in range(n):",
              "    if not a[i, i] > 0: ok = False"]
    lines += ["if ok:",
              "    try:",
              "        z = np.linalg.cholesky(a)",
              "    except Exception:",
              "        ok = False"]
    if op.on_error == "nan":
        lines += ["if not ok:", f"    return np.full(a.shape, np.nan, dtype={dt})"]
    else:
        lines += ["if not ok:",
                  "    raise np.linalg.LinAlgError("
                  + repr("cholesky: the matrix is not positive definite") + ")"]
    lines.append("return z" if op.lower else "return np.ascontiguousarray(z.T)")
    return _fn(ctx, ["x"], lines)


@numba_impl.register(Solve)
def numba_solve(op, node, ctx):
    dt = np_dtype(node.outputs[0].type.dtype)
    a = {"lower_triangular": "np.tril(a)", "upper_triangular": "np.triu(a)"}.get(
        op.A_structure, "a")
    lines = ["if a.shape[0] != a.shape[1]: raise ValueError("
             + repr(f"{op}: the matrix must be square") + ")",
             "if b.shape[0] != a.shape[0]: raise ValueError("
             + repr(f"{op}: b's first dimension must match A") + ")",
             f"aa = np.ascontiguousarray({a}).astype({dt})",
             f"return np.linalg.solve(aa, np.ascontiguousarray(b).astype({dt}))"]
    return _fn(ctx, ["a", "b"], lines)
