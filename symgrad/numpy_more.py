"""More NumPy on traced arrays: rounding, weighted means, differences, products and sorting.

Each function is a composition of array primitives (a few nodes whatever the
size of the array), registered in `symgrad.numpy_api`'s dispatch tables
(`FUNCTIONS`, `UFUNCS`).

Sorting is value-dependent: NumPy's sort moves elements by a permutation
known only at run time, and the graph's gathers have constant positions.
A sorting network has no such dependence: a fixed sequence of
compare-exchange steps (min and max of fixed pairs) sorts any input, so
`np.sort` is traced as Batcher's bitonic network, log2(n)(log2(n)+1)/2
steps of whole-array `minimum`/`maximum` between constant gathers
(O(n log² n) work instead of O(n log n)). Its derivative is the
permutation's: each tangent follows its element, and tied elements share
theirs evenly (as `maximum` does). NaN is not ordered last as NumPy does:
a NaN spreads through the comparisons.
"""

from __future__ import annotations

import builtins
import math
from typing import Any

import numpy as np

from . import primitives as P
from .ir import Node
from .numpy_reductions import kept_dims, mean, normalized_axes, refuse_extras, sum, take_range
from .trace import TracedArray, apply, as_array_node

# ----- Rounding, quotients -----


def round_(x, decimals=0, out=None):
    """`np.round`: half to even, at `decimals` places (as NumPy: scale, round, unscale); derivative 0."""
    refuse_extras("round", out=out)
    node = as_array_node(x)
    decimals = int(decimals)
    if decimals == 0:
        return TracedArray(P.rint(node))
    if decimals > 0:
        scale = 10.0**decimals
        return TracedArray(P.div(P.rint(P.mul(node, scale)), scale))
    scale = 10.0**-decimals
    return TracedArray(P.mul(P.rint(P.div(node, scale)), scale))


def fix(x, out=None):
    refuse_extras("fix", out=out)
    return apply(P.trunc_p, x)


def floor_divide(x, y):
    return TracedArray(P.floor_divide(as_array_node(x), as_array_node(y)))


def divmod_(x, y):
    a, b = as_array_node(x), as_array_node(y)
    return TracedArray(P.floor_divide(a, b)), TracedArray(P.remainder(a, b))


def fmax(x, y):
    """The larger, ignoring a NaN (NumPy's `fmax`)."""
    a, b = as_array_node(x), as_array_node(y)
    return TracedArray(P.where(P.not_equal(a, a), b, P.where(P.not_equal(b, b), a, P.maximum(a, b))))


def fmin(x, y):
    a, b = as_array_node(x), as_array_node(y)
    return TracedArray(P.where(P.not_equal(a, a), b, P.where(P.not_equal(b, b), a, P.minimum(a, b))))


# sin(pi x)/(pi x) = sum_k (-1)^k (pi x)^(2k) / (2k+1)!: used for |pi x| < 1/2, where the quotient (and the
# derivatives of it) lose digits to cancellation; nine terms are exact to rounding there, and every
# derivative of the series at 0 is the true one up to the 16th.
_SINC_SERIES = [(-1) ** k / math.factorial(2 * k + 1) for k in range(9)]


def sinc(x):
    """`np.sinc`: sin(pi x)/(pi x), 1 at 0."""
    node = as_array_node(x)
    u = P.mul(node, math.pi)
    u2 = P.mul(u, u)
    series = P.const(_SINC_SERIES[-1])
    for c in reversed(_SINC_SERIES[:-1]):
        series = P.add(P.mul(series, u2), c)
    near_zero = P.less(P.absolute(u), 0.5)
    return TracedArray(P.where(near_zero, series, P.div(P.sin(u), u)))


def angle(z, deg=False):
    """`np.angle` of a real array: pi for negative values (and -0.0), else 0; derivative 0."""
    node = as_array_node(z)
    result = P.stop_gradient(P.arctan2_p.bind(P.zeros(node.shape) if node.shape else 0.0, node))
    return TracedArray(P.mul(result, 180.0 / math.pi) if deg else result)


# ----- Means -----


