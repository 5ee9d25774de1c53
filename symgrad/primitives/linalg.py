"""Linear algebra primitives: Cholesky, triangular and general solves, log-determinant (eigh, svd, eig: `spectral`).

Each works on stacks of matrices (leading batch axes), as NumPy's `linalg`
does, and declares a JVP by the matrix-calculus rule (JAX's
`lax/linalg.py` derives the same); VJPs are written out where they are
short (solves, slogdet) and otherwise obtained by transposing the JVP
(`vjp_by_transposing`: reverse mode through the JVP graph, which is linear in the
tangent). Outputs with several parts are one array, sliced by the NumPy
functions of `symgrad.linalg`: `eigh` is `[w; V]` of shape (..., n+1, n),
`svd` `[U; s; V]` of shape (..., m+1+n, k), `slogdet` `[sign, log|det|]`.

Like NumPy's, `cholesky` and `eigh` read the lower triangle only: their
rules differentiate along it (a tangent of the upper triangle has no
effect), so derivatives match finite differences of NumPy's functions in
any direction. A failure (a matrix that is not positive definite, a
singular solve, no convergence) gives NaN, never an exception, in compiled
code and in the reference evaluation alike.

Lowering: the loop lowering calls LAPACK (`symgrad.codegen.lapack`); the
scalar lowering unrolls the algorithms where that is exact and short
(Cholesky and triangular solves of any size, solves and determinants up
to 3x3 by cofactors) and otherwise declares itself not scalarisable
(`scalar_cost` infinite), which sends the graph to the loop lowering.
"""

from __future__ import annotations

import math

import numpy as np

from ..ir import Node
from . import elementwise as E
from .layout import _make, broadcast_in_dim, broadcast_to, concatenate, reshape, slice_
from .matrices import (
    batched,
    check_rhs,
    check_square,
    diagonal,
    each_matrix,
    eye,
    from_lower,
    matmul,
    mT,
    object_array,
    quietly,
    tril,
    triu,
    vjp_by_transposing,
)
from .reduce import array_const, reduce_sum
from .registry import Primitive, const

# ----- cholesky -----


def cholesky(a: Node) -> Node:
    """The lower Cholesky factor L (L L^T = A) of each matrix; the lower triangle of A is read."""
    check_square("cholesky", a)
    return _make(cholesky_p, (a,), None, a.shape)


def _cholesky_jvp(node: Node, ts) -> Node | None:
    # dL = L Φ(L^-1 dA L^-T), Φ taking the lower triangle with the diagonal halved (dA symmetric: its lower
    # triangle, mirrored).
    if ts[0] is None:
        return None
    L, n = node, node.shape[-1]
    inner = triangular_solve(L, mT(triangular_solve(L, from_lower(ts[0]), lower=True)), lower=True)
    phi = E.mul(inner, array_const(np.tril(np.ones((n, n)), -1) + 0.5 * np.eye(n), "phi"))
    return matmul(L, phi)


def _cholesky_objects(node: Node, a: np.ndarray) -> np.ndarray:
    # Cholesky-Banachiewicz, row by row (a square root of a negative number is NaN: not positive definite).
    n = a.shape[-1]
    out = object_array(a.shape)
    out.fill(const(0.0))
    for index in each_matrix(a):
        A, L = a[index], out[index]
        positive = const(1.0)
        for i in range(n):
            for j in range(i + 1):
                s = A[i, j]
                for k in range(j):
                    s = E.sub(s, E.mul(L[i, k], L[j, k]))
                if i == j:
                    positive = E.logical_and_p.bind(positive, E.greater(s, 0.0))
                L[i, j] = E.sqrt(s) if i == j else E.div(s, L[j, j])
        # Not positive definite: NaN throughout, as LAPACK's failure gives.
        out[index] = np.vectorize(lambda v, ok=positive: E.where(ok, v, math.nan), otypes=[object])(L)
    return out


cholesky_p = Primitive(
    "cholesky", 1,
    build=lambda param, a: cholesky(a),
    impl=lambda node, a: quietly(lambda m: np.linalg.cholesky(m), np.asarray(a), shape=node.shape),
    jvp=_cholesky_jvp, vjp=vjp_by_transposing, scalarize=_cholesky_objects, batch=batched,
)

# ----- triangular_solve -----


