"""`np.linalg` on traced arrays (also `symgrad.linalg`): the NumPy functions, with NumPy's conventions.

Built on the primitives of `symgrad.primitives.linalg` (Cholesky, triangular
and LU solves, slogdet, eigh, svd, eig) and compositions of them: `inv` is a
solve against the identity, `det` is sign * exp(log|det|) (its derivative
det * A^-T, through a solve), `pinv` and the spectral norms go through the
SVD. Stacks of matrices (leading axes) work as in NumPy. Called on NumPy
arrays (no traced value), each function is NumPy's.

Not traced, with an error saying so: `lstsq`, `qr`, `matrix_rank`, `cond`,
`tensorsolve`, `tensorinv`, `svd(..., full_matrices=True)` of a non-square
matrix (its extra singular vectors are not determined, so neither is their
derivative), and `eig` of a matrix with complex eigenvalues (NaN results).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from . import primitives as P
from .ir import Node
from .primitives import linalg as L
from .primitives import spectral as S
from .trace import TracedArray, as_array_node, is_traced

__all__ = ["cholesky", "det", "eig", "eigh", "eigvals", "eigvalsh", "inv", "matrix_power", "multi_dot", "norm",
           "pinv", "slogdet", "solve", "svd", "svdvals"]


def _numpy_when_concrete(function):
    """Outside a trace (no traced argument), the function is NumPy's."""
    numpy_function = getattr(np.linalg, function.__name__)

    @functools.wraps(function)
    def dispatch(*args, **kwargs):
        if not is_traced(args) and not is_traced(kwargs):
            return numpy_function(*args, **kwargs)
        return function(*args, **kwargs)

    return dispatch


def _result(name: str, *fields):
    found = getattr(getattr(np.linalg, "_linalg", None), name, None)
    return found(*fields) if found is not None else tuple(fields)


def _broadcast_stacks(a: Node, b: Node) -> tuple[Node, Node]:
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    return P.broadcast_to(a, (*batch, *a.shape[-2:])), P.broadcast_to(b, (*batch, *b.shape[-2:]))


@_numpy_when_concrete
def cholesky(a, /, *, upper=False):
    node = L.cholesky(as_array_node(a))
    return TracedArray(L.mT(node) if upper else node)


@_numpy_when_concrete
def solve(a, b):
    a, b = as_array_node(a), as_array_node(b)
    if b.ndim == 1:  # NumPy 2: a 1-d b is one vector
        a, column = _broadcast_stacks(a, P.reshape(b, (b.shape[0], 1)))
        x = L.solve(a, column)
        return TracedArray(P.reshape(x, x.shape[:-1]))
    a, b = _broadcast_stacks(a, b)
    return TracedArray(L.solve(a, b))


def _identity_like(a: Node) -> Node:
    return P.broadcast_to(L.eye(a.shape[-1]), a.shape)


@_numpy_when_concrete
def inv(a):
    a = as_array_node(a)
    return TracedArray(L.solve(a, _identity_like(a)))


def _slogdet_parts(a: Node) -> tuple[Node, Node]:
    packed = L.slogdet(a)
    batch = packed.shape[:-1]
    lead = (0,) * len(batch)
    sign = P.reshape(P.slice_(packed, (*lead, 0), (*batch, 1)), batch)
    return sign, P.reshape(P.slice_(packed, (*lead, 1), (*batch, 2)), batch)


@_numpy_when_concrete
def slogdet(a):
    sign, logabsdet = _slogdet_parts(as_array_node(a))
    return _result("SlogdetResult", TracedArray(sign), TracedArray(logabsdet))


@_numpy_when_concrete
def det(a):
    sign, logabsdet = _slogdet_parts(as_array_node(a))
    return TracedArray(P.mul(sign, P.exp(logabsdet)))


def _lower_of(a: Node, uplo: str) -> Node:
    if uplo not in ("L", "U"):
        raise ValueError(f"UPLO argument must be 'L' or 'U', got {uplo!r}")
    return a if uplo == "L" else L.mT(a)  # the upper triangle of A is the lower one of A^T