def average(a, axis=None, weights=None, returned=False, *, keepdims=False):
    """`np.average`: the mean, or with `weights`, sum(a*w)/sum(w) over `axis`."""
    node = as_array_node(a)
    if weights is None:
        avg = mean(node, axis=axis, keepdims=keepdims)
        axes = normalized_axes(node, axis)
        scale = TracedArray(P.broadcast_to(P.const(float(math.prod(node.shape[k] for k in axes))), avg.shape))
        return (avg, scale) if returned else avg
    w = as_array_node(weights)
    if w.shape != node.shape:
        if axis is None:
            raise TypeError("Axis must be specified when shapes of a and weights differ.")
        axes = normalized_axes(node, axis)
        if w.ndim != len(axes) or w.shape != tuple(node.shape[k] for k in axes):
            raise ValueError("Shape of weights must be consistent with shape of a along specified axis.")
        w = P.broadcast_in_dim(w, node.shape, axes)
    total = sum(w, axis=axis, keepdims=keepdims)
    avg = sum(P.mul(node, w), axis=axis, keepdims=keepdims) / total
    return (avg, TracedArray(P.broadcast_to(total.node, avg.shape))) if returned else avg


# ----- Products and differences along an axis -----


def _axis_of(node: Node, axis) -> tuple[Node, int]:
    if axis is None:
        return P.reshape(node, (node.size,)), 0
    return node, normalized_axes(node, axis)[0]


def cumprod(x, axis=None, dtype=None, out=None):
    """Prefix products in log2(n) steps: multiply by the array shifted by 1, 2, 4, ... places (ones shifted in)."""
    refuse_extras("cumprod", out=out)
    node, axis = _axis_of(as_array_node(x), axis)
    n, shift = node.shape[axis], 1
    while shift < n:
        ones = list(node.shape)
        ones[axis] = shift
        shifted = P.concatenate([P.broadcast_to(P.const(1.0), ones), take_range(node, axis, 0, n - shift)], axis)
        node = P.mul(node, shifted)
        shift *= 2
    return TracedArray(node)


def diff(a, n=1, axis=-1, prepend=np._NoValue, append=np._NoValue):
    node = as_array_node(a)
    if n < 0:
        raise ValueError(f"order must be non-negative but got {n}")
    if node.ndim == 0:
        raise ValueError("diff requires input that is at least one dimensional")
    axis = normalized_axes(node, axis)[0]
    parts = []
    for extra in (prepend, append):
        if extra is np._NoValue:
            parts.append(None)
            continue
        e = as_array_node(extra)
        if e.ndim == 0:
            shape = list(node.shape)
            shape[axis] = 1
            e = P.broadcast_to(e, shape)
        parts.append(e)
    node = P.concatenate([p for p in (parts[0], node, parts[1]) if p is not None], axis)
    for _ in range(n):
        m = node.shape[axis]
        node = P.sub(take_range(node, axis, 1, m), take_range(node, axis, 0, builtins.max(m - 1, 0)))
    return TracedArray(node)


def gradient(f, *varargs, axis=None, edge_order=1):
    """`np.gradient`: second-order central differences inside, one-sided (order 1 or 2) at the edges.

    Spacings may be scalars or coordinate arrays (constants), as in NumPy.
    """
    node = as_array_node(f)
    axes = list(range(node.ndim)) if axis is None else list(normalized_axes(node, axis))
    if not varargs:
        spacings = [1.0] * len(axes)
    elif len(varargs) == 1 and np.ndim(varargs[0]) == 0:
        spacings = [varargs[0]] * len(axes)
    elif len(varargs) == len(axes):
        spacings = list(varargs)
    else:
        raise TypeError("invalid number of arguments")
    if edge_order not in (1, 2):
        raise ValueError("'edge_order' greater than 2 not supported")
    results = [_gradient_along(node, a, h, edge_order) for a, h in zip(axes, spacings)]
    return results[0] if len(results) == 1 else results