def triangular_solve(a: Node, b: Node, lower: bool = True, transpose_a: bool = False) -> Node:
    """X with op(A) X = B, A triangular (only that triangle is read); op is the transpose when `transpose_a`."""
    check_square("triangular_solve", a)
    check_rhs("triangular_solve", a, b)
    return _make(triangular_solve_p, (a, b), (bool(lower), bool(transpose_a)), b.shape)


def _triangle(a: Node, lower: bool) -> Node:
    return tril(a) if lower else triu(a)


def _op(a: Node, transpose_a: bool) -> Node:
    return mT(a) if transpose_a else a


def _triangular_jvp(node: Node, ts) -> Node | None:
    # op(A) X = B: op(A) dX = dB - op(dA) X
    a, b = node.args
    lower, transpose_a = node.param
    rhs = ts[1]
    if ts[0] is not None:
        change = matmul(_op(_triangle(ts[0], lower), transpose_a), node)
        rhs = E.neg(change) if rhs is None else E.sub(rhs, change)
    return None if rhs is None else triangular_solve(a, rhs, lower, transpose_a)


def _triangular_vjp(ct: Node, node: Node, i: int) -> Node:
    a, _ = node.args
    lower, transpose_a = node.param
    ct_b = triangular_solve(a, ct, lower, not transpose_a)
    if i == 1:
        return ct_b
    # d<ct, X> along A: -<ct_b, op(dA) X>, so the cotangent of op(A) is -ct_b X^T (on the triangle read).
    product = matmul(node, mT(ct_b)) if transpose_a else matmul(ct_b, mT(node))
    return E.neg(_triangle(product, lower))


