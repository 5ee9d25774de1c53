"""Matrix helpers of the linear algebra primitives (`linalg`, `spectral`): transposes and products of
stacks of matrices, identities, triangles and diagonals as array expressions; the reverse rule by
transposing a JVP; reference evaluation one matrix at a time; and the checks of operand shapes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..ir import Node
from . import elementwise as E
from .layout import broadcast_to, gather, reshape, transpose
from .reduce import LABELS, array_const, dot_general

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


def from_lower(x: Node) -> Node:
    """The symmetric matrix whose lower triangle is that of `x` (what NumPy's cholesky and eigh read)."""
    return E.add(tril(x), mT(tril(x, -1)))


def vjp_by_transposing(ct: Node, node: Node, i: int) -> Node | None:
    """The VJP of operand i as the transpose of the JVP (reverse mode through the JVP, linear in its tangent)."""
    from ..diff.reverse import vjp
    from .registry import symbol

    t = symbol(f"_tangent_{node.op.name}_{i}", -3, node.args[i].shape)
    out = node.op.jvp(node, [t if k == i else None for k in range(len(node.args))])
    if out is None:
        return None
    return vjp([out], [ct], [t])[0]


def batched(node: Node, args: Sequence[Node], batched: Sequence[bool]) -> Node:
    size = next(a.shape[0] for a, b in zip(args, batched) if b)
    args = [a if b else broadcast_to(a, (size, *a.shape)) for a, b in zip(args, batched)]
    return node.op.build(node.param, *args)


def object_array(shape) -> np.ndarray:
    return np.empty(shape, dtype=object)


def each_matrix(*arrays: np.ndarray):
    """The index of each matrix of the stacks (their common leading axes)."""
    return np.ndindex(*arrays[0].shape[:-2])


def quietly(function, *arrays: np.ndarray, shape) -> np.ndarray:
    """`function` of each matrix of the stacks (NaN where NumPy raises LinAlgError)."""
    out = np.empty(shape)
    for index in each_matrix(*arrays):
        try:
            out[index] = function(*(a[index] for a in arrays))
        except np.linalg.LinAlgError:
            out[index] = np.nan
    return out


# ----- Checks -----


def check_square(name: str, a: Node) -> None:
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise ValueError(f"`{name}` needs square matrices (shape (..., n, n)), got shape {a.shape}")


def check_rhs(name: str, a: Node, b: Node) -> None:
    if b.ndim != a.ndim or b.shape[:-2] != a.shape[:-2] or b.shape[-2] != a.shape[-1]:
        raise ValueError(f"`{name}`: a right-hand side of shape {b.shape} does not fit matrices of shape {a.shape} "
                         f"(expected {(*a.shape[:-2], a.shape[-1], 'k')})")