def _gradient_along(node: Node, axis: int, spacing, edge_order: int) -> TracedArray:
    n = node.shape[axis]
    if n < edge_order + 1:
        raise ValueError("Shape of array too small to calculate a numerical gradient, "
                         "at least (edge_order + 1) elements are required.")
    h = np.asarray(spacing, dtype=np.float64)
    if h.ndim == 0:
        dx = np.full(n - 1, float(h))
    elif h.shape == (n,):
        dx = np.diff(h)
    else:
        raise ValueError("distances must be either scalars or match the length of the corresponding dimension")
    # The coefficients of NumPy's formulas (uniform spacing is the special case of equal steps).
    dx1, dx2 = dx[:-1], dx[1:]
    a = -dx2 / (dx1 * (dx1 + dx2))
    b = (dx2 - dx1) / (dx1 * dx2)
    c = dx1 / (dx2 * (dx1 + dx2))
    if edge_order == 1:
        first = [(-1.0 / dx[0], 0), (1.0 / dx[0], 1)]
        last = [(-1.0 / dx[-1], n - 2), (1.0 / dx[-1], n - 1)]
    else:
        d1, d2 = dx[0], dx[1]
        first = [(-(2.0 * d1 + d2) / (d1 * (d1 + d2)), 0), ((d1 + d2) / (d1 * d2), 1), (-d1 / (d2 * (d1 + d2)), 2)]
        d1, d2 = dx[-2], dx[-1]
        last = [(d2 / (d1 * (d1 + d2)), n - 3), (-(d2 + d1) / (d1 * d2), n - 2),
                ((2.0 * d2 + d1) / (d2 * (d1 + d2)), n - 1)]
    parts = [_combination(node, axis, first)]
    if n > 2:
        interior = None
        for coefficients, start in ((a, 0), (b, 1), (c, 2)):
            term = P.mul(_along(coefficients, node, axis), take_range(node, axis, start, start + n - 2))
            interior = term if interior is None else P.add(interior, term)
        parts.append(interior)
    parts.append(_combination(node, axis, last))
    return TracedArray(P.concatenate(parts, axis))


def _along(values: np.ndarray, node: Node, axis: int) -> Node:
    """Constant coefficients along `axis`, shaped to broadcast against `node`'s slices (a scalar if all equal)."""
    if np.all(values == values[0]):
        return P.const(float(values[0]))
    shape = [1] * node.ndim
    shape[axis] = values.size
    return P.array_const(values.reshape(shape), "dx")


def _combination(node: Node, axis: int, terms) -> Node:
    total = None
    for coefficient, k in terms:
        term = P.mul(float(coefficient), take_range(node, axis, k, k + 1))
        total = term if total is None else P.add(total, term)
    return total


# ----- Sorting -----


def _bitonic_steps(size: int):
    """The compare-exchange steps sorting `size` (a power of 2) elements ascending: per step, the
    positions receiving the minimum and those receiving the maximum (all comparators ascending)."""
    i = np.arange(size)
    k = 2
    while k <= size:
        j = k // 2
        while j >= 1:
            partner = i ^ (k - 1) if j == k // 2 else i ^ j
            low = i[partner > i]
            yield low, partner[low]
            j //= 2
        k *= 2


def _sorted_last_axis(node: Node) -> Node:
    n = node.shape[-1]
    if n <= 1:
        return node
    last = node.ndim - 1
    size = 1 << (n - 1).bit_length()
    if size > n:  # padded with +inf, which sorts last and is cut off after
        pad_shape = (*node.shape[:-1], size - n)
        node = P.concatenate([node, P.broadcast_to(P.const(math.inf), pad_shape)], last)
    for low, high in _bitonic_steps(size):
        a, b = P.gather(node, low, last), P.gather(node, high, last)
        pairs = P.concatenate([P.minimum(a, b), P.maximum(a, b)], last)
        position = np.empty(size, dtype=np.int64)
        position[low] = np.arange(low.size)
        position[high] = low.size + np.arange(low.size)
        node = P.gather(pairs, position, last)
    return take_range(node, last, 0, n) if size > n else node


def sort(a, axis=-1, kind=None, order=None, *, stable=None):
    """`np.sort` as a sorting network (see the module docstring)."""
    if order is not None:
        raise TypeError("`np.sort(..., order=...)` sorts structured arrays; traced arrays are float arrays")
    node = as_array_node(a)
    if axis is None:
        node, axis = P.reshape(node, (node.size,)), 0
    if node.ndim == 0:
        raise np.exceptions.AxisError(axis, 0)
    axis = normalized_axes(node, axis)[0]
    perm = [k for k in range(node.ndim) if k != axis] + [axis]
    moved = _sorted_last_axis(P.transpose(node, perm))
    return TracedArray(P.transpose(moved, np.argsort(perm)))


