"""Spectral decompositions as primitives: `eigh` (symmetric), `svd` (reduced) and `eig` (real
spectra), on stacks of matrices, with their matrix-calculus JVPs (reverse mode transposes them).
See `linalg` for the layout of their outputs and for how they are lowered (LAPACK in loop code; the
scalar lowering has no unrolled form of them).
"""

from __future__ import annotations

import numpy as np

from ..ir import Node
from . import elementwise as E
from .layout import _make, broadcast_in_dim, concatenate, reshape, slice_
from .linalg import solve
from .matrices import batched, check_square, diagonal, eye, from_lower, matmul, mT, quietly, vjp_by_transposing
from .reduce import reduce_sum
from .registry import Primitive

# ----- eigh -----


def eigh(a: Node) -> Node:
    """Eigenvalues (ascending) and eigenvectors of each symmetric matrix (its lower triangle is read), packed as
    `[w; V]`, shape (..., n+1, n): row 0 holds w, rows 1.. the matrix V whose columns are the eigenvectors."""
    check_square("eigh", a)
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
    def one(m):
        w, v = np.linalg.eigh(m)
        return np.concatenate([w[None, :], v], axis=0)

    return quietly(one, np.asarray(a), shape=node.shape)


eigh_p = Primitive(
    "eigh", 1,
    build=lambda param, a: eigh(a), impl=_eigh_impl, jvp=_eigh_jvp, vjp=vjp_by_transposing, batch=batched,
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
    def one(m):
        u, s, vt = np.linalg.svd(m, full_matrices=False)
        return np.concatenate([u, s[None, :], vt.T], axis=0)

    return quietly(one, np.asarray(a), shape=node.shape)


svd_p = Primitive(
    "svd", 1,
    build=lambda param, a: svd(a), impl=_svd_impl, jvp=_svd_jvp, vjp=vjp_by_transposing, batch=batched,
)

# ----- eig (real eigenvalues) -----


def eig(a: Node) -> Node:
    """Eigenvalues and right eigenvectors of each matrix whose eigenvalues are real, packed as `[w; V]`
    (as `eigh`); NaN where an eigenvalue is complex. Eigenvectors have norm 1, as NumPy's (LAPACK's)."""
    check_square("eig", a)
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
    def one(m):
        w, v = np.linalg.eig(m)
        if np.iscomplexobj(w) and np.any(w.imag != 0):
            return np.nan  # a complex spectrum
        return np.concatenate([np.real(w)[None, :], np.real(v)], axis=0)

    return quietly(one, np.asarray(a), shape=node.shape)


eig_p = Primitive(
    "eig", 1,
    build=lambda param, a: eig(a), impl=_eig_impl, jvp=_eig_jvp, vjp=vjp_by_transposing, batch=batched,
)


DECOMPOSITIONS = (eigh_p, svd_p, eig_p)