@_numpy_when_concrete
def eigh(a, UPLO="L"):  # noqa: N803  (NumPy's name)
    w, v = S.eigh_parts(S.eigh(_lower_of(as_array_node(a), UPLO)))
    return _result("EighResult", TracedArray(w), TracedArray(v))


@_numpy_when_concrete
def eigvalsh(a, UPLO="L"):  # noqa: N803
    return TracedArray(S.eigh_parts(S.eigh(_lower_of(as_array_node(a), UPLO)))[0])


@_numpy_when_concrete
def eig(a):
    w, v = S.eigh_parts(S.eig(as_array_node(a)))
    return _result("EigResult", TracedArray(w), TracedArray(v))


@_numpy_when_concrete
def eigvals(a):
    return TracedArray(S.eigh_parts(S.eig(as_array_node(a)))[0])


@_numpy_when_concrete
def svd(a, full_matrices=True, compute_uv=True, hermitian=False):
    node = as_array_node(a)
    if node.ndim < 2:
        raise np.linalg.LinAlgError(f"{node.ndim}-dimensional array given. Array must be at least two-dimensional")
    u, s, v = S.svd_parts(S.svd(node))
    if not compute_uv:
        return TracedArray(s)
    m, n = node.shape[-2:]
    if full_matrices and m != n:
        raise TypeError(
            f"`np.linalg.svd` with full_matrices=True of a {m}x{n} matrix is not supported by symgrad on traced "
            "arrays (its extra singular vectors are not determined by the matrix, nor is their derivative); "
            "use `full_matrices=False` instead.")
    return _result("SVDResult", TracedArray(u), TracedArray(s), TracedArray(L.mT(v)))


@_numpy_when_concrete
def svdvals(x, /):
    return TracedArray(S.svd_parts(S.svd(as_array_node(x)))[1])


@_numpy_when_concrete
def pinv(a, rcond=None, hermitian=False, *, rtol=np._NoValue):
    node = as_array_node(a)
    u, s, v = S.svd_parts(S.svd(node))
    m, n = node.shape[-2:]
    if rcond is None:
        rcond = max(m, n) * np.finfo(np.float64).eps if rtol is np._NoValue or rtol is None else rtol
    rcond = float(rcond)
    largest = P.reduce_max(s, (s.ndim - 1,)) if s.shape[-1] else P.const(0.0)
    cutoff = P.broadcast_in_dim(P.mul(largest, rcond), s.shape, tuple(range(s.ndim - 1)))
    inverse = P.where(P.greater(s, cutoff), P.div(1.0, s), 0.0)
    scaled = P.mul(v, S.s_columns_of(inverse, v.shape[-2]))
    return TracedArray(L.matmul(scaled, L.mT(u)))


@_numpy_when_concrete
def matrix_power(a, n):
    node = as_array_node(a)
    n = int(n)
    if n < 0:
        node, n = L.solve(node, _identity_like(node)), -n
    result, square = None, node
    while n:
        if n & 1:
            result = square if result is None else L.matmul(result, square)
        n >>= 1
        if n:
            square = L.matmul(square, square)
    return TracedArray(result if result is not None else _identity_like(node))


@_numpy_when_concrete
def multi_dot(arrays, *, out=None):
    nodes = [as_array_node(x) for x in arrays]
    first, last = nodes[0].ndim == 1, nodes[-1].ndim == 1
    nodes = [P.reshape(nodes[0], (1, nodes[0].size))] + nodes[1:] if first else nodes
    nodes = nodes[:-1] + [P.reshape(nodes[-1], (nodes[-1].size, 1))] if last else nodes
    result = functools.reduce(L.matmul, nodes)
    shape = result.shape[int(first):result.ndim - int(last)]
    return TracedArray(P.reshape(result, shape))


# ----- norms -----