def partition(a, kth, axis=-1, kind="introselect", order=None):
    """`np.partition`: the array sorted along `axis`, which is a valid partition for every `kth` (NumPy leaves
    the order within the two sides unspecified; here it is sorted)."""
    node = as_array_node(a)
    size = node.size if axis is None else node.shape[normalized_axes(node, axis)[0]]
    for k in np.atleast_1d(kth):
        if not -size <= int(k) < size:
            raise ValueError(f"kth(={int(k)}) out of bounds ({size})")
    return sort(a, axis=axis, order=order)


def median(a, axis=None, out=None, overwrite_input=False, keepdims=False):
    """`np.median`: the middle element (or the mean of the two middle ones) of the sorted array."""
    refuse_extras("median", out=out)
    node = as_array_node(a)
    axes = normalized_axes(node, axis)
    kept = [k for k in range(node.ndim) if k not in axes]
    rows = [node.shape[k] for k in kept]
    flat = P.reshape(P.transpose(node, kept + list(axes)), [*rows, math.prod(node.shape[k] for k in axes)])
    n = flat.shape[-1]
    if n == 0:
        raise ValueError("median of an empty array")
    ordered = _sorted_last_axis(flat)
    last = ordered.ndim - 1
    middle = take_range(ordered, last, (n - 1) // 2, n // 2 + 1)
    return kept_dims(P.div(P.reduce_sum(middle, (last,)), float(middle.shape[-1])), node, axes, keepdims)


# ----- Diagonals and triangles (one gather or select, not one node per element) -----


def diagonal(a, offset=0, axis1=0, axis2=1):
    node = as_array_node(a)
    positions = np.diagonal(np.arange(node.size).reshape(node.shape), offset, axis1, axis2)
    return TracedArray(P.gather(P.reshape(node, (node.size,)), positions, 0))


def diag(v, k=0):
    node = as_array_node(v)
    if node.ndim == 2:
        return diagonal(node, k)
    if node.ndim != 1:
        raise ValueError("Input must be 1- or 2-d.")
    n = node.shape[0] + abs(k)
    # Row i of the result is v scattered to column i + k: positions in the flat n*n matrix.
    rows = np.arange(node.shape[0]) + max(-k, 0)
    flat = P.scatter_add(node, P.Indices(rows * n + rows + k), 0, n * n)
    return TracedArray(P.reshape(flat, (n, n)))


def _triangle(keep_lower: bool):
    def triangle(m, k=0):
        node = as_array_node(m)
        rows, columns = node.shape[-2:]
        mask = np.tri(rows, columns, k - (0 if keep_lower else 1), dtype=bool)
        mask = mask if keep_lower else ~mask
        return TracedArray(P.where(P.array_const(mask.astype(np.float64), "mask"), node, 0.0))

    return triangle


# ----- Dispatch tables (merged into `numpy_api`'s) -----

FUNCTIONS: dict[Any, Any] = {
    np.round: round_, np.around: round_, np.fix: fix, np.average: average, np.cumprod: cumprod, np.diff: diff,
    np.gradient: gradient, np.sort: sort, np.partition: partition, np.median: median, np.sinc: sinc,
    np.angle: angle, np.i0: lambda x: apply(P.i0_p, x), np.diagonal: diagonal, np.diag: diag,
    np.tril: _triangle(True), np.triu: _triangle(False),
}
UFUNCS: dict[str, Any] = {
    "floor_divide": floor_divide, "divmod": divmod_, "fmax": fmax, "fmin": fmin,
    # SciPy's ufuncs whose names differ from their primitive's
    "expit": lambda x: apply(P.sigmoid_p, x), "erf": lambda x: apply(P.erf_p, x),
    "xlogy": lambda x, y: apply(P.xlogy_p, x, y),
}

__all__ = ["FUNCTIONS", "UFUNCS"]