def _triangular_objects(node: Node, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lower, transpose_a = node.param
    n = a.shape[-1]
    out = object_array(b.shape)
    for index in each_matrix(a):
        A, B, X = a[index], b[index], out[index]
        M = A.T if transpose_a else A
        forward = lower != transpose_a  # op(A) lower triangular: solve from the top
        rows = range(n) if forward else range(n - 1, -1, -1)
        for i in rows:
            others = range(i) if forward else range(i + 1, n)
            for c in range(B.shape[-1]):
                s = B[i, c]
                for k in others:
                    s = E.sub(s, E.mul(M[i, k], X[k, c]))
                X[i, c] = E.div(s, M[i, i])
    return out


def _triangular_impl(node: Node, a, b):
    lower, transpose_a = node.param
    a = np.tril(a) if lower else np.triu(a)
    a = np.swapaxes(a, -1, -2) if transpose_a else a
    return quietly(np.linalg.solve, a, np.asarray(b), shape=node.shape)


triangular_solve_p = Primitive(
    "triangular_solve", 2,
    build=lambda param, a, b: triangular_solve(a, b, *param),
    impl=_triangular_impl, jvp=_triangular_jvp, vjp=_triangular_vjp, scalarize=_triangular_objects,
    batch=batched,
)

# ----- solve (LU with partial pivoting) -----


def solve(a: Node, b: Node) -> Node:
    """X with A X = B, for stacks of square A (..., n, n) and B (..., n, k)."""
    check_square("solve", a)
    check_rhs("solve", a, b)
    return _make(solve_p, (a, b), None, b.shape)


def _solve_jvp(node: Node, ts) -> Node | None:
    # A X = B: A dX = dB - dA X
    a, _ = node.args
    rhs = ts[1]
    if ts[0] is not None:
        change = matmul(ts[0], node)
        rhs = E.neg(change) if rhs is None else E.sub(rhs, change)
    return None if rhs is None else solve(a, rhs)


def _solve_vjp(ct: Node, node: Node, i: int) -> Node:
    ct_b = solve(mT(node.args[0]), ct)
    return ct_b if i == 1 else E.neg(matmul(ct_b, mT(node)))


def _cofactors(A: np.ndarray) -> tuple[Node, np.ndarray]:
    """det(A) and the adjugate of a 1x1, 2x2 or 3x3 object matrix."""
    n = A.shape[0]
    adj = object_array((n, n))
    if n == 1:
        adj[0, 0] = const(1.0)
        return A[0, 0], adj
    if n == 2:
        adj[0, 0], adj[0, 1], adj[1, 0], adj[1, 1] = A[1, 1], E.neg(A[0, 1]), E.neg(A[1, 0]), A[0, 0]
        return E.sub(E.mul(A[0, 0], A[1, 1]), E.mul(A[0, 1], A[1, 0])), adj
    for i in range(3):
        for j in range(3):
            r = [k for k in range(3) if k != j]
            c = [k for k in range(3) if k != i]
            minor = E.sub(E.mul(A[r[0], c[0]], A[r[1], c[1]]), E.mul(A[r[0], c[1]], A[r[1], c[0]]))
            adj[i, j] = minor if (i + j) % 2 == 0 else E.neg(minor)
    det = E.add(E.add(E.mul(A[0, 0], adj[0, 0]), E.mul(A[0, 1], adj[1, 0])), E.mul(A[0, 2], adj[2, 0]))
    return det, adj


def _solve_objects(node: Node, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = object_array(b.shape)
    for index in each_matrix(a):
        det, adj = _cofactors(a[index])
        product = adj @ b[index]
        # A singular matrix gives NaN (as LAPACK's failure), not the infinities of dividing by 0.
        out[index] = np.vectorize(lambda v, det=det: E.where(E.equal(det, 0.0), math.nan, E.div(v, det)),
                                  otypes=[object])(product)
    return out


solve_p = Primitive(
    "solve", 2,
    build=lambda param, a, b: solve(a, b),
    impl=lambda node, a, b: quietly(np.linalg.solve, np.asarray(a), np.asarray(b), shape=node.shape),
    jvp=_solve_jvp, vjp=_solve_vjp, scalarize=_solve_objects, batch=batched,
)

# ----- slogdet -----


def slogdet(a: Node) -> Node:
    """`[sign, log|det|]` of each matrix: shape (..., 2)."""
    check_square("slogdet", a)
    return _make(slogdet_p, (a,), None, (*a.shape[:-2], 2))


def _slogdet_jvp(node: Node, ts) -> Node | None:
    # d log|det A| = tr(A^-1 dA); the sign is piecewise constant.
    if ts[0] is None:
        return None
    trace = reduce_sum(diagonal(solve(node.args[0], ts[0])), (node.ndim - 1,))
    zero = broadcast_to(const(0.0), trace.shape)
    return concatenate([reshape(zero, (*trace.shape, 1)), reshape(trace, (*trace.shape, 1))], node.ndim - 1)


def _slogdet_vjp(ct: Node, node: Node, i: int) -> Node:
    # the cotangent of log|det A| times A^-T
    a = node.args[0]
    n = a.shape[-1]
    weight = slice_(ct, (0,) * (ct.ndim - 1) + (1,), (*ct.shape[:-1], 2))
    inverse = solve(a, broadcast_to(eye(n), a.shape))
    return E.mul(broadcast_in_dim(weight, a.shape, (*range(ct.ndim - 1), ct.ndim - 1)), mT(inverse))


def _slogdet_objects(node: Node, a: np.ndarray) -> np.ndarray:
    out = object_array(node.shape)
    for index in each_matrix(a):
        det, _ = _cofactors(a[index])
        out[index] = [E.sign(det), E.log(E.absolute(det))]
    return out


def _slogdet_impl(node: Node, a):
    sign, logdet = np.linalg.slogdet(np.asarray(a))
    return np.stack([sign, logdet], axis=-1)


slogdet_p = Primitive(
    "slogdet", 1,
    build=lambda param, a: slogdet(a), impl=_slogdet_impl,
    jvp=_slogdet_jvp, vjp=_slogdet_vjp, scalarize=_slogdet_objects, batch=batched,
)


def scalar_cost(node: Node) -> float:
    """Scalar operations of the unrolled form of a linear algebra node, or inf where there is none."""
    name = node.op.name
    n = node.args[0].shape[-1]
    count = math.prod(node.args[0].shape[:-2])
    if name == "cholesky":
        return count * (n**3 / 3 + n * n)
    if name == "triangular_solve":
        return count * n * n * node.shape[-1]
    if name in ("solve", "slogdet") and n <= 3:
        return count * (30 + 2 * n * (node.shape[-1] if name == "solve" else 1))
    return math.inf


# The factorisations and solves (the spectral decompositions are in `spectral`).
FACTORISATIONS = (cholesky_p, triangular_solve_p, solve_p, slogdet_p)