def _vector_norm(x: Node, ord, axes: tuple[int, ...]) -> Node:
    if ord is None or ord == 2:
        return P.sqrt(P.reduce_sum(P.mul(x, x), axes))
    magnitude = P.absolute(x)
    if ord == math.inf:
        return P.reduce_max(magnitude, axes)
    if ord == -math.inf:
        return P.reduce_min(magnitude, axes)
    if ord == 0:
        return P.reduce_sum(P.not_equal(x, 0.0), axes)
    if ord == 1:
        return P.reduce_sum(magnitude, axes)
    if isinstance(ord, str):
        raise ValueError(f"Invalid norm order '{ord}' for vectors")
    p = float(ord)
    return P.power(P.reduce_sum(P.power(magnitude, p), axes), 1.0 / p)


def _matrix_norm(x: Node, ord, axes: tuple[int, int]) -> Node:
    rows, columns = axes
    if ord in (None, "fro", "f"):
        return P.sqrt(P.reduce_sum(P.mul(x, x), axes))
    if ord in (1, -1, math.inf, -math.inf):
        # 1: the largest column sum of |x| (summed over rows); inf: the largest row sum.
        summed, kept = (columns, rows) if ord in (math.inf, -math.inf) else (rows, columns)
        sums = P.reduce_sum(P.absolute(x), (summed,))
        return (P.reduce_max if ord in (1, math.inf) else P.reduce_min)(sums, (kept - (summed < kept),))
    if ord in (2, -2, "nuc"):
        # The singular values of the matrices, moved to the last two axes.
        others = [k for k in range(x.ndim) if k not in axes]
        moved = P.transpose(x, (*others, rows, columns))
        _, s, _ = S.svd_parts(S.svd(moved))
        last = s.ndim - 1
        if ord == "nuc":
            return P.reduce_sum(s, (last,))
        return (P.reduce_max if ord == 2 else P.reduce_min)(s, (last,))
    raise ValueError(f"Invalid norm order {ord!r} for matrices")


@_numpy_when_concrete
def norm(x, ord=None, axis=None, keepdims=False):
    node = as_array_node(x)
    if axis is None:
        if ord is None:
            axes: tuple[int, ...] = tuple(range(node.ndim))
            result = _vector_norm(P.reshape(node, (node.size,)), None, (0,))
        elif node.ndim == 1:
            axes, result = (0,), _vector_norm(node, ord, (0,))
        elif node.ndim == 2:
            axes, result = (0, 1), _matrix_norm(node, ord, (0, 1))
        else:
            raise ValueError("Improper number of dimensions to norm.")
    else:
        axes = tuple(a % node.ndim for a in ((axis,) if isinstance(axis, int) else axis))
        if len(axes) == 1:
            result = _vector_norm(node, ord, axes)
        elif len(axes) == 2:
            result = _matrix_norm(node, ord, axes)  # type: ignore[arg-type]
        else:
            raise ValueError("Improper number of dimensions to norm.")
    if keepdims:
        result = P.reshape(result, [1 if k in axes else n for k, n in enumerate(node.shape)])
    return TracedArray(result)


# ----- refusals, and the dispatch table merged into `numpy_api`'s -----

_NOT_TRACED = {
    "lstsq": "use `np.linalg.pinv(a) @ b` or `np.linalg.solve(a.T @ a, a.T @ b)` instead",
    "qr": "use `np.linalg.cholesky` of `a.T @ a` (R is its transpose) or `np.linalg.svd` instead",
    "matrix_rank": "its result is an integer that depends on the values; count singular values above a threshold "
                   "outside the traced function instead",
    "cond": "use `np.linalg.svd(a, compute_uv=False)` and divide the largest singular value by the smallest",
    "tensorsolve": "reshape to a matrix and use `np.linalg.solve` instead",
    "tensorinv": "reshape to a matrix and use `np.linalg.inv` instead",
}


def _refuse(name: str):
    def refused(*args, **kwargs):
        raise TypeError(f"`np.linalg.{name}` is not supported by symgrad on traced arrays ({_NOT_TRACED[name]}).")

    return refused


FUNCTIONS: dict[Any, Any] = {getattr(np.linalg, name): globals()[name] for name in __all__
                             if hasattr(np.linalg, name)}
FUNCTIONS.update({getattr(np.linalg, name): _refuse(name) for name in _NOT_TRACED if hasattr(np.linalg, name)})
