"""Linear algebra primitives: Cholesky, triangular and general solves, log-determinant, eigh, svd, eig.

Each works on stacks of matrices (leading batch axes), as NumPy's `linalg`
does, and declares a JVP by the matrix-calculus rule (JAX's
`lax/linalg.py` derives the same); VJPs are written out where they are
short (solves, slogdet) and otherwise obtained by transposing the JVP
(`_transposed`: reverse mode through the JVP graph, which is linear in the
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
from collections.abc import Sequence

import numpy as np

from ..ir import Node
from . import elementwise as E
from .layout import _make, broadcast_in_dim, broadcast_to, concatenate, gather, reshape, slice_, transpose
from .reduce import LABELS, array_const, dot_general, reduce_sum
from .registry import Primitive, const

# ----- Array helpers (builders of other primitives) -----


def mT(x: Node) -> Node:  # noqa: N802  (NumPy's name)
    """The matrix transpose of the last two axes."""
    return transpose(x, (*range(x.ndim - 2), x.ndim - 1, x.ndim - 2))


def matmul(x: Node, y: Node) -> Node:
    """`x @ y` of stacks with the same batch axes."""
    b = LABELS[:x.ndim - 2]
    return dot_general(x, y, (b + "xy", b + "yz", b + "xz"))


def eye(n: int) -> Node:
    return array_const(np.eye(n), f"I{n}")


def _mask(n: int, k: int = 0, upper: bool = False) -> Node:
    values = np.triu(np.ones((n, n)), k) if upper else np.tril(np.ones((n, n)), k)
    return array_const(values, "triu" if upper else "tril")


def tril(x: Node, k: int = 0) -> Node:
    return E.where(_mask(x.shape[-1], k), x, 0.0)


def triu(x: Node, k: int = 0) -> Node:
    return E.where(_mask(x.shape[-1], k, upper=True), x, 0.0)


def diagonal(x: Node) -> Node:
    """The diagonal of each matrix: (..., n, n) -> (..., n)."""
    n = x.shape[-1]
    flat = reshape(x, (*x.shape[:-2], n * n))
    return gather(flat, np.arange(n) * (n + 1), flat.ndim - 1)


def diag_embed(v: Node) -> Node:
    """Matrices with `v` on the diagonal: (..., n) -> (..., n, n)."""
    n = v.shape[-1]
    rows = broadcast_in_dim(v, (*v.shape[:-1], n, n), (*range(v.ndim - 1), v.ndim))
    return E.where(eye(n), rows, 0.0)


def from_lower(x: Node) -> Node:
    """The symmetric matrix whose lower triangle is that of `x` (what NumPy's cholesky and eigh read)."""
    return E.add(tril(x), mT(tril(x, -1)))


def _from_lower_transposed(ct: Node) -> Node:
    # The adjoint of from_lower: <G, tril(X) + tril(X, -1)^T> = <tril(G) + tril(G^T, -1), X>.
    return E.add(tril(ct), tril(mT(ct), -1))


def _batch_of(*shapes: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(shapes[0][:-2])


def _transposed(ct: Node, node: Node, i: int) -> Node | None:
    """The VJP of operand i as the transpose of the JVP (reverse mode through the JVP, linear in its tangent)."""
    from ..diff.reverse import vjp
    from .registry import symbol

    t = symbol(f"_tangent_{node.op.name}_{i}", -3, node.args[i].shape)
    out = node.op.jvp(node, [t if k == i else None for k in range(len(node.args))])
    if out is None:
        return None
    return vjp([out], [ct], [t])[0]


def _batched(node: Node, args: Sequence[Node], batched: Sequence[bool]) -> Node:
    size = next(a.shape[0] for a, b in zip(args, batched) if b)
    args = [a if b else broadcast_to(a, (size, *a.shape)) for a, b in zip(args, batched)]
    return node.op.build(node.param, *args)


def _objects(shape) -> np.ndarray:
    return np.empty(shape, dtype=object)


def _each_matrix(*arrays: np.ndarray):
    """The index of each matrix of the stacks (their common leading axes)."""
    return np.ndindex(*arrays[0].shape[:-2])


def _quietly(function, *arrays: np.ndarray, shape) -> np.ndarray:
    """`function` of each matrix of the stacks (NaN where NumPy raises LinAlgError)."""
    out = np.empty(shape)
    for index in _each_matrix(*arrays):
        try:
            out[index] = function(*(a[index] for a in arrays))
        except np.linalg.LinAlgError:
            out[index] = np.nan
    return out


# ----- cholesky -----


def cholesky(a: Node) -> Node:
    """The lower Cholesky factor L (L L^T = A) of each matrix; the lower triangle of A is read."""
    _check_square("cholesky", a)
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
    out = _objects(a.shape)
    out.fill(const(0.0))
    for index in _each_matrix(a):
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
    impl=lambda node, a: _quietly(lambda m: np.linalg.cholesky(m), np.asarray(a), shape=node.shape),
    jvp=_cholesky_jvp, vjp=_transposed, scalarize=_cholesky_objects, batch=_batched,
)

# ----- triangular_solve -----


def triangular_solve(a: Node, b: Node, lower: bool = True, transpose_a: bool = False) -> Node:
    """X with op(A) X = B, A triangular (only that triangle is read); op is the transpose when `transpose_a`."""
    _check_square("triangular_solve", a)
    _check_rhs("triangular_solve", a, b)
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
    out = _objects(b.shape)
    for index in _each_matrix(a):
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
    return _quietly(np.linalg.solve, a, np.asarray(b), shape=node.shape)


triangular_solve_p = Primitive(
    "triangular_solve", 2,
    build=lambda param, a, b: triangular_solve(a, b, *param),
    impl=_triangular_impl, jvp=_triangular_jvp, vjp=_triangular_vjp, scalarize=_triangular_objects,
    batch=_batched,
)

# ----- solve (LU with partial pivoting) -----


def solve(a: Node, b: Node) -> Node:
    """X with A X = B, for stacks of square A (..., n, n) and B (..., n, k)."""
    _check_square("solve", a)
    _check_rhs("solve", a, b)
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
    adj = _objects((n, n))
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
    out = _objects(b.shape)
    for index in _each_matrix(a):
        det, adj = _cofactors(a[index])
        product = adj @ b[index]
        # A singular matrix gives NaN (as LAPACK's failure), not the infinities of dividing by 0.
        out[index] = np.vectorize(lambda v, det=det: E.where(E.equal(det, 0.0), math.nan, E.div(v, det)),
                                  otypes=[object])(product)
    return out


solve_p = Primitive(
    "solve", 2,
    build=lambda param, a, b: solve(a, b),
    impl=lambda node, a, b: _quietly(np.linalg.solve, np.asarray(a), np.asarray(b), shape=node.shape),
    jvp=_solve_jvp, vjp=_solve_vjp, scalarize=_solve_objects, batch=_batched,
)

# ----- slogdet -----


def slogdet(a: Node) -> Node:
    """`[sign, log|det|]` of each matrix: shape (..., 2)."""
    _check_square("slogdet", a)
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
    out = _objects(node.shape)
    for index in _each_matrix(a):
        det, _ = _cofactors(a[index])
        out[index] = [E.sign(det), E.log(E.absolute(det))]
    return out


def _slogdet_impl(node: Node, a):
    sign, logdet = np.linalg.slogdet(np.asarray(a))
    return np.stack([sign, logdet], axis=-1)


slogdet_p = Primitive(
    "slogdet", 1,
    build=lambda param, a: slogdet(a), impl=_slogdet_impl,
    jvp=_slogdet_jvp, vjp=_slogdet_vjp, scalarize=_slogdet_objects, batch=_batched,
)

# ----- eigh -----


def eigh(a: Node) -> Node:
    """Eigenvalues (ascending) and eigenvectors of each symmetric matrix (its lower triangle is read), packed as
    `[w; V]`, shape (..., n+1, n): row 0 holds w, rows 1.. the matrix V whose columns are the eigenvectors."""
    _check_square("eigh", a)
    n = a.shape[-1]
    return _make(eigh_p, (a,), None, (*a.shape[:-2], n + 1, n))


def eigh_parts(node: Node) -> tuple[Node, Node]:
    """(w, V) of a packed `eigh` node."""
    n = node.shape[-1]
    batch = node.shape[:-2]
    lead = (0,) * len(batch)
    w = reshape(slice_(node, (*lead, 0, 0), (*batch, 1, n)), (*batch, n))
    return w, slice_(node, (*lead, 1, 0), (*batch, n + 1, n))


def _gaps(w: Node) -> Node:
    """F[i, j] = 1/(w_j - w_i) off the diagonal, 0 on it (the mixing of eigenvectors by a perturbation)."""
    n = w.shape[-1]
    shape = (*w.shape, n)
    rows = broadcast_in_dim(w, shape, (*range(w.ndim - 1), w.ndim - 1))
    columns = broadcast_in_dim(w, shape, (*range(w.ndim - 1), w.ndim))
    return E.where(eye(n), 0.0, E.div(1.0, E.sub(columns, rows)))


def _eigh_jvp(node: Node, ts) -> Node | None:
    # With M = V^T dA V: dw = diag(M), dV = V (F ∘ M).
    if ts[0] is None:
        return None
    w, v = eigh_parts(node)
    m = matmul(mT(v), matmul(from_lower(ts[0]), v))
    dw = diagonal(m)
    dv = matmul(v, E.mul(_gaps(w), m))
    return concatenate([reshape(dw, (*dw.shape[:-1], 1, dw.shape[-1])), dv], node.ndim - 2)


def _eigh_impl(node: Node, a):
    a = np.asarray(a)
    out = np.full(node.shape, np.nan)
    for index in _each_matrix(a):
        try:
            w, v = np.linalg.eigh(a[index])
        except np.linalg.LinAlgError:
            continue
        out[index] = np.concatenate([w[None, :], v], axis=0)
    return out


eigh_p = Primitive(
    "eigh", 1,
    build=lambda param, a: eigh(a), impl=_eigh_impl, jvp=_eigh_jvp, vjp=_transposed, batch=_batched,
)

# ----- svd (reduced) -----


def svd(a: Node) -> Node:
    """The reduced SVD A = U diag(s) V^T of each (m, n) matrix, k = min(m, n), packed as `[U; s; V]`:
    shape (..., m+1+n, k); s descending."""
    if a.ndim < 2:
        raise ValueError(f"svd needs a matrix (or a stack of them), got shape {a.shape}")
    m, n = a.shape[-2:]
    return _make(svd_p, (a,), None, (*a.shape[:-2], m + 1 + n, min(m, n)))


def svd_parts(node: Node) -> tuple[Node, Node, Node]:
    """(U, s, V) of a packed `svd` node."""
    a = node.args[0]
    m, n = a.shape[-2:]
    k = node.shape[-1]
    batch = node.shape[:-2]
    lead = (0,) * len(batch)
    u = slice_(node, (*lead, 0, 0), (*batch, m, k))
    s = reshape(slice_(node, (*lead, m, 0), (*batch, m + 1, k)), (*batch, k))
    v = slice_(node, (*lead, m + 1, 0), (*batch, m + 1 + n, k))
    return u, s, v


def _svd_jvp(node: Node, ts) -> Node | None:
    # JAX's rule (real case): dS = U^T dA V; ds = diag(dS); with F_ij = 1/(s_j^2 - s_i^2) (0 on the diagonal),
    # dU = U (F ∘ (dS S + S dS^T)) + (I - U U^T) dA V / s, dV = V (F ∘ (S dS + dS^T S)) + (I - V V^T) dA^T U / s.
    if ts[0] is None:
        return None
    da = ts[0]
    u, s, v = svd_parts(node)
    m, n = node.args[0].shape[-2:]
    k = s.shape[-1]
    shape = (*s.shape, k)
    s_columns = broadcast_in_dim(s, shape, (*range(s.ndim - 1), s.ndim))  # [i, j] = s_j
    s_rows = broadcast_in_dim(s, shape, (*range(s.ndim - 1), s.ndim - 1))  # [i, j] = s_i
    f = E.where(eye(k), 0.0, E.div(1.0, E.mul(E.add(s_columns, s_rows), E.sub(s_columns, s_rows))))
    ds_matrix = matmul(mT(u), matmul(da, v))
    ds = diagonal(ds_matrix)
    dss = E.mul(ds_matrix, s_columns)  # dS S
    sds = E.mul(s_rows, ds_matrix)  # S dS
    du = matmul(u, E.mul(f, E.add(dss, mT(dss))))
    dv = matmul(v, E.mul(f, E.add(sds, mT(sds))))
    if m > n:
        dav = matmul(da, v)
        du = E.add(du, E.div(E.sub(dav, matmul(u, matmul(mT(u), dav))), s_columns_of(s, m)))
    if n > m:
        dau = matmul(mT(da), u)
        dv = E.add(dv, E.div(E.sub(dau, matmul(v, matmul(mT(v), dau))), s_columns_of(s, n)))
    batch_axis = node.ndim - 2
    return concatenate([du, reshape(ds, (*ds.shape[:-1], 1, k)), dv], batch_axis)


def s_columns_of(s: Node, rows: int) -> Node:
    """s broadcast along `rows` rows: [i, j] = s_j."""
    return broadcast_in_dim(s, (*s.shape[:-1], rows, s.shape[-1]), (*range(s.ndim - 1), s.ndim))


def _svd_impl(node: Node, a):
    a = np.asarray(a)
    out = np.full(node.shape, np.nan)
    for index in _each_matrix(a):
        try:
            u, s, vt = np.linalg.svd(a[index], full_matrices=False)
        except np.linalg.LinAlgError:
            continue
        out[index] = np.concatenate([u, s[None, :], vt.T], axis=0)
    return out


svd_p = Primitive(
    "svd", 1,
    build=lambda param, a: svd(a), impl=_svd_impl, jvp=_svd_jvp, vjp=_transposed, batch=_batched,
)

# ----- eig (real eigenvalues) -----


def eig(a: Node) -> Node:
    """Eigenvalues and right eigenvectors of each matrix whose eigenvalues are real, packed as `[w; V]`
    (as `eigh`); NaN where an eigenvalue is complex. Eigenvectors have norm 1, as NumPy's (LAPACK's)."""
    _check_square("eig", a)
    n = a.shape[-1]
    return _make(eig_p, (a,), None, (*a.shape[:-2], n + 1, n))


def _eig_jvp(node: Node, ts) -> Node | None:
    # With M = V^-1 dA V: dw = diag(M), dV = V (F ∘ M), then the change of each column's norm removed:
    # dV -= V diag(V^T dV) (columns keep norm 1).
    if ts[0] is None:
        return None
    a = node.args[0]
    w, v = eigh_parts(node)
    m = solve(v, matmul(ts[0], v))
    dw = diagonal(m)
    dv = matmul(v, E.mul(_gaps(w), m))
    norms = reduce_sum(E.mul(v, dv), (node.ndim - 2,))
    dv = E.sub(dv, E.mul(v, s_columns_of(norms, a.shape[-1])))
    return concatenate([reshape(dw, (*dw.shape[:-1], 1, dw.shape[-1])), dv], node.ndim - 2)


def _eig_impl(node: Node, a):
    a = np.asarray(a)
    out = np.full(node.shape, np.nan)
    for index in _each_matrix(a):
        try:
            w, v = np.linalg.eig(a[index])
        except np.linalg.LinAlgError:
            continue
        if np.iscomplexobj(w) and np.any(w.imag != 0):
            continue
        out[index] = np.concatenate([np.real(w)[None, :], np.real(v)], axis=0)
    return out


eig_p = Primitive(
    "eig", 1,
    build=lambda param, a: eig(a), impl=_eig_impl, jvp=_eig_jvp, vjp=_transposed, batch=_batched,
)

# ----- Checks -----


def _check_square(name: str, a: Node) -> None:
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise ValueError(f"`{name}` needs square matrices (shape (..., n, n)), got shape {a.shape}")


def _check_rhs(name: str, a: Node, b: Node) -> None:
    if b.ndim != a.ndim or b.shape[:-2] != a.shape[:-2] or b.shape[-2] != a.shape[-1]:
        raise ValueError(f"`{name}`: a right-hand side of shape {b.shape} does not fit matrices of shape {a.shape} "
                         f"(expected {(*a.shape[:-2], a.shape[-1], 'k')})")


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


LINALG = (cholesky_p, triangular_solve_p, solve_p, slogdet_p, eigh_p, svd_p, eig_p)
